import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitIcmp,
  type IcmpRepr,
  IcmpType,
  IcmpView,
  icmpLen,
  isIcmpQuery,
  UnreachCode,
  writeEchoReply,
} from '../../../src/wire/icmp.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { a5, PING, UDP } from './known-packets.ts';

const ICMP = PING.subarray(20);

function view(b: Uint8Array): IcmpView {
  const v = IcmpView.check(b);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

describe('IcmpView: known bytes', () => {
  it('reads every field of a Linux echo request', () => {
    const v = view(ICMP);
    expect(v.type).toBe(8);
    expect(v.code).toBe(0);
    expect(v.checksum).toBe(0x86ad);
    expect(v.ident).toBe(0x1c46);
    expect(v.seqNo).toBe(1);
    expect(v.rest).toBe(0x1c460001);
    expect(v.data.length).toBe(56);
    expect(v.data[16]).toBe(0x10);
    expect(v.data[55]).toBe(0x37);
    expect(v.toRepr()).toEqual({
      kind: 'echo-request',
      ident: 0x1c46,
      seqNo: 1,
      data: ICMP.subarray(8),
    });
  });
});

describe('IcmpView: emit', () => {
  it('writes the echo request byte for byte', () => {
    const repr: IcmpRepr = {
      kind: 'echo-request',
      ident: 0x1c46,
      seqNo: 1,
      data: ICMP.subarray(8),
    };
    const out = a5(icmpLen(repr));
    expect(emitIcmp(out, repr)).toBe(64);
    expect(Buffer.from(out).equals(Buffer.from(ICMP))).toBe(true);
  });

  it('writes a port unreachable quoting the original header and 8 bytes', () => {
    const quoted = UDP.subarray(0, 28);
    const repr: IcmpRepr = {
      kind: 'dest-unreachable',
      code: UnreachCode.Port,
      nextHopMtu: 0,
      data: quoted,
    };
    const out = a5(icmpLen(repr));
    emitIcmp(out, repr);
    expect(Array.from(out.subarray(0, 8))).toEqual([3, 3, out[2], out[3], 0, 0, 0, 0]);
    const v = view(out);
    expect(v.toRepr()).toEqual(repr);
  });

  it('writes the next-hop MTU of a fragmentation-needed message', () => {
    const repr: IcmpRepr = {
      kind: 'dest-unreachable',
      code: UnreachCode.FragNeeded,
      nextHopMtu: 1400,
      data: UDP.subarray(0, 28),
    };
    const out = a5(icmpLen(repr));
    emitIcmp(out, repr);
    expect(view(out).nextHopMtu).toBe(1400);
  });
});

describe('IcmpView: bad input', () => {
  it('rejects fewer than 8 bytes', () => {
    for (let n = 0; n < 8; n++)
      expect((IcmpView.check(ICMP.subarray(0, n)) as ParseError).reason).toBe('truncated');
  });

  it('rejects a corrupted message anywhere', () => {
    for (const at of [0, 3, 5, 30, 63]) {
      const b = ICMP.slice();
      b[at] ^= 0x40;
      expect((IcmpView.check(b) as ParseError).reason).toBe('bad-checksum');
    }
  });
});

describe('IcmpView: round trip', () => {
  const data = fc.uint8Array({ maxLength: 100 });
  const arb: fc.Arbitrary<IcmpRepr> = fc.oneof(
    fc.record({
      kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const),
      ident: fc.nat(0xffff),
      seqNo: fc.nat(0xffff),
      data,
    }),
    fc.record({
      kind: fc.constant('dest-unreachable' as const),
      code: fc.constantFrom(0, 1, 2, 3),
      nextHopMtu: fc.constant(0),
      data,
    }),
    fc.record({
      kind: fc.constant('dest-unreachable' as const),
      code: fc.constant(4),
      nextHopMtu: fc.nat(0xffff),
      data,
    }),
    fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.nat(1), data }),
    fc.record({
      kind: fc.constant('other' as const),
      type: fc.constantFrom(13, 14, 42),
      code: fc.nat(255),
      rest: fc.nat({ max: 0xffffffff }),
      data,
    }),
  );
  it('emit then check gives back the record', () => {
    fc.assert(
      fc.property(arb, (repr) => {
        const out = a5(icmpLen(repr));
        emitIcmp(out, repr);
        expect(view(out).toRepr()).toEqual(repr);
      }),
    );
  });
});

it('classifies queries and errors (RFC 1122 §3.2.2)', () => {
  expect([0, 8, 13, 14, 17].every(isIcmpQuery)).toBe(true);
  expect([3, 4, 5, 11, 12, 42].some(isIcmpQuery)).toBe(false);
});

describe('writeEchoReply', () => {
  it('the reply to any request: same ident, seqNo and data, a checksum that verifies', () => {
    fc.assert(
      fc.property(
        fc.nat(0xffff),
        fc.nat(0xffff),
        fc.uint8Array({ maxLength: 200 }),
        (id, sq, d) => {
          const req = new Uint8Array(
            icmpLen({ kind: 'echo-request', ident: id, seqNo: sq, data: d }),
          );
          emitIcmp(req, { kind: 'echo-request', ident: id, seqNo: sq, data: d });
          const reply = new Uint8Array(req.length);
          writeEchoReply(reply, req, IcmpType.EchoReply);
          const v = IcmpView.check(reply);
          expect(v).toBeInstanceOf(IcmpView);
          expect((v as IcmpView).toRepr()).toEqual({
            kind: 'echo-reply',
            ident: id,
            seqNo: sq,
            data: d,
          });
        },
      ),
    );
  });
});
