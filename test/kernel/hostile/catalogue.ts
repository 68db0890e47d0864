/**
 * The catalogue of malformed and hostile packets (issue 9, item 5): each case is a few
 * hand-built packets, the counters of `stack.stats` that must grow and by exactly how much, and
 * the replies the stack must send, exactly (none, a RST, an ICMP error, a SYN-ACK, an echo
 * reply). hostile-malformed.test.ts writes each case onto the kernel's side of the TUN device
 * unchanged and checks both, then that the stack still serves.
 *
 * Packets come from PEER (10.0.0.99), an address on the device's subnet that the namespace's
 * kernel does not own: the stack's replies to it go into the device and the kernel, forwarding
 * off, drops them, so no kernel socket answers a SYN-ACK with a RST of its own and muddles the
 * counters. Where the expectation is what Linux does, the comment says so.
 */
import { STACK_ADDR } from '../harness.ts';
import {
  echoRequest,
  F,
  flagLetters,
  fragments,
  icmpMessage,
  ipv4,
  type ParsedReply,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  tcp,
  tcpSegment,
  udp,
} from './packets.ts';

export const PEER = '10.0.0.99';
/** Ports: http and echo listen; 81 is closed. */
export const OPEN = 80;
export const ECHO = 7;
export const CLOSED = 81;

const ISN = 0x7fff_fff0; // near a wrap, as the unit tests like it

export interface ReplyMatcher {
  what: string;
  match(r: ParsedReply): boolean;
}

export interface HostileCase {
  name: string;
  /** What the stack must do, in words (the test's title). */
  must: string;
  packets: Uint8Array[];
  /** Paths into stack.stats and exactly how much each must grow (0: must not move). */
  counts: Record<string, number>;
  /** The stack's replies, exactly these, in this order ([]: silence). */
  replies: ReplyMatcher[];
}

// ---------------------------------------------------------------------------------------------
// Reply matchers

const SILENT: ReplyMatcher[] = [];

export function rstAck(dport: number, ack: number): ReplyMatcher {
  return {
    what: `RST,ACK to ${dport} seq=0 ack=${ack >>> 0}`,
    match: (r) =>
      r.protocol === PROTO_TCP &&
      r.dport === dport &&
      r.flags === (F.RST | F.ACK) &&
      r.seq === 0 &&
      r.ack === ack >>> 0,
  };
}

export function rst(dport: number, seq: number): ReplyMatcher {
  return {
    what: `RST to ${dport} seq=${seq >>> 0} (no ACK)`,
    match: (r) =>
      r.protocol === PROTO_TCP && r.dport === dport && r.flags === F.RST && r.seq === seq >>> 0,
  };
}

export function synAck(dport: number, acks: readonly number[]): ReplyMatcher {
  return {
    what: `SYN,ACK to ${dport} ack∈{${acks.map((a) => a >>> 0).join(',')}}`,
    match: (r) =>
      r.protocol === PROTO_TCP &&
      r.dport === dport &&
      r.flags === (F.SYN | F.ACK) &&
      acks.some((a) => a >>> 0 === r.ack),
  };
}

export function icmpError(type: number, code: number, quotedProtocol: number): ReplyMatcher {
  return {
    what: `ICMP ${type}/${code} quoting a protocol ${quotedProtocol} datagram`,
    match: (r) =>
      r.protocol === PROTO_ICMP &&
      r.icmpType === type &&
      r.icmpCode === code &&
      (r.icmpBody?.length ?? 0) >= 28 &&
      r.icmpBody![9] === quotedProtocol,
  };
}

export function echoReply(id: number, dataLength: number): ReplyMatcher {
  return {
    what: `echo reply id=${id} with ${dataLength} data bytes`,
    match: (r) =>
      r.protocol === PROTO_ICMP &&
      r.icmpType === 0 &&
      r.icmpBody!.length === dataLength &&
      r.dst === 0x0a000063,
  };
}

