import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksumAdjust,
  internetChecksum,
  onesSum,
  pseudoHeaderSum,
} from '../../../src/wire/checksum.ts';
import { hex, PING } from './known-packets.ts';

/** The textbook definition, word by word with end-around carry (RFC 1071 §4.1). */
function reference(b: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < b.length; i += 2) {
    sum += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 worked example', () => {
    // 00 01 f2 03 f4 f5 f6 f7: the sum is ddf2, the checksum its complement 220d.
    const b = hex('0001f203f4f5f6f7');
    expect(onesSum(b)).toBe(0xddf2);
    expect(internetChecksum(b)).toBe(0x220d);
  });

  it('verifies a real IPv4 header to 0xffff', () => {
    expect(onesSum(PING, 0, 20)).toBe(0xffff);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(hex('01'))).toBe(~0x0100 & 0xffff);
    expect(internetChecksum(hex('0102ff'))).toBe(reference(hex('0102ff')));
  });

  it('sums an empty range to the initial value', () => {
    expect(onesSum(new Uint8Array(0), 0, 0, 0x1234)).toBe(0x1234);
  });

  it('folds a wide initial sum exactly, up to 2^53 (end-around carry: 2^16 ≡ 1 mod 0xffff)', () => {
    // 2^50 = (2^16)^3 · 4 ≡ 4; 2^53 - 1 ≡ 2^5 - 1 = 31 (2^48 ≡ 1).
    expect(onesSum(new Uint8Array(0), 0, 0, 2 ** 50)).toBe(4);
    expect(onesSum(new Uint8Array(0), 0, 0, 2 ** 53 - 1)).toBe(31);
    expect(onesSum(new Uint8Array(0), 0, 0, 2 ** 40 + 7)).toBe(263); // 2^32 ≡ 1
  });

  it('agrees with the reference at any offset, length and byteOffset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(7),
        fc.nat(0xffff),
        (bytes, shift, init) => {
          // Place the data at an arbitrary byteOffset inside a larger buffer.
          const backing = new Uint8Array(bytes.length + shift + 3).fill(0xee);
          backing.set(bytes, shift);
          const view = backing.subarray(shift, shift + bytes.length);
          expect(internetChecksum(view, 0, view.length, init)).toBe(reference(bytes, init));
          const mid = bytes.length >> 1;
          expect(internetChecksum(backing, shift + mid, shift + bytes.length)).toBe(
            reference(bytes.subarray(mid)),
          );
        },
      ),
    );
  });

  it('agrees with the reference on long random buffers at every alignment (word path)', () => {
    const backing = new Uint8Array(65_540);
    let x = 12345;
    for (let i = 0; i < backing.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      backing[i] = x >>> 24;
    }
    for (let off = 0; off < 4; off++) {
      for (const len of [128, 129, 1460, 1461, 65_535]) {
        const view = backing.subarray(off, off + len);
        expect(internetChecksum(view), `offset ${off}, length ${len}`).toBe(reference(view));
        expect(internetChecksum(backing, off, off + len, 0xbeef)).toBe(reference(view, 0xbeef));
      }
    }
  });

  it('handles a 64 KiB buffer of 0xff without overflow', () => {
    const b = new Uint8Array(65_536).fill(0xff);
    expect(onesSum(b)).toBe(0xffff);
    expect(internetChecksum(b)).toBe(reference(b));
  });

  it('pseudo-header sum adds addresses, protocol and length', () => {
    const sum = pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 40);
    expect(sum).toBe(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 40);
    expect(pseudoHeaderSum(0xffffffff, 0xffffffff, 0xff, 0xffff)).toBe(
      reference(hex('ffffffffffffffff00ffffff')) ^ 0xffff,
    );
  });

  it('incremental update (RFC 1624) equals a full recomputation', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 64 }).filter((b) => b.length % 2 === 0),
        fc.nat(),
        fc.nat(0xffff),
        (bytes, at, word) => {
          const i = (at % (bytes.length / 2)) * 2;
          const old = internetChecksum(bytes);
          const oldWord = (bytes[i] << 8) | bytes[i + 1];
          bytes[i] = word >>> 8;
          bytes[i + 1] = word & 0xff;
          const adjusted = checksumAdjust(old, oldWord, word);
          // Both are valid representations; RFC 1624 §3 only differs from a recompute in the
          // +0/-0 case, where eqn. 3 never yields 0xffff from a non-zero sum.
          const full = internetChecksum(bytes);
          expect(adjusted === full || (adjusted ^ full) === 0xffff).toBe(true);
          expect(onesSum(bytes, 0, bytes.length, adjusted)).toBe(0xffff);
        },
      ),
    );
  });

  it('turns an echo request into a reply by adjusting one word', () => {
    const icmp = PING.slice(20);
    const before = (icmp[2] << 8) | icmp[3];
    icmp[0] = 0; // type 8 → 0
    const after = checksumAdjust(before, 0x0800, 0x0000);
    icmp[2] = after >>> 8;
    icmp[3] = after & 0xff;
    expect(onesSum(icmp)).toBe(0xffff);
  });
});
