/**
 * The catalogue of malformed and hostile IPv6 packets (issue 12 item 8; the IPv6 half of
 * ./catalogue.ts): each case is a few hand-built packets, the counters of `stack.stats` that must
 * grow and by exactly how much, and the stack's replies, exactly. hostile-ipv6.test.ts writes
 * each onto the kernel's side of tun0 unchanged and checks both, then that the stack still
 * serves both families.
 *
 * Packets come from PEER6 (fd00::99), on the device's prefix but not the namespace kernel's:
 * the stack's replies to it go into the device, where the kernel, forwarding off, drops them.
 * The kernel sends ND and MLD of its own into the device while the tests run (IPv6 is on), so
 * no case counts what those move (ip6.rxPackets, icmp6.rxMessages, …) exactly; the ND/MLD cases
 * use `atLeast` for theirs. What Linux does is named where the expectation follows it.
 */
import { STACK_ADDR6 } from '../harness.ts';
import { F } from './packets.ts';
import {
  type Ext,
  echo6,
  fragmentExt,
  fragments6,
  hex6,
  icmp6Message,
  ipv6,
  NH,
  optionsExt,
  type ParsedReply6,
  routingExt,
  tcp6,
  tcp6Segment,
  udp6,
} from './packets6.ts';

export const PEER6 = 'fd00::99';
const PEER6_HEX = hex6(PEER6);
export const OPEN = 80;
export const CLOSED = 81;
export const ECHO = 7;
const ISN = 0x7fff_fff0;

export interface ReplyMatcher6 {
  what: string;
  match(r: ParsedReply6): boolean;
}

export interface HostileCase6 {
  name: string;
  must: string;
  packets: Uint8Array[];
  /** Paths into stack.stats and exactly how much each must grow (0: must not move). */
  counts: Record<string, number>;
  /** Paths that must grow by at least this much (counters the kernel's own ND/MLD move too). */
  atLeast?: Record<string, number>;
  /** The stack's IPv6 replies to PEER6 (and to this case's TCP ports), exactly these, in order. */
  replies: ReplyMatcher6[];
}

const SILENT: ReplyMatcher6[] = [];

function toPeer(r: ParsedReply6): boolean {
  return r.dst === PEER6_HEX;
}

export function echoReply6(id: number, dataLength: number): ReplyMatcher6 {
  return {
    what: `echo reply id=${id} with ${dataLength} data bytes`,
    match: (r) =>
      toPeer(r) &&
      r.icmpType === 129 &&
      r.icmpRest! >>> 16 === id &&
      r.icmpBody!.length === dataLength,
  };
}

/** An ICMPv6 error of `type`/`code` (and `rest`: a Parameter Problem's pointer) quoting `quoted`. */
export function icmp6Error(
  type: number,
  code: number,
  rest: number,
  quoted?: Uint8Array,
): ReplyMatcher6 {
  return {
    what: `ICMPv6 ${type}/${code} rest=${rest}${quoted ? ` quoting the ${quoted.length}-byte packet` : ''}`,
    match: (r) =>
      toPeer(r) &&
      r.icmpType === type &&
      r.icmpCode === code &&
      r.icmpRest === rest &&
      (quoted === undefined ||
        Buffer.from(r.icmpBody!).equals(Buffer.from(quoted.subarray(0, r.icmpBody!.length)))),
  };
}

const paramProblem = (code: number, pointer: number, quoted?: Uint8Array) =>
  icmp6Error(4, code, pointer, quoted);

export function rstAck6(dport: number, ack: number): ReplyMatcher6 {
  return {
    what: `RST,ACK to ${dport} ack=${ack >>> 0}`,
    match: (r) =>
      toPeer(r) && r.dport === dport && r.flags === (F.RST | F.ACK) && r.ack === ack >>> 0,
  };
}

export function synAck6(dport: number, ack: number): ReplyMatcher6 {
  return {
    what: `SYN,ACK to ${dport} ack=${ack >>> 0}`,
    match: (r) =>
      toPeer(r) && r.dport === dport && r.flags === (F.SYN | F.ACK) && r.ack === ack >>> 0,
  };
}

export function udpTo6(dport: number, length: number): ReplyMatcher6 {
  return {
    what: `UDP to ${dport} with ${length} bytes`,
    match: (r) => toPeer(r) && r.next === NH.Udp && r.dport === dport && r.payloadLength === length,
  };
}