/** For failure messages. */
export function flagsOf(r: ParsedReply): string {
  return r.flags === undefined ? '' : flagLetters(r.flags);
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const ECHO_ID = 0x1111;
const DATA32 = new Uint8Array(32).fill(0x61);
const ping = (ip: Parameters<typeof echoRequest>[5] = {}, src: string | number = PEER) =>
  echoRequest(src, STACK_ADDR, ECHO_ID, 1, DATA32, ip);
const icmpEcho = () => icmpMessage(8, 0, (ECHO_ID << 16) | 1, DATA32);

let nextPort = 41_000;
/** A source port used by no other case: SYNs that make a connection must not meet each other. */
const freshPort = (): number => nextPort++;
/** A case built around its own source port. */
const withPort = (make: (sport: number) => HostileCase): HostileCase => make(freshPort());

const syn = (dport: number, extra: Partial<Parameters<typeof tcp>[0]> = {}) =>
  tcp({ src: PEER, dst: STACK_ADDR, sport: 40_000, dport, flags: 'S', seq: ISN, ...extra });

const seg = (dport: number, fl: string, extra: Partial<Parameters<typeof tcp>[0]> = {}) =>
  tcp({ src: PEER, dst: STACK_ADDR, sport: 40_001, dport, flags: fl, seq: ISN, ...extra });

/** A valid echo request, then bytes appended past Total Length (link padding). */
function pingWithTrailer(): Uint8Array {
  const m = icmpEcho();
  const payload = new Uint8Array(m.length + 30).fill(0xee);
  payload.set(m);
  return ipv4({
    src: PEER,
    dst: STACK_ADDR,
    protocol: PROTO_ICMP,
    payload,
    totalLength: 20 + m.length,
  });
}

const echoFrags = (pieces: { offset: number; length: number; mf?: boolean }[], id: number) =>
  fragments({ src: PEER, dst: STACK_ADDR, protocol: PROTO_ICMP, id }, icmpEcho(), pieces);

/** Fragments of a TCP segment: the RFC 1858 tricks work on its header. */
const tcpFrags = (
  s: Uint8Array,
  pieces: { offset: number; length: number; mf?: boolean }[],
  id: number,
) => fragments({ src: PEER, dst: STACK_ADDR, protocol: PROTO_TCP, id }, s, pieces);

const synSegment = (dport: number) =>
  tcpSegment({ src: PEER, dst: STACK_ADDR, sport: 40_002, dport, flags: 'S', seq: ISN });

function firstFragmentOfBigPing(id: number): Uint8Array {
  const body = new Uint8Array(1480);
  body.set(icmpMessage(8, 0, (ECHO_ID << 16) | 9, new Uint8Array(0)).subarray(0, 8));
  return ipv4({ src: PEER, dst: STACK_ADDR, protocol: PROTO_ICMP, payload: body, id, mf: true });
}

// ---------------------------------------------------------------------------------------------
// The catalogue

export const IP_HEADER_CASES: HostileCase[] = [
  {
    name: 'ip version 6 in an IPv4 packet',
    must: 'drop, count ip.drops.bad-version',
    packets: [ping({ version: 6 })],
    counts: { 'ip.drops.bad-version': 1, 'ip.rxDelivered': 0 },
    replies: SILENT,
  },
  {
    name: 'ip version 0',
    must: 'drop, count ip.drops.bad-version',
    packets: [ping({ version: 0 })],
    counts: { 'ip.drops.bad-version': 1 },
    replies: SILENT,
  },
  {
    name: 'IHL 4 (shorter than the fixed header)',
    must: 'drop, count ip.drops.bad-ihl',
    packets: [ping({ ihl: 4 })],
    counts: { 'ip.drops.bad-ihl': 1 },
    replies: SILENT,
  },
  {
    name: 'IHL 0',
    must: 'drop, count ip.drops.bad-ihl',
    packets: [ping({ ihl: 0 })],
    counts: { 'ip.drops.bad-ihl': 1 },
    replies: SILENT,
  },
  {
    name: 'IHL 15 on a 60-byte packet whose header is 20 (options run into the payload)',
    must: 'take bytes 20..59 as options: the ICMP header read as one (type 8, length 0) is malformed: ip.drops.bad-options',
    // The header checksum is right over the 60 bytes the IHL claims; the option list is not.
    packets: [ping({ ihl: 15 })],
    counts: { 'ip.drops.bad-options': 1 },
    replies: SILENT,
  },
  {
    name: 'IHL past the end of the packet (IHL 15, 28 bytes)',
    must: 'drop, count ip.drops.truncated',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: icmpMessage(8, 0, 0, new Uint8Array(0)),
        ihl: 15,
      }),
    ],
    counts: { 'ip.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'total length beyond the packet',
    must: 'drop, count ip.drops.bad-length',
    packets: [ping({ totalLength: 20 + 40 + 100 })],
    counts: { 'ip.drops.bad-length': 1 },
    replies: SILENT,
  },
  {
    name: 'total length shorter than the header',
    must: 'drop, count ip.drops.bad-length',
    packets: [ping({ totalLength: 12 })],
    counts: { 'ip.drops.bad-length': 1 },
    replies: SILENT,
  },
  {
    name: 'total length 0',
    must: 'drop, count ip.drops.bad-length',
    packets: [ping({ totalLength: 0 })],
    counts: { 'ip.drops.bad-length': 1 },
    replies: SILENT,
  },
  {
    name: 'bytes past total length (link padding)',
    must: 'ignore the trailer and answer the echo with exactly its 32 data bytes',
    packets: [pingWithTrailer()],
    counts: { 'ip.drops.bad-length': 0 },
    replies: [echoReply(ECHO_ID, 32)],
  },
  {
    name: 'bad header checksum',
    must: 'drop, count ip.drops.bad-checksum',
    packets: [ping({ checksum: 0x1234 })],
    counts: { 'ip.drops.bad-checksum': 1 },
    replies: SILENT,
  },
  {
    name: 'truncated header (19 bytes)',
    must: 'drop, count ip.drops.truncated',
    packets: [ping().subarray(0, 19)],
    counts: { 'ip.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'a 1-byte packet',
    must: 'drop, count ip.drops.truncated',
    packets: [new Uint8Array([0x45])],
    counts: { 'ip.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'destination not ours (10.0.0.3)',
    must: 'drop, count ip.drops.not-our-address',
    packets: [echoRequest(PEER, '10.0.0.3', ECHO_ID, 1, DATA32)],
    counts: { 'ip.drops.not-our-address': 1 },
    replies: SILENT,
  },
  {
    name: 'echo request to the limited broadcast address',
    must: 'not answer (icmp.rxEchoBroadcastIgnored)',
    packets: [echoRequest(PEER, '255.255.255.255', ECHO_ID, 1, DATA32)],
    counts: { 'icmp.rxEchoBroadcastIgnored': 1 },
    replies: SILENT,
  },
  {
    name: 'TTL 0 addressed to us',
    must: 'answer (TTL matters only to routers; Linux answers too)',
    packets: [ping({ ttl: 0 })],
    counts: {},
    replies: [echoReply(ECHO_ID, 32)],
  },
  {
    name: 'unknown protocol 99',
    must: 'ICMP protocol unreachable (3/2), count unknownProtocol',
    packets: [ipv4({ src: PEER, dst: STACK_ADDR, protocol: 99, payload: new Uint8Array(16) })],
    counts: { unknownProtocol: 1, 'icmp.txDestUnreachable': 1 },
    replies: [icmpError(3, 2, 99)],
  },
];

/**
 * IP options: never interpreted (RFC 1122 §3.2.1.8 lets a host ignore them), skipped by IHL; but
 * a malformed list is dropped (ip.drops.bad-options), as Linux's ip_options_compile drops it.
 */
const MALFORMED_IP_OPTIONS: [string, number[]][] = [
  ['option length 0', [0x07, 0x00, 0x00, 0x00]],
  ['option length 1', [0x07, 0x01, 0x00, 0x00]],
  ['option length past the end of the header', [0x07, 0x27, 0x04, 0x00]],
  ['option kind with no length byte', [0x01, 0x01, 0x01, 0x44]],
];
export const IP_OPTION_CASES: HostileCase[] = [
  ...MALFORMED_IP_OPTIONS.map(([name, options]) => ({
    name: `ip ${name}`,
    must: 'drop the malformed option list, count ip.drops.bad-options',
    packets: [ping({ options })],
    counts: { 'ip.drops.bad-options': 1 },
    replies: SILENT,
  })),
  {
    name: 'ip 40 bytes of options (IHL 15)',
    must: 'skip the options by IHL (rxOptionsSkipped) and answer the echo',
    packets: [ping({ options: new Array(40).fill(0x01) })],
    counts: { 'ip.rxOptionsSkipped': 1 },
    replies: [echoReply(ECHO_ID, 32)],
  },
];

export const TRANSPORT_CASES: HostileCase[] = [
  {
    name: 'TCP header truncated (10 bytes)',
    must: 'drop, count tcp.drops.truncated',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_TCP,
        payload: syn(OPEN).subarray(20, 30),
      }),
    ],
    counts: { 'tcp.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP data offset 4',
    must: 'drop, count tcp.drops.bad-offset',
    packets: [syn(OPEN, { dataOffset: 4 })],
    counts: { 'tcp.drops.bad-offset': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP data offset past the segment (15 words, 20 bytes)',
    must: 'drop, count tcp.drops.bad-offset',
    packets: [syn(OPEN, { dataOffset: 15 })],
    counts: { 'tcp.drops.bad-offset': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP bad checksum (SYN to a listener)',
    must: 'drop, count tcp.drops.bad-checksum, no SYN-ACK',
    packets: [syn(OPEN, { checksum: 0xdead })],
    counts: { 'tcp.drops.bad-checksum': 1, 'tcp.layer.passiveOpens': 0 },
    replies: SILENT,
  },
  {
    name: 'UDP header truncated (4 bytes)',
    must: 'drop, count udp.drops.truncated',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_UDP,
        payload: new Uint8Array([0, 9, 0, 7]),
      }),
    ],
    counts: { 'udp.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'UDP length beyond the datagram',
    must: 'drop, count udp.drops.bad-length',
    packets: [
      udp({
        src: PEER,
        dst: STACK_ADDR,
        sport: 5000,
        dport: ECHO,
        payload: new Uint8Array(4),
        length: 100,
      }),
    ],
    counts: { 'udp.drops.bad-length': 1, 'udp.rxDelivered': 0 },
    replies: SILENT,
  },
  {
    name: 'UDP length below 8',
    must: 'drop, count udp.drops.bad-length',
    packets: [
      udp({
        src: PEER,
        dst: STACK_ADDR,
        sport: 5000,
        dport: ECHO,
        payload: new Uint8Array(4),
        length: 3,
      }),
    ],
    counts: { 'udp.drops.bad-length': 1 },
    replies: SILENT,
  },
  {
    name: 'UDP bad checksum',
    must: 'drop, count udp.drops.bad-checksum, no echo',
    packets: [
      udp({
        src: PEER,
        dst: STACK_ADDR,
        sport: 5000,
        dport: ECHO,
        payload: new Uint8Array(4),
        checksum: 0x1234,
      }),
    ],
    counts: { 'udp.drops.bad-checksum': 1 },
    replies: SILENT,
  },
  {
    name: 'UDP to a closed port',
    must: 'ICMP port unreachable (3/3), count udp.drops.no-port',
    packets: [
      udp({ src: PEER, dst: STACK_ADDR, sport: 5000, dport: 9999, payload: new Uint8Array(4) }),
    ],
    counts: { 'udp.drops.no-port': 1 },
    replies: [icmpError(3, 3, PROTO_UDP)],
  },
  {
    name: 'UDP to port 0',
    must: 'ICMP port unreachable (3/3)',
    packets: [
      udp({ src: PEER, dst: STACK_ADDR, sport: 5000, dport: 0, payload: new Uint8Array(4) }),
    ],
    counts: { 'udp.drops.no-port': 1 },
    replies: [icmpError(3, 3, PROTO_UDP)],
  },
  {
    name: 'ICMP message truncated (3 bytes)',
    must: 'drop, count icmp.drops.truncated',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: new Uint8Array([8, 0, 0]),
      }),
    ],
    counts: { 'icmp.drops.truncated': 1 },
    replies: SILENT,
  },
  {
    name: 'ICMP bad checksum',
    must: 'drop, count icmp.drops.bad-checksum, no reply',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: icmpMessage(8, 0, 1, DATA32, 0xbeef),
      }),
    ],
    counts: { 'icmp.drops.bad-checksum': 1 },
    replies: SILENT,
  },
];

