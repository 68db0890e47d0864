import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitUdp, type UdpRepr, UdpView, udpLen } from '../../../src/wire/udp.ts';
import { A, a5, B, UDP } from './known-packets.ts';

const DGRAM = UDP.subarray(20);

function view(b: Uint8Array, src = A, dst = B): UdpView {
  const v = UdpView.check(b, src, dst);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

function reason(b: Uint8Array, src = A, dst = B): string | null {
  const v = UdpView.check(b, src, dst);
  return v instanceof ParseError ? v.reason : null;
}

describe('UdpView: known bytes', () => {
  it('reads every field of a real datagram', () => {
    const v = view(DGRAM);
    expect(v.srcPort).toBe(50514);
    expect(v.dstPort).toBe(7);
    expect(v.length).toBe(14);
    expect(v.checksum).toBe(0xe299);
    expect(Buffer.from(v.payload).toString()).toBe('hello\n');
  });

  it('accepts a zero checksum as none (RFC 768)', () => {
    const b = DGRAM.slice();
    b[6] = 0;
    b[7] = 0;
    b[9] ^= 0xff; // corrupt the data: nothing checks it
    expect(reason(b)).toBe(null);
  });

  it('ignores bytes past the Length field', () => {
    const b = new Uint8Array(DGRAM.length + 5);
    b.set(DGRAM);
    expect(view(b).payload.length).toBe(6);
  });
});

describe('UdpView: emit', () => {
  it('writes the datagram byte for byte', () => {
    const repr: UdpRepr = { srcPort: 50514, dstPort: 7, payload: Buffer.from('hello\n') };
    const out = a5(udpLen(repr));
    expect(emitUdp(out, repr, A, B)).toBe(14);
    expect(Buffer.from(out).equals(Buffer.from(DGRAM))).toBe(true);
  });

  it('leaves a payload built in place untouched and checksums it', () => {
    const out = a5(8 + 4);
    out.set([1, 2, 3, 4], 8);
    emitUdp(out, { srcPort: 1, dstPort: 2, payload: out.subarray(8) }, A, B);
    expect(Array.from(out.subarray(8))).toEqual([1, 2, 3, 4]);
    expect(view(out).payload).toEqual(new Uint8Array([1, 2, 3, 4]));
  });

  it('sends a computed zero as 0xffff', () => {
    // Find a payload whose checksum computes to zero: the 16-bit word that makes the sum 0xffff.
    const out = new Uint8Array(10);
    emitUdp(out, { srcPort: 0, dstPort: 0, payload: new Uint8Array(2) }, 0, 0);
    // With a zero payload the sum is ~checksum; choose the payload word = checksum - 0 and redo.
    const word = (out[6] << 8) | out[7];
    const payload = new Uint8Array([word >>> 8, word & 0xff]);
    emitUdp(out, { srcPort: 0, dstPort: 0, payload }, 0, 0);
    expect((out[6] << 8) | out[7]).toBe(0xffff);
    expect(reason(out, 0, 0)).toBe(null);
  });
});

describe('UdpView: bad input', () => {
  it('rejects fewer than 8 bytes', () => {
    for (let n = 0; n < 8; n++) expect(reason(DGRAM.subarray(0, n))).toBe('truncated');
  });

  it('rejects a Length beyond the buffer or below 8', () => {
    const long = DGRAM.slice();
    long[5] = 15;
    expect(reason(long)).toBe('bad-length');
    const short = DGRAM.slice();
    short[5] = 7;
    expect(reason(short)).toBe('bad-length');
  });

  it('rejects a bad checksum, including one for the wrong addresses', () => {
    const b = DGRAM.slice();
    b[13] ^= 1;
    expect(reason(b)).toBe('bad-checksum');
    expect(reason(DGRAM, A, A)).toBe('bad-checksum');
  });
});

describe('UdpView: round trip', () => {
  it('emit then check gives back the record', () => {
    fc.assert(
      fc.property(
        fc.record({
          srcPort: fc.nat(0xffff),
          dstPort: fc.nat(0xffff),
          payload: fc.uint8Array({ maxLength: 300 }),
        }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        (repr, src, dst) => {
          const out = a5(udpLen(repr));
          emitUdp(out, repr, src, dst);
          expect(view(out, src, dst).toRepr()).toEqual(repr);
        },
      ),
    );
  });
});
