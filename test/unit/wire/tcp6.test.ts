/**
 * TCP over IPv6 on the wire: the checksum over the IPv6 pseudo-header (RFC 8200 §8.1), checked
 * against a SYN Linux sent (`curl -6 http://[::1]:81/` in a namespace of its own, captured on lo;
 * the loopback leaves the checksum partial, 0x0030, and tcpdump names the right one, 0x5042).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitTcp, emitTcp6, parseTcp, TcpView, tcpSegmentLen } from '../../../src/wire/tcp.ts';
import { hex } from './known-packets.ts';

const LOOPBACK6 = parseIpv6('::1');

/** The TCP header and options of that SYN (::1.57378 > ::1.81), its checksum field 0x5042. */
const LINUX_SYN6 = hex(`
  e022 0051 62e3 bc37 0000 0000 a002 ffc4 5042 0000
  0204 ffc4 0402 080a aeba 4f9a 0000 0000 0103 030a`);

describe('TCP checksum over the IPv6 pseudo-header', () => {
  it("accepts Linux's SYN and emits it again byte for byte", () => {
    const v = TcpView.check6(LINUX_SYN6, LOOPBACK6, LOOPBACK6);
    if (v instanceof ParseError) throw new Error(v.reason);
    const seg = parseTcp(v);
    if (seg instanceof ParseError) throw new Error(seg.reason);
    expect(seg).toMatchObject({ srcPort: 57_378, dstPort: 81, control: 'syn', seq: 1_659_092_023 });
    const out = new Uint8Array(tcpSegmentLen(seg));
    emitTcp6(out, seg, LOOPBACK6, LOOPBACK6);
    expect(out).toEqual(LINUX_SYN6);
  });

  it('refuses a flipped bit, another address, or the IPv4 checksum', () => {
    const flipped = LINUX_SYN6.slice();
    flipped[7] ^= 0x10;
    expect(TcpView.check6(flipped, LOOPBACK6, LOOPBACK6)).toEqual(ParseError.of('bad-checksum'));
    const other = parseIpv6('::2');
    expect(TcpView.check6(LINUX_SYN6, other, LOOPBACK6)).toEqual(ParseError.of('bad-checksum'));
    expect(TcpView.check6(LINUX_SYN6, LOOPBACK6, other)).toEqual(ParseError.of('bad-checksum'));
    // The same segment summed over an IPv4 pseudo-header is another checksum.
    const v = TcpView.check6(LINUX_SYN6, LOOPBACK6, LOOPBACK6) as TcpView;
    const seg = parseTcp(v);
    if (seg instanceof ParseError) throw new Error(seg.reason);
    const v4 = new Uint8Array(LINUX_SYN6.length);
    emitTcp(v4, seg, 0x7f00_0001, 0x7f00_0001);
    expect(v4.subarray(16, 18)).not.toEqual(LINUX_SYN6.subarray(16, 18));
  });

  it('skips the sum when the link vouched for it, still checking the header length', () => {
    const flipped = LINUX_SYN6.slice();
    flipped[7] ^= 0x10;
    expect(TcpView.check6(flipped, LOOPBACK6, LOOPBACK6, false)).toBeInstanceOf(TcpView);
    const badOffset = LINUX_SYN6.slice();
    badOffset[12] = 0x40;
    expect(TcpView.check6(badOffset, LOOPBACK6, LOOPBACK6, false)).toEqual(
      ParseError.of('bad-offset'),
    );
    expect(TcpView.check6(LINUX_SYN6.subarray(0, 19), LOOPBACK6, LOOPBACK6)).toEqual(
      ParseError.of('truncated'),
    );
  });
});