let nextPort = 43_000;
/** A source port no other case uses (in either catalogue). */
const freshPort = (): number => nextPort++;

/**
 * The catalogue with the packets addressed to `US`: the stack's fd00::2 (CATALOGUE6), or the
 * namespace kernel's fd00::1, to see what Linux answers to the same packets.
 */
export function catalogue6(US: string): Record<string, HostileCase6[]> {
  // ---------------------------------------------------------------------------------------------
  // Building blocks

  const ECHO_ID = 0x6666;
  const DATA32 = new Uint8Array(32).fill(0x61);
  const ping = (ip: Parameters<typeof echo6>[5] = {}, src: string = PEER6, dst: string = US) =>
    echo6(src, dst, ECHO_ID, 1, DATA32, ip);
  const echoMsg = () => icmp6Message(PEER6, US, 128, 0, (ECHO_ID << 16) | 1, DATA32);
  const pingWith = (exts: Ext[]) => ping({ exts });

  /** A Destination Unreachable (port unreachable) from PEER6 quoting a made-up UDP datagram. */
  const unreachMsg = () =>
    icmp6Message(PEER6, US, 1, 4, 0, udp6({ src: US, dst: PEER6, sport: 7, dport: 9 }));

  // ---------------------------------------------------------------------------------------------
  // The catalogue

  const HEADER_CASES6: HostileCase6[] = [
    {
      name: 'version 7 in the first nibble',
      must: 'drop (neither 4 nor 6: IPv4 input counts it), count ip.drops.bad-version',
      packets: [ping({ version: 7 })],
      counts: { 'ip.drops.bad-version': 1, 'icmp6.txEchoReplies': 0 },
      replies: SILENT,
    },
    {
      name: 'Payload Length beyond the packet',
      must: 'drop, count ip6.drops.bad-length',
      packets: [ping({ payloadLength: 40 + 100 })],
      counts: { 'ip6.drops.bad-length': 1, 'icmp6.rxEchoRequests': 0 },
      replies: SILENT,
    },
    {
      name: 'a fixed header cut at 39 bytes',
      must: 'drop, count ip6.drops.truncated',
      packets: [ping().subarray(0, 39)],
      counts: { 'ip6.drops.truncated': 1 },
      replies: SILENT,
    },
    {
      name: 'bytes past Payload Length (link padding)',
      must: 'ignore the trailer, answer the echo with exactly its 32 data bytes',
      packets: [
        (() => {
          const p = ping();
          const padded = new Uint8Array(p.length + 24).fill(0xee);
          padded.set(p);
          return padded;
        })(),
      ],
      counts: { 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'Payload Length 0 on a packet with a payload (a jumbogram without its option)',
      must: 'take an empty payload: ICMPv6 counts it truncated (no jumbograms, RFC 2675)',
      packets: [ping({ payloadLength: 0 })],
      counts: { 'icmp6.drops.truncated': 1, 'icmp6.rxEchoRequests': 0 },
      replies: SILENT,
    },
    {
      name: 'destination not ours (fd00::3)',
      must: 'drop, count ip6.drops.not-our-address',
      packets: [ping({}, PEER6, 'fd00::3')],
      counts: { 'ip6.drops.not-our-address': 1 },
      replies: SILENT,
    },
    {
      name: 'hop limit 0 to us',
      must: 'answer (only routers discard at 0, RFC 8200 §3; Linux answers too)',
      packets: [ping({ hopLimit: 0 })],
      counts: { 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'echo request to all nodes (ff02::1)',
      must: 'not answer (icmp6.rxEchoMulticastIgnored)',
      packets: [ping({}, PEER6, 'ff02::1')],
      counts: { 'icmp6.rxEchoMulticastIgnored': 1, 'icmp6.txEchoReplies': 0 },
      replies: SILENT,
    },
    {
      name: 'UDP to a group we never joined (ff02::1)',
      must: 'drop, count ip6.drops.multicast-not-joined',
      packets: [udp6({ src: PEER6, dst: 'ff02::1', sport: 5000, dport: ECHO })],
      counts: { 'ip6.drops.multicast-not-joined': 1, 'icmp6.txDestUnreachable': 0 },
      replies: SILENT,
    },
  ];

  const MARTIAN_CASES6: HostileCase6[] = (
    [
      ['::1', 'martian-loopback'],
      ['ff02::1', 'martian-multicast'],
      [US, 'martian-own-address'],
      ['::ffff:10.0.0.1', 'martian-v4mapped'],
      ['::', 'martian-unspecified'],
    ] as const
  ).map(([src, reason]) => ({
    name: `echo request from ${src}`,
    must: `drop, count ip6.drops.${reason}, no reply (nothing goes to ${src})`,
    packets: [echo6(src, US, ECHO_ID, 1, DATA32)],
    counts: { [`ip6.drops.${reason}`]: 1, 'icmp6.txMessages': 0, 'link.loopbackPackets': 0 },
    replies: SILENT,
  }));

  const deepChain = (n: number): Ext[] => Array.from({ length: n }, () => optionsExt([]));

  const EXTENSION_CASES6: HostileCase6[] = [
    {
      name: '9 Destination Options headers (more than ip6.walk.maxExtensionHeaders 8)',
      must: 'drop, count ip6.drops.ext-too-many',
      packets: [pingWith(deepChain(9))],
      counts: { 'ip6.drops.ext-too-many': 1, 'icmp6.rxEchoRequests': 0 },
      replies: SILENT,
    },
    {
      name: '8 Destination Options headers (the bound itself)',
      must: 'walk them and answer the echo',
      packets: [pingWith(deepChain(8))],
      counts: { 'ip6.drops.ext-too-many': 0, 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'an extension header whose length runs past the packet',
      must: 'drop, count ip6.drops.ext-truncated',
      packets: [
        ipv6({
          src: PEER6,
          dst: US,
          next: NH.NoNext,
          payload: new Uint8Array(0),
          exts: [optionsExt([], 60, 40)],
        }),
      ],
      counts: { 'ip6.drops.ext-truncated': 1 },
      replies: SILENT,
    },
    (() => {
      const p = pingWith([optionsExt([]), optionsExt([], NH.HopByHop)]);
      return {
        name: 'Hop-by-Hop after a Destination Options header',
        must: 'Parameter Problem code 1 pointing at the Next Header that named it (RFC 8200 §4.1)',
        packets: [p],
        counts: { 'ip6.drops.hbh-not-first': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(1, 40, p)],
      };
    })(),
    (() => {
      const p = pingWith([routingExt(0, 1)]);
      return {
        name: 'Routing header type 0 with segments left (RFC 5095)',
        must: 'Parameter Problem code 0 at the Routing Type, count ip6.drops.routing-type0',
        packets: [p],
        counts: { 'ip6.drops.routing-type0': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(0, 42, p)],
      };
    })(),
    {
      name: 'Routing header type 0 with segments left 0',
      must: 'skip it (RFC 8200 §4.4) and answer the echo',
      packets: [pingWith([routingExt(0, 0)])],
      counts: { 'ip6.drops.routing-type0': 0, 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    (() => {
      const p = pingWith([routingExt(4, 1)]);
      return {
        name: 'Segment Routing header (type 4) with segments left',
        must: 'Parameter Problem code 0 at the Routing Type (a host routes nowhere)',
        packets: [p],
        counts: { 'ip6.drops.routing-unsupported': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(0, 42, p)],
      };
    })(),
    (() => {
      const p = ipv6({ src: PEER6, dst: US, next: 253, payload: new Uint8Array(16) });
      return {
        name: 'unknown Next Header 253',
        must: 'Parameter Problem code 1 at the Next Header field (byte 6)',
        packets: [p],
        counts: { 'ip6.drops.unknown-next-header': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(1, 6, p)],
      };
    })(),
    (() => {
      const p = ipv6({
        src: PEER6,
        dst: US,
        next: NH.Esp,
        payload: new Uint8Array(24),
        exts: [optionsExt([])],
      });
      return {
        name: 'ESP (50) behind a Destination Options header',
        must: 'Parameter Problem code 1 at the Destination header’s Next Header (offset 40): no ESP here',
        packets: [p],
        counts: { 'ip6.drops.unknown-next-header': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(1, 40, p)],
      };
    })(),
    {
      name: 'No Next Header (59) with bytes after it',
      must: 'ignore the bytes, count ip6.drops.no-next-header',
      packets: [
        ipv6({ src: PEER6, dst: US, next: NH.NoNext, payload: new Uint8Array(20).fill(9) }),
      ],
      counts: { 'ip6.drops.no-next-header': 1, 'icmp6.txMessages': 0 },
      replies: SILENT,
    },
    {
      name: 'unknown option, action 00',
      must: 'skip it and answer the echo (RFC 8200 §4.2)',
      packets: [pingWith([optionsExt([0x1e, 0])])],
      counts: { 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'unknown option, action 01',
      must: 'discard silently, count ip6.drops.option-discard',
      packets: [pingWith([optionsExt([0x5e, 0])])],
      counts: { 'ip6.drops.option-discard': 1, 'icmp6.txMessages': 0 },
      replies: SILENT,
    },
    (() => {
      const p = pingWith([optionsExt([0x9e, 0])]);
      return {
        name: 'unknown option, action 10',
        must: 'discard, Parameter Problem code 2 pointing at the option',
        packets: [p],
        counts: { 'ip6.drops.option-unrecognised': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(2, 42, p)],
      };
    })(),
    (() => {
      const p = ping({ exts: [optionsExt([0x9e, 0])] }, PEER6, 'ff02::1');
      return {
        name: 'unknown option, action 10, to all nodes (ff02::1)',
        must: 'Parameter Problem code 2 even to a multicast destination (RFC 8200 §4.2)',
        packets: [p],
        counts: { 'ip6.drops.option-unrecognised': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(2, 42, p)],
      };
    })(),
    {
      name: 'unknown option, action 11, to all nodes (ff02::1)',
      must: 'discard without a word (11: a Parameter Problem only when not to multicast), count ip6.drops.option-discard',
      packets: [ping({ exts: [optionsExt([0xde, 0])] }, PEER6, 'ff02::1')],
      counts: { 'ip6.drops.option-discard': 1, 'icmp6.txMessages': 0 },
      replies: SILENT,
    },
    {
      name: 'an option whose length runs past its header',
      must: 'drop, count ip6.drops.bad-options',
      packets: [pingWith([optionsExt([0x1e, 30])])],
      counts: { 'ip6.drops.bad-options': 1, 'icmp6.rxEchoRequests': 0 },
      replies: SILENT,
    },
    {
      name: '9 skippable options in one header (more than ip6.walk.maxOptions 8)',
      must: 'drop, count ip6.drops.too-many-options (as Linux’s max_dst_opts_number)',
      packets: [pingWith([optionsExt(new Array(9).fill([0x1e, 0]).flat())])],
      counts: { 'ip6.drops.too-many-options': 1, 'icmp6.rxEchoRequests': 0 },
      replies: SILENT,
    },
    {
      name: 'an ICMPv6 error behind an option that asks for a Parameter Problem',
      must: 'discard, no error about an error (RFC 4443 §2.4 (e.1), as Linux): icmp6.txSuppressed',
      packets: [
        ipv6({
          src: PEER6,
          dst: US,
          next: NH.Icmpv6,
          payload: unreachMsg(),
          exts: [optionsExt([0x9e, 0])],
        }),
      ],
      counts: {
        'ip6.drops.option-unrecognised': 1,
        'icmp6.txSuppressed': 1,
        'icmp6.txMessages': 0,
      },
      replies: SILENT,
    },
  ];

  const echoFrags6 = (pieces: { offset: number; length: number; mf?: boolean }[], id: number) =>
    fragments6({ src: PEER6, dst: US, next: NH.Icmpv6 }, echoMsg(), pieces, id);

  const FRAGMENT_CASES6: HostileCase6[] = [
    {
      name: 'an atomic fragment (offset 0, M clear)',
      must: 'take it as unfragmented (RFC 6946) and answer',
      packets: [pingWith([fragmentExt(0, false, 0xa70a)])],
      counts: { 'ip6.rxAtomicFragments': 1, 'ip6.reassembled': 0, 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'tiny fragments: an echo request in 8-byte pieces',
      must: 'reassemble and answer (the first holds the whole ICMPv6 header)',
      packets: echoFrags6(
        [0, 8, 16, 24, 32].map((offset) => ({ offset, length: 8 })),
        0x6001,
      ),
      counts: { 'ip6.rxFragments': 5, 'ip6.reassembled': 1, 'icmp6.txEchoReplies': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    {
      name: 'overlapping fragments (the second starts inside the first)',
      must: 'drop the whole datagram (RFC 5722), count ip6.drops.frag-overlap, no reply',
      packets: echoFrags6(
        [
          { offset: 0, length: 16, mf: true },
          { offset: 8, length: 32, mf: false },
        ],
        0x6002,
      ),
      counts: { 'ip6.drops.frag-overlap': 1, 'ip6.reassembled': 0 },
      replies: SILENT,
    },
    {
      name: 'a duplicated fragment',
      must: 'ignore the exact copy (ip6.drops.frag-duplicate), reassemble and answer',
      packets: (() => {
        const f = echoFrags6(
          [
            { offset: 0, length: 16 },
            { offset: 16, length: 24 },
          ],
          0x6003,
        );
        return [f[0], f[0], f[1]];
      })(),
      counts: { 'ip6.drops.frag-duplicate': 1, 'ip6.reassembled': 1 },
      replies: [echoReply6(ECHO_ID, 32)],
    },
    (() => {
      const [p] = echoFrags6([{ offset: 0, length: 13, mf: true }], 0x6004);
      return {
        name: 'a non-final fragment whose length is not a multiple of 8',
        must: 'Parameter Problem code 0 at Payload Length (RFC 8200 §4.5), count bad-fragment',
        packets: [p],
        counts: { 'ip6.drops.bad-fragment': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(0, 4, p)],
      };
    })(),
    (() => {
      const p = ipv6({
        src: PEER6,
        dst: US,
        next: NH.Icmpv6,
        payload: new Uint8Array(64),
        exts: [fragmentExt(65_528, false, 0x6005)],
      });
      return {
        name: 'a fragment that would end past 65 535 bytes (the ping of death)',
        must: 'Parameter Problem code 0 at the Fragment Offset field (offset 42)',
        packets: [p],
        counts: {
          'ip6.drops.bad-fragment': 1,
          'ip6.reassembled': 0,
          'icmp6.txParameterProblem': 1,
        },
        replies: [paramProblem(0, 42, p)],
      };
    })(),
    (() => {
      const s = tcp6Segment({
        src: PEER6,
        dst: US,
        sport: 40_100,
        dport: CLOSED,
        flags: 'S',
        seq: ISN,
      });
      const [first] = fragments6(
        { src: PEER6, dst: US, next: NH.Tcp },
        s,
        [
          { offset: 0, length: 8 },
          { offset: 8, length: 12 },
        ],
        0x6006,
      );
      return {
        name: 'a first fragment holding 8 bytes of a TCP header (RFC 7112: the chain must be whole)',
        must: 'Parameter Problem code 3, pointer 0 (as Linux), count frag-incomplete-chain',
        packets: [first],
        counts: { 'ip6.drops.frag-incomplete-chain': 1, 'icmp6.txParameterProblem': 1 },
        replies: [paramProblem(3, 0, first)],
      };
    })(),
  ];

  const TRANSPORT_CASES6: HostileCase6[] = [
    {
      name: 'ICMPv6 echo with a bad checksum',
      must: 'drop, count icmp6.drops.bad-checksum, no reply',
      packets: [
        ipv6({
          src: PEER6,
          dst: US,
          next: NH.Icmpv6,
          payload: icmp6Message(PEER6, US, 128, 0, 1, DATA32, 0xbeef),
        }),
      ],
      counts: { 'icmp6.drops.bad-checksum': 1, 'icmp6.txMessages': 0 },
      replies: SILENT,
    },
    {
      name: 'ICMPv6 message of 3 bytes',
      must: 'drop, count icmp6.drops.truncated',
      packets: [
        ipv6({ src: PEER6, dst: US, next: NH.Icmpv6, payload: new Uint8Array([128, 0, 0]) }),
      ],
      counts: { 'icmp6.drops.truncated': 1 },
      replies: SILENT,
    },
    {
      name: 'UDP with checksum 0 (none is not allowed over IPv6, RFC 8200 §8.1)',
      must: 'drop, count udp.drops.bad-checksum, no echo',
      packets: [
        udp6({ src: PEER6, dst: US, sport: 5000, dport: ECHO, payload: DATA32, checksum: 0 }),
      ],
      counts: { 'udp.drops.bad-checksum': 1 },
      replies: SILENT,
    },
    (() => {
      const p = udp6({ src: PEER6, dst: US, sport: 5000, dport: 9999, payload: DATA32 });
      return {
        name: 'UDP to a closed port',
        must: 'ICMPv6 Destination Unreachable code 4 (port unreachable) quoting it',
        packets: [p],
        counts: { 'udp.drops.no-port': 1, 'icmp6.txDestUnreachable': 1 },
        replies: [icmp6Error(1, 4, 0, p)],
      };
    })(),
    {
      name: 'UDP to the echo port',
      must: 'echo the 32 bytes back',
      packets: [udp6({ src: PEER6, dst: US, sport: 5001, dport: ECHO, payload: DATA32 })],
      counts: { 'udp.rxDelivered': 1 },
      replies: [udpTo6(5001, 32)],
    },
    (() => {
      const sport = freshPort();
      return {
        name: 'SYN to a closed port',
        must: 'RST,ACK <SEQ=0><ACK=SEG.SEQ+1> over IPv6',
        packets: [tcp6({ src: PEER6, dst: US, sport, dport: CLOSED, flags: 'S', seq: ISN })],
        counts: { 'tcp.layer.noPort': 1, 'tcp.layer.resetsSent': 1 },
        replies: [rstAck6(sport, ISN + 1)],
      };
    })(),
    (() => {
      const sport = freshPort();
      return {
        name: 'SYN to port 80',
        must: 'SYN-ACK over IPv6',
        packets: [
          tcp6({
            src: PEER6,
            dst: US,
            sport,
            dport: OPEN,
            flags: 'S',
            seq: ISN,
            options: [2, 4, 5, 0xa0],
          }),
        ],
        counts: { 'tcp.layer.passiveOpens': 1 },
        replies: [synAck6(sport, ISN + 1)],
      };
    })(),
    {
      name: 'SYN with a bad checksum',
      must: 'drop, count tcp.drops.bad-checksum, no SYN-ACK',
      packets: [
        tcp6({
          src: PEER6,
          dst: US,
          sport: freshPort(),
          dport: OPEN,
          flags: 'S',
          seq: ISN,
          checksum: 0xdead,
        }),
      ],
      counts: { 'tcp.drops.bad-checksum': 1, 'tcp.layer.passiveOpens': 0 },
      replies: SILENT,
    },
    {
      name: 'SYN+FIN to a listener',
      must: 'drop, count tcp.drops.bad-flags',
      packets: [
        tcp6({ src: PEER6, dst: US, sport: freshPort(), dport: OPEN, flags: 'SF', seq: ISN }),
      ],
      counts: { 'tcp.drops.bad-flags': 1, 'tcp.layer.passiveOpens': 0 },
      replies: SILENT,
    },
  ];

  /** Neighbor Discovery and MLD, as a kernel or a router would send them: counted, ignored. */
  const NDP_MLD_CASES6: HostileCase6[] = [
    {
      name: 'Neighbor Solicitation, Router Advertisement, Redirect and a Router Solicitation from fe80::1',
      must: 'ignore all four (no link layer on a TUN device), count icmp6.rxNdIgnored',
      packets: [135, 134, 137, 133].map((type) =>
        ipv6({
          src: 'fe80::1',
          dst: type === 133 ? 'ff02::2' : type === 134 ? 'ff02::1' : US,
          next: NH.Icmpv6,
          hopLimit: 255,
          payload: icmp6Message(
            'fe80::1',
            type === 133 ? 'ff02::2' : type === 134 ? 'ff02::1' : US,
            type,
            0,
            0,
            new Uint8Array(24),
          ),
        }),
      ),
      counts: { 'icmp6.txMessages': 0 },
      atLeast: { 'icmp6.rxNdIgnored': 4 },
      replies: SILENT,
    },
    {
      name: 'an MLD query and an MLDv2 report, Hop-by-Hop with Router Alert',
      must: 'ignore both (we join no group), count icmp6.rxMldIgnored',
      packets: [
        [130, 'ff02::1'],
        [143, 'ff02::16'],
      ].map(([type, dst]) =>
        ipv6({
          src: 'fe80::1',
          dst: dst as string,
          next: NH.Icmpv6,
          hopLimit: 1,
          exts: [optionsExt([5, 2, 0, 0], NH.HopByHop)],
          payload: icmp6Message('fe80::1', dst as string, type as number, 0, 0, new Uint8Array(20)),
        }),
      ),
      counts: { 'icmp6.txMessages': 0 },
      atLeast: { 'icmp6.rxMldIgnored': 2 },
      replies: SILENT,
    },
  ];

  return {
    'IPv6 header': HEADER_CASES6,
    'IPv6 martian sources': MARTIAN_CASES6,
    'IPv6 extension headers': EXTENSION_CASES6,
    'IPv6 fragments': FRAGMENT_CASES6,
    'ICMPv6, UDP and TCP over IPv6': TRANSPORT_CASES6,
    'ND and MLD noise': NDP_MLD_CASES6,
  };
}

export const CATALOGUE6 = catalogue6(STACK_ADDR6);
