/**
 * Path MTU over IPv6 for what the stack fragments itself (RFC 8201 §5.2): a Packet Too Big about
 * a UDP datagram of ours lowers the destination's path MTU (no sequence number to check, as
 * Linux's udpv6_err), and larger datagrams to it are cut into fragments that fit; other
 * destinations keep the link's MTU.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { dualStack, icmp6Packet, HOST6 as PEER6, packetTooBig } from './dual-stack.ts';

const OTHER6 = parseIpv6('fd00::9');
const setup = () => dualStack();

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
    link.deliver(icmp6Packet({ kind: 'dest-unreachable', code: 4, data: link.sent[0] }, PEER6));
    expect(stack.stats.icmp6.rxErrorsReported).toBe(1);
    expect(stack.pmtu.size).toBe(0);
  });
});