const opt = (...bytes: number[]) => bytes;

export const TCP_CASES: HostileCase[] = [
  {
    name: 'TCP option length 0 (MSS kind, length 0)',
    must: 'drop, count tcp.drops.bad-options',
    packets: [syn(OPEN, { options: opt(2, 0, 0, 0) })],
    counts: { 'tcp.drops.bad-options': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP option length 0 (unknown kind 99)',
    must: 'drop, count tcp.drops.bad-options (a zero length would loop a naive parser)',
    packets: [syn(OPEN, { options: opt(99, 0, 1, 1) })],
    counts: { 'tcp.drops.bad-options': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP option length 1',
    must: 'drop, count tcp.drops.bad-options',
    packets: [syn(OPEN, { options: opt(2, 1, 0, 0) })],
    counts: { 'tcp.drops.bad-options': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP option length past the end of the header',
    must: 'drop, count tcp.drops.bad-options',
    packets: [syn(OPEN, { options: opt(2, 8, 5, 0xb4) })],
    counts: { 'tcp.drops.bad-options': 1 },
    replies: SILENT,
  },
  {
    name: 'TCP option kind in the last byte, no length',
    must: 'drop, count tcp.drops.bad-options',
    packets: [syn(OPEN, { options: opt(1, 1, 1, 2) })],
    counts: { 'tcp.drops.bad-options': 1 },
    replies: SILENT,
  },
  withPort((sport) => ({
    name: 'SYN with MSS 0',
    must: 'SYN-ACK (the connection is made; its MSS floor is checked in the raw-connection test)',
    packets: [syn(OPEN, { sport, options: opt(2, 4, 0, 0) })],
    counts: { 'tcp.layer.passiveOpens': 1 },
    replies: [synAck(sport, [ISN + 1])],
  })),
  withPort((sport) => ({
    name: 'SYN with window scale 15 (> 14)',
    must: 'SYN-ACK (the shift is clamped to 14, RFC 7323 §2.3; checked in the raw-connection test)',
    packets: [syn(OPEN, { sport, options: opt(1, 3, 3, 15) })],
    counts: { 'tcp.layer.passiveOpens': 1 },
    replies: [synAck(sport, [ISN + 1])],
  })),
  withPort((sport) => ({
    name: 'SYN with 40 bytes of NOP options',
    must: 'SYN-ACK',
    packets: [syn(OPEN, { sport, options: new Array(40).fill(1) })],
    counts: { 'tcp.layer.passiveOpens': 1 },
    replies: [synAck(sport, [ISN + 1])],
  })),
  withPort((sport) => ({
    name: 'SYN+FIN to a listener',
    must: 'drop (Linux discards it in LISTEN), count tcp.drops.bad-flags, no SYN-ACK',
    packets: [syn(OPEN, { sport, flags: 'SF' })],
    counts: { 'tcp.drops.bad-flags': 1, 'tcp.layer.passiveOpens': 0 },
    replies: SILENT,
  })),
  withPort((sport) => ({
    name: 'SYN+RST to a listener',
    must: 'drop, count tcp.drops.bad-flags, no SYN-ACK',
    packets: [syn(OPEN, { sport, flags: 'SR' })],
    counts: { 'tcp.drops.bad-flags': 1, 'tcp.layer.passiveOpens': 0 },
    replies: SILENT,
  })),
  withPort((sport) => ({
    name: 'SYN with data to the echo port',
    must: 'SYN-ACK that acknowledges the SYN (and the data only if it keeps it)',
    packets: [syn(ECHO, { sport, payload: new Uint8Array(20).fill(0x41) })],
    counts: { 'tcp.layer.passiveOpens': 1 },
    replies: [synAck(sport, [ISN + 1, ISN + 21])],
  })),
  withPort((sport) => ({
    name: 'SYN to port 0',
    must: 'RST,ACK (RFC 9293 §3.10.7.1: no such port)',
    packets: [syn(0, { sport })],
    counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
    replies: [rstAck(sport, ISN + 1)],
  })),
  {
    name: 'SYN-ACK to a listener',
    must: 'RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.2)',
    packets: [seg(OPEN, 'SA', { ack: 0x1234_5678 })],
    counts: { 'tcp.layer.resetsSent': 1, 'tcp.layer.passiveOpens': 0 },
    replies: [rst(40_001, 0x1234_5678)],
  },
  {
    name: 'bare ACK to a listener (no such connection, a forged cookie)',
    must: 'RST <SEQ=SEG.ACK>',
    packets: [seg(OPEN, 'A', { ack: 0x0bad_c0de })],
    counts: { 'tcp.layer.resetsSent': 1, 'tcp.layer.passiveOpens': 0 },
    replies: [rst(40_001, 0x0bad_c0de)],
  },
  {
    name: 'FIN to a listener (nmap -sF on an open port)',
    must: 'drop silently (RFC 9293 §3.10.7.2 "fourth"), count tcp.layer.listenerDrops.no-syn',
    packets: [seg(OPEN, 'F')],
    counts: { 'tcp.layer.listenerDrops.no-syn': 1 },
    replies: SILENT,
  },
  {
    name: 'NULL to a listener (nmap -sN on an open port)',
    must: 'drop silently, count tcp.layer.listenerDrops.no-syn',
    packets: [seg(OPEN, '')],
    counts: { 'tcp.layer.listenerDrops.no-syn': 1 },
    replies: SILENT,
  },
  {
    name: 'XMAS (FIN+PSH+URG) to a listener (nmap -sX on an open port)',
    must: 'drop silently, count tcp.layer.listenerDrops.no-syn',
    packets: [seg(OPEN, 'FPU')],
    counts: { 'tcp.layer.listenerDrops.no-syn': 1 },
    replies: SILENT,
  },
  {
    name: 'FIN to a closed port',
    must: 'RST,ACK <SEQ=0><ACK=SEG.SEQ+1> (RFC 9293 §3.10.7.1)',
    packets: [seg(CLOSED, 'F')],
    counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
    replies: [rstAck(40_001, ISN + 1)],
  },
  {
    name: 'NULL to a closed port',
    must: 'RST,ACK <SEQ=0><ACK=SEG.SEQ>',
    packets: [seg(CLOSED, '')],
    counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
    replies: [rstAck(40_001, ISN)],
  },
  {
    name: 'XMAS to a closed port',
    must: 'RST,ACK <SEQ=0><ACK=SEG.SEQ+1>',
    packets: [seg(CLOSED, 'FPU')],
    counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
    replies: [rstAck(40_001, ISN + 1)],
  },
  {
    name: 'ACK to a closed port (nmap -sA)',
    must: 'RST <SEQ=SEG.ACK>',
    packets: [seg(CLOSED, 'A', { ack: 0x0102_0304 })],
    counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
    replies: [rst(40_001, 0x0102_0304)],
  },
  {
    name: 'RST to a closed port',
    must: 'silence (never answer a RST)',
    packets: [seg(CLOSED, 'R')],
    counts: { 'tcp.layer.resetsSent': 0 },
    replies: SILENT,
  },
];

/** Martian sources (Linux: "martian source", dropped by input routing): one ping from each. */
export const MARTIAN_CASES: HostileCase[] = [
  ['127.0.0.1', 'martian-loopback'],
  ['0.0.0.0', 'martian-this-network'],
  ['0.1.2.3', 'martian-this-network'],
  ['224.0.0.1', 'martian-multicast'],
  ['239.255.255.250', 'martian-multicast'],
  ['240.0.0.1', 'martian-class-e'],
  ['255.255.255.255', 'martian-broadcast'],
  [STACK_ADDR, 'martian-own-address'],
]
  .map(
    ([src, reason]): HostileCase => ({
      name: `echo request from ${src}`,
      must: `drop, count ip.drops.${reason}, no reply`,
      packets: [ping({}, src)],
      counts: { [`ip.drops.${reason}`]: 1, 'icmp.rxMessages': 0 },
      replies: SILENT,
    }),
  )
  .concat([
    {
      name: 'SYN from our own address 10.0.0.2:1234 to port 80',
      must: 'drop, count ip.drops.martian-own-address, nothing looped back',
      packets: [
        tcp({ src: STACK_ADDR, dst: STACK_ADDR, sport: 1234, dport: OPEN, flags: 'S', seq: ISN }),
      ],
      counts: {
        'ip.drops.martian-own-address': 1,
        'link.loopbackPackets': 0,
        'tcp.layer.passiveOpens': 0,
      },
      replies: SILENT,
    },
    {
      name: 'LAND: SYN 10.0.0.2:80 → 10.0.0.2:80',
      must: 'drop, count ip.drops.martian-own-address, nothing looped back',
      packets: [
        tcp({ src: STACK_ADDR, dst: STACK_ADDR, sport: OPEN, dport: OPEN, flags: 'S', seq: ISN }),
      ],
      counts: {
        'ip.drops.martian-own-address': 1,
        'link.loopbackPackets': 0,
        'tcp.layer.passiveOpens': 0,
      },
      replies: SILENT,
    },
    {
      name: 'UDP from our own address to the echo port',
      must: 'drop, count ip.drops.martian-own-address, no echo to ourselves',
      packets: [
        udp({ src: STACK_ADDR, dst: STACK_ADDR, sport: ECHO, dport: ECHO, payload: DATA32 }),
      ],
      counts: { 'ip.drops.martian-own-address': 1, 'link.loopbackPackets': 0 },
      replies: SILENT,
    },
  ]);

export const FRAGMENT_CASES: HostileCase[] = [
  {
    name: 'tiny fragments: an echo request in 8-byte fragments',
    must: 'reassemble and answer (tiny fragments are legal)',
    packets: echoFrags(
      [0, 8, 16, 24, 32].map((offset) => ({ offset, length: 8 })),
      0x5151,
    ),
    counts: { 'ip.reassembled': 1, 'ip.rxFragments': 5 },
    replies: [echoReply(ECHO_ID, 32)],
  },
  {
    name: 'tiny fragments: a SYN to a closed port, 8 bytes then the rest (RFC 1858 §3)',
    must: 'reassemble, then RST,ACK as for the whole SYN',
    packets: tcpFrags(
      synSegment(CLOSED),
      [
        { offset: 0, length: 8 },
        { offset: 8, length: 12 },
      ],
      0x6161,
    ),
    counts: { 'ip.reassembled': 1, 'tcp.layer.noPort': 1 },
    replies: [rstAck(40_002, ISN + 1)],
  },
  {
    name: 'overlapping fragment rewriting the TCP flags (RFC 1858 §4)',
    must: 'drop the whole datagram, count ip.drops.frag-overlap, no reply',
    packets: [
      ...tcpFrags(
        tcpSegment({
          src: PEER,
          dst: STACK_ADDR,
          sport: 40_003,
          dport: OPEN,
          flags: 'A',
          seq: ISN,
          ack: 1,
          payload: new Uint8Array(12),
        }),
        [{ offset: 0, length: 24, mf: true }],
        0x7171,
      ),
      ...tcpFrags(
        tcpSegment({
          src: PEER,
          dst: STACK_ADDR,
          sport: 40_003,
          dport: OPEN,
          flags: 'S',
          seq: ISN,
          payload: new Uint8Array(12),
        }),
        [{ offset: 8, length: 24, mf: false }],
        0x7171,
      ),
    ],
    counts: { 'ip.drops.frag-overlap': 1, 'ip.reassembled': 0 },
    replies: SILENT,
  },
  {
    name: 'teardrop: the last fragment lies inside the first',
    must: 'drop the datagram, count ip.drops.bad-fragment, no reply',
    packets: echoFrags(
      [
        { offset: 0, length: 24, mf: true },
        { offset: 8, length: 8, mf: false },
      ],
      0x5252,
    ),
    counts: { 'ip.drops.bad-fragment': 1, 'ip.reassembled': 0 },
    replies: SILENT,
  },
  {
    name: 'overlapping fragments (second straddles the first)',
    must: 'drop the datagram, count ip.drops.frag-overlap, no reply',
    packets: echoFrags(
      [
        { offset: 0, length: 16, mf: true },
        { offset: 8, length: 32, mf: false },
      ],
      0x5353,
    ),
    counts: { 'ip.drops.frag-overlap': 1, 'ip.reassembled': 0 },
    replies: SILENT,
  },
  {
    name: 'a duplicated fragment',
    must: 'ignore the copy (ip.drops.frag-duplicate), reassemble and answer',
    packets: (() => {
      const f = echoFrags(
        [
          { offset: 0, length: 16 },
          { offset: 16, length: 24 },
        ],
        0x5454,
      );
      return [f[0], f[0], f[1]];
    })(),
    counts: { 'ip.drops.frag-duplicate': 1, 'ip.reassembled': 1 },
    replies: [echoReply(ECHO_ID, 32)],
  },
  {
    name: 'ping of death: a fragment ending past 65 535 bytes',
    must: 'drop that fragment, count ip.drops.bad-fragment, no reply',
    packets: [
      firstFragmentOfBigPing(0x8181),
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: new Uint8Array(64),
        id: 0x8181,
        fragOffset: 65_528,
      }),
    ],
    counts: { 'ip.drops.bad-fragment': 1, 'ip.reassembled': 0, 'ip.rxFragments': 2 },
    replies: SILENT,
  },
  {
    name: 'a fragment with no data',
    must: 'drop, count ip.drops.bad-fragment',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: new Uint8Array(0),
        id: 0x9191,
        mf: true,
      }),
    ],
    counts: { 'ip.drops.bad-fragment': 1 },
    replies: SILENT,
  },
  {
    name: 'a middle fragment whose length is not a multiple of 8',
    must: 'drop, count ip.drops.bad-fragment',
    packets: [
      ipv4({
        src: PEER,
        dst: STACK_ADDR,
        protocol: PROTO_ICMP,
        payload: new Uint8Array(13),
        id: 0xa1a1,
        mf: true,
      }),
    ],
    counts: { 'ip.drops.bad-fragment': 1 },
    replies: SILENT,
  },
];

/** Every case, by group, for the test file. */
export const CATALOGUE: Record<string, HostileCase[]> = {
  'IP header': IP_HEADER_CASES,
  'IP options': IP_OPTION_CASES,
  'UDP, ICMP and TCP headers': TRANSPORT_CASES,
  'TCP options and flags': TCP_CASES,
  'martian sources and LAND': MARTIAN_CASES,
  fragments: FRAGMENT_CASES,
};
