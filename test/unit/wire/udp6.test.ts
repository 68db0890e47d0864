import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { onesSum } from '../../../src/wire/checksum.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitUdp6, type UdpRepr, UdpView, udpLen } from '../../../src/wire/udp.ts';
import { a5 } from './known-packets.ts';

const SRC = parseIpv6('fd00::1');
const DST = parseIpv6('fd00::2');

describe('UDP over IPv6', () => {
  it('emits every field and a checksum over the IPv6 pseudo-header', () => {
    const repr: UdpRepr = { srcPort: 0xc552, dstPort: 7, payload: Buffer.from('hello\n') };
    const out = a5(udpLen(repr));
    expect(emitUdp6(out, repr, SRC, DST)).toBe(14);
    expect([...out.subarray(0, 6)]).toEqual([0xc5, 0x52, 0, 7, 0, 14]);
    expect(Buffer.from(out.subarray(8)).toString()).toBe('hello\n');
    // The pseudo-header written out in bytes sums with the datagram to 0xffff.
    const ph = new Uint8Array(40 + out.length);
    ph.set(SRC, 0);
    ph.set(DST, 16);
    ph[35] = out.length;
    ph[39] = 17;
    ph.set(out, 40);
    expect(onesSum(ph)).toBe(0xffff);
  });

  it('refuses a zero checksum, which over IPv6 is not "none" (RFC 8200 §8.1)', () => {
    const out = new Uint8Array(12);
    emitUdp6(out, { srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }, SRC, DST);
    out[6] = 0;
    out[7] = 0;
    expect(UdpView.check6(out, SRC, DST)).toBe(ParseError.of('bad-checksum'));
    expect(UdpView.check6(out, SRC, DST, false)).toBeInstanceOf(UdpView); // offload vouched
    expect(UdpView.check(out, 0x0a000001, 0x0a000002)).toBeInstanceOf(UdpView); // IPv4: "none"
  });

  it('refuses another pseudo-header, bad lengths, short buffers', () => {
    const out = new Uint8Array(12);
    emitUdp6(out, { srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }, SRC, DST);
    expect(UdpView.check6(out, DST, SRC)).toBeInstanceOf(UdpView); // the sum is symmetric
    expect(UdpView.check6(out, SRC, parseIpv6('fd00::3'))).toBe(ParseError.of('bad-checksum'));
    expect(UdpView.check6(out.subarray(0, 7), SRC, DST)).toBe(ParseError.of('truncated'));
    expect(UdpView.check6(out.subarray(0, 11), SRC, DST)).toBe(ParseError.of('bad-length'));
  });

  it('round-trips any datagram', () => {
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(
        fc.record({
          srcPort: fc.nat(0xffff),
          dstPort: fc.nat(0xffff),
          payload: fc.uint8Array({ maxLength: 300 }),
        }),
        addr,
        addr,
        (repr, src, dst) => {
          const buf = a5(udpLen(repr));
          emitUdp6(buf, repr, src, dst);
          const v = UdpView.check6(buf, src, dst);
          if (v instanceof ParseError) throw new Error(v.reason);
          expect(v.toRepr()).toEqual(repr);
          expect(v.checksum).not.toBe(0);
        },
      ),
    );
  });
});
