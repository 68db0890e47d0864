import { describe, expect, it } from 'vitest';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitTcpPacket, parseTcpPacket } from '../../../src/wire/tcp-packet.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { emitUdp } from '../../../src/wire/udp.ts';
import { PEER, packet, US } from '../ip/helpers.ts';

const SRC = PEER;
const DST = US;
const SEG: TcpRepr = {
  srcPort: 40_000,
  dstPort: 80,
  control: 'syn',
  psh: false,
  urg: false,
  ece: false,
  cwr: false,
  seq: 0xffff_fff0,
  ack: null,
  window: 64_240,
  urgentPointer: 0,
  options: { ...NO_OPTIONS, mss: 1460 },
  payload: new Uint8Array([1, 2, 3]),
};

describe('a TCP segment in an IPv4 packet', () => {
  it('round-trips: addresses, fields, options and payload', () => {
    const packet = emitTcpPacket(SEG, SRC, DST);
    const ip = Ipv4View.check(packet);
    expect(ip).not.toBeInstanceOf(ParseError);
    expect(ip).toMatchObject({ src: SRC, dst: DST, protocol: 6, dontFrag: true, ttl: 64 });
    const d = parseTcpPacket(packet);
    if (d instanceof ParseError) throw new Error(d.reason);
    expect(d.src).toBe(SRC);
    expect(d.dst).toBe(DST);
    expect(d.tcp).toMatchObject({ ...SEG, options: { mss: 1460 }, payload: SEG.payload });
  });

  it("says why not: 'not-tcp' for a valid UDP packet, the codec's reason for bad bytes", () => {
    const dgram = new Uint8Array(8 + 2);
    emitUdp(dgram, { srcPort: 1, dstPort: 2, payload: new Uint8Array(2) }, PEER, US);
    const udp = packet(dgram, { src: PEER, dst: US, protocol: 17 });
    expect(parseTcpPacket(udp)).toBe(ParseError.of('not-tcp'));

    const corrupt = emitTcpPacket(SEG, SRC, DST);
    corrupt[corrupt.length - 1] ^= 0xff; // the payload: the TCP checksum no longer holds
    expect(parseTcpPacket(corrupt)).toBe(ParseError.of('bad-checksum'));
    expect(parseTcpPacket(corrupt.subarray(0, 10))).toBe(ParseError.of('truncated'));
  });
});
