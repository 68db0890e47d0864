import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { onesSum, pseudoHeaderSum6 } from '../../../src/wire/checksum.ts';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  Icmpv6View,
  icmpv6Len,
  isIcmpv6Error,
  isMldType,
  isNdType,
} from '../../../src/wire/icmpv6.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { a5 } from './known-packets.ts';
import { LOOPBACK6, PING6 } from './known-packets6.ts';

const ICMP6 = PING6.subarray(40);

function view(b: Uint8Array, src = LOOPBACK6, dst = LOOPBACK6): Icmpv6View {
  const v = Icmpv6View.check(b, src, dst);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

describe('pseudoHeaderSum6', () => {
  it('sums the 40-byte pseudo-header of RFC 8200 §8.1 as laid out in bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(255),
        fc.nat(0xfffff),
        (src, dst, next, len) => {
          const ph = new Uint8Array(40);
          ph.set(src, 0);
          ph.set(dst, 16);
          new DataView(ph.buffer).setUint32(32, len);
          ph[39] = next;
          expect(pseudoHeaderSum6(src, dst, next, len)).toBe(onesSum(ph));
        },
      ),
    );
  });
});

describe('Icmpv6View: known bytes', () => {
  it("verifies and reads a Linux echo request's every field", () => {
    const v = view(ICMP6);
    expect(v.type).toBe(128);
    expect(v.code).toBe(0);
    expect(v.checksum).toBe(0xa692);
    expect(v.ident).toBe(18025);
    expect(v.seqNo).toBe(1);
    expect(v.data.length).toBe(16);
    expect(v.toRepr()).toEqual({
      kind: 'echo-request',
      ident: 18025,
      seqNo: 1,
      data: ICMP6.subarray(8),
    });
  });

  it('refuses a wrong checksum: a changed byte, or other addresses in the pseudo-header', () => {
    const b = ICMP6.slice();
    b[10] ^= 1;
    expect(Icmpv6View.check(b, LOOPBACK6, LOOPBACK6)).toBe(ParseError.of('bad-checksum'));
    expect(Icmpv6View.check(ICMP6, parseIpv6('fd00::1'), LOOPBACK6)).toBe(
      ParseError.of('bad-checksum'),
    );
    // The link vouched for it: not verified.
    expect(Icmpv6View.check(b, LOOPBACK6, LOOPBACK6, false)).toBeInstanceOf(Icmpv6View);
  });

  it('refuses fewer than 8 bytes', () => {
    expect(Icmpv6View.check(ICMP6.subarray(0, 7), LOOPBACK6, LOOPBACK6)).toBe(
      ParseError.of('truncated'),
    );
  });
});

describe('emitIcmpv6', () => {
  it('writes the echo request byte for byte, checksum included', () => {
    const repr: Icmpv6Repr = {
      kind: 'echo-request',
      ident: 18025,
      seqNo: 1,
      data: ICMP6.subarray(8),
    };
    const out = a5(icmpv6Len(repr));
    expect(emitIcmpv6(out, repr, LOOPBACK6, LOOPBACK6)).toBe(24);
    expect(Buffer.from(out).equals(Buffer.from(ICMP6))).toBe(true);
  });

  it('writes a Parameter Problem with its pointer, a Packet Too Big with its MTU', () => {
    const src = parseIpv6('fd00::2');
    const dst = parseIpv6('fd00::1');
    const pp = a5(8 + 40);
    emitIcmpv6(
      pp,
      { kind: 'parameter-problem', code: 1, pointer: 6, data: PING6.subarray(0, 40) },
      src,
      dst,
    );
    expect([...pp.subarray(0, 2)]).toEqual([4, 1]);
    expect([...pp.subarray(4, 8)]).toEqual([0, 0, 0, 6]);
    expect(view(pp, src, dst).toRepr()).toEqual({
      kind: 'parameter-problem',
      code: 1,
      pointer: 6,
      data: PING6.subarray(0, 40),
    });
    const ptb = a5(8);
    emitIcmpv6(ptb, { kind: 'packet-too-big', mtu: 1280, data: new Uint8Array(0) }, src, dst);
    expect(view(ptb, src, dst).rest).toBe(1280);
  });

  it('round-trips every kind', () => {
    const data = fc.uint8Array({ maxLength: 64 });
    const repr: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
      fc.record({
        kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const),
        ident: fc.nat(0xffff),
        seqNo: fc.nat(0xffff),
        data,
      }),
      fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.nat(255), data }),
      fc.record({
        kind: fc.constant('packet-too-big' as const),
        mtu: fc.nat({ max: 0xffffffff }),
        data,
      }),
      fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.nat(255), data }),
      fc.record({
        kind: fc.constant('parameter-problem' as const),
        code: fc.nat(255),
        pointer: fc.nat({ max: 0xffffffff }),
        data,
      }),
      fc.record({
        kind: fc.constant('other' as const),
        type: fc.integer({ min: 130, max: 255 }),
        code: fc.nat(255),
        rest: fc.nat({ max: 0xffffffff }),
        data,
      }),
    );
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(repr, addr, addr, (r, src, dst) => {
        const buf = a5(icmpv6Len(r));
        emitIcmpv6(buf, r, src, dst);
        expect(view(buf, src, dst).toRepr()).toEqual(r);
      }),
    );
  });
});

describe('ICMPv6 types', () => {
  it('tells errors, Neighbor Discovery and MLD apart', () => {
    expect([1, 2, 3, 4, 127].every(isIcmpv6Error)).toBe(true);
    expect([128, 129, 133, 143].some(isIcmpv6Error)).toBe(false);
    expect([133, 134, 135, 136, 137].every(isNdType)).toBe(true);
    expect([132, 138, 143].some(isNdType)).toBe(false);
    expect([130, 131, 132, 143].every(isMldType)).toBe(true);
    expect([129, 133, 142].some(isMldType)).toBe(false);
  });
});
