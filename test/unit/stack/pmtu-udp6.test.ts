/**
 * Path MTU over IPv6 for what the stack fragments itself (RFC 8201 §5.2): a Packet Too Big about
 * a UDP datagram of ours lowers the destination's path MTU (no sequence number to check, as
 * Linux's udpv6_err), and larger datagrams to it are cut into fragments that fit; other
 * destinations keep the link's MTU.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { emitIcmpv6 } from '../../../src/wire/icmpv6.ts';
import { Ipv6View, parseIpv6 } from '../../../src/wire/ipv6.ts';
import { RecordingLink } from './recording-link.ts';

const US6 = parseIpv6('fd00::2');
const PEER6 = parseIpv6('fd00::1');
const OTHER6 = parseIpv6('fd00::9');
const ROUTER6 = parseIpv6('fd00::63');

function setup() {
  const link = new RecordingLink(1500);
  const stack = createStack({
    link,
    address: '10.0.0.2',
    address6: 'fd00::2',
    clock: new VirtualClock(),
  });
  return { link, stack };
}

function packetTooBig(quoted: Uint8Array, mtu: number): Uint8Array {
  const quote = quoted.slice(0, Math.min(quoted.length, 1280 - 48));
  const msg = new Uint8Array(8 + quote.length);
  emitIcmpv6(msg, { kind: 'packet-too-big', mtu, data: quote }, ROUTER6, US6);
  const p = new Uint8Array(40 + msg.length);
  Ipv6View.emit(p, {
    src: ROUTER6,
    dst: US6,
    nextHeader: 58,
    hopLimit: 64,
    payloadLength: msg.length,
  });
  p.set(msg, 40);
  return p;
}

describe('UDP over IPv6 at the path MTU', () => {
  it('a Packet Too Big about a datagram makes later ones to that destination fragment to fit', () => {
    const { link, stack } = setup();
    const payload = new Uint8Array(1400).fill(1);
    expect(stack.udp.send6(4000, PEER6, 53, payload)).toBe(true);
    expect(link.sent.map((p) => p.length)).toEqual([1448]);
    const quoted = link.sent[0];
    link.sent = [];

    link.deliver(packetTooBig(quoted, 1300));
    expect(stack.stats.icmp6.rxPacketTooBig).toBe(1);
    expect(stack.pmtu.get6(PEER6, stack.now())).toBe(1300);

    stack.udp.send6(4000, PEER6, 53, payload);
    expect(link.sent.length).toBe(2);
    expect(link.sent.every((p) => p.length <= 1300)).toBe(true);
    expect(link.sent[0][6]).toBe(44); // a Fragment header follows the fixed header
    expect(stack.stats.ip6.txFragmented).toBe(1);
    link.sent = [];

    // Another destination keeps the link's MTU; small datagrams are never cut.
    stack.udp.send6(4000, OTHER6, 53, payload);
    stack.udp.send6(4000, PEER6, 53, new Uint8Array(1000));
    expect(link.sent.map((p) => p.length)).toEqual([1448, 1048]);
  });

  it('clamps a Packet Too Big below 1280 to 1280 (RFC 8200 §5)', () => {
    const { link, stack } = setup();
    stack.udp.send6(4000, PEER6, 53, new Uint8Array(1400));
    link.deliver(packetTooBig(link.sent[0], 600));
    expect(stack.stats.pmtu.clampedV6).toBe(1);
    expect(stack.pmtu.get6(PEER6, stack.now())).toBe(1280);
  });

  it('a Destination Unreachable still goes to the socket, not to the table', () => {
    const { link, stack } = setup();
    stack.udp.send6(4000, PEER6, 53, new Uint8Array(100));
    const quote = link.sent[0];
    const msg = new Uint8Array(8 + quote.length);
    emitIcmpv6(msg, { kind: 'dest-unreachable', code: 4, data: quote }, PEER6, US6);
    const p = new Uint8Array(40 + msg.length);
    Ipv6View.emit(p, {
      src: PEER6,
      dst: US6,
      nextHeader: 58,
      hopLimit: 64,
      payloadLength: msg.length,
    });
    p.set(msg, 40);
    link.deliver(p);
    expect(stack.stats.icmp6.rxErrorsReported).toBe(1);
    expect(stack.pmtu.size).toBe(0);
  });
});
