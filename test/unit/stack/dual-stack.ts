/**
 * A dual-stack Stack (10.0.0.2 and fd00::2) on a RecordingLink under a virtual clock, and the
 * IPv6 packets the tests deliver to it or read from it: TCP segments both ways and ICMPv6
 * errors from a peer or a router. The IPv4 counterparts are in tcp-packets.ts and ../ip/helpers.ts.
 */
import { createStack, type NetStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { StackOptions } from '../../../src/stack/stack.ts';
import { emitIcmpv6, type Icmpv6Repr } from '../../../src/wire/icmpv6.ts';
import { formatIpv6, Ipv6View, parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { parseTcp, TcpView } from '../../../src/wire/tcp.ts';
import { emitTcpPacket6 } from '../../../src/wire/tcp-packet.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { RecordingLink } from './recording-link.ts';

/** The kernel's side of the link (the usual peer). */
export const HOST6 = parseIpv6('fd00::1');
/** The stack's IPv6 address. */
export const US6 = parseIpv6('fd00::2');
/** A router on the path that answers with errors, not the peer. */
export const ROUTER6 = parseIpv6('fd00::63');

export interface DualStack {
  link: RecordingLink;
  clock: VirtualClock;
  stack: NetStack;
}

/**
 * A stack at 10.0.0.2 and fd00::2 on a RecordingLink of `mtu` (1500) under a VirtualClock;
 * `options` adds the stack's other options (tcp, pmtu, …).
 */
export function dualStack(
  options: Omit<StackOptions, 'link' | 'address' | 'address6' | 'clock'> = {},
  mtu = 1500,
): DualStack {
  const link = new RecordingLink(mtu);
  const clock = new VirtualClock();
  const stack = createStack({ ...options, link, address: '10.0.0.2', address6: 'fd00::2', clock });
  return { link, clock, stack };
}

/** `seg` from `src` (HOST6) to `dst` (US6) as an IPv6 packet, checksum right. */
export function tcp6Packet(seg: TcpRepr, src = HOST6, dst = US6): Uint8Array {
  return emitTcpPacket6(seg, src, dst);
}

/**
 * The addresses and TCP segment of an IPv6 packet the stack sent (TCP right after the fixed
 * header, checksum checked); throws on anything else.
 */
export function sent6(p: Uint8Array): { src: string; dst: string; seg: TcpRepr } {
  const ip = Ipv6View.check(p);
  if (ip instanceof ParseError) throw new Error(`bad IPv6: ${ip.reason}`);
  if (ip.nextHeader !== 6) throw new Error(`not TCP: next header ${ip.nextHeader}`);
  const v = TcpView.check6(ip.payload, ip.src, ip.dst, true);
  if (v instanceof ParseError) throw new Error(`bad TCP: ${v.reason}`);
  const seg = parseTcp(v);
  if (seg instanceof ParseError) throw new Error(`bad TCP: ${seg.reason}`);
  return { src: formatIpv6(ip.src), dst: formatIpv6(ip.dst), seg };
}

/** An ICMPv6 message `msg` from `src` to US6 in an IPv6 packet, checksum right. */
export function icmp6Packet(msg: Icmpv6Repr, src: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + msg.data.length);
  emitIcmpv6(body, msg, src, US6);
  const p = new Uint8Array(40 + body.length);
  Ipv6View.emit(p, { src, dst: US6, nextHeader: 58, hopLimit: 64, payloadLength: body.length });
  p.set(body, 40);
  return p;
}

/**
 * A Packet Too Big from ROUTER6 quoting `pkt` (one of ours, as much as fits in 1280 bytes) with
 * MTU `mtu`; `edit` changes the quote first.
 */
export function packetTooBig(
  pkt: Uint8Array,
  mtu: number,
  edit?: (q: Uint8Array) => void,
): Uint8Array {
  const quote = pkt.slice(0, Math.min(pkt.length, 1280 - 48));
  edit?.(quote);
  return icmp6Packet({ kind: 'packet-too-big', mtu, data: quote }, ROUTER6);
}
