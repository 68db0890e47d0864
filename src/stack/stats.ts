/**
 * `stack.stats`: plain nested counters, one object per layer, numbers only, so they print, diff
 * and serialise as they are. Drop counters are keyed by the reason string the codec or layer
 * reported ('bad-checksum', 'no-port', …).
 */
import { createIcmpStats, type IcmpStats } from '../icmp/icmp.ts';
import { createIcmp6Stats, type Icmp6Stats } from '../icmp/icmp6.ts';
import { createIpStats, type IpStats } from '../ip/stats.ts';
import { createIp6Stats, type Ip6Stats } from '../ip/stats6.ts';
import { createUdpStats, type UdpStats } from '../udp/udp.ts';
import { createPathMtuStats, type PathMtuStats } from './pmtu.ts';
import type { TimerStats } from './timers.ts';

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Exceptions caught at the link boundary (a bug above, or a throwing user callback). */
  rxErrors: number;
  /** Datagrams to our own address, looped back without touching the link. */
  loopbackPackets: number;
  /** Looped-back datagrams dropped because the loopback queue was full. */
  loopbackDrops: number;
  /** Packets the link marked RxFlag.CsumTrusted: TCP/UDP checksums not verified (offload). */
  rxCsumTrusted: number;
  /** Packets larger than the MTU: TCP segments of a segmentation-offloading link. */
  rxLarge: number;
  /** TCP super-segments sent to a TSO link, and the MTU-sized segments they stand for. */
  txGsoPackets: number;
  txGsoSegments: number;
}

export const TCP_DROP_REASONS = [
  'truncated',
  'bad-offset',
  'bad-checksum',
  'bad-flags',
  'bad-options',
] as const;
export type TcpDropReason = (typeof TCP_DROP_REASONS)[number];

/**
 * The TCP slot: what the stack itself counts for TCP. The TCP integration adds its own
 * counters beside these (connections, retransmits, …).
 */
export interface TcpStackStats {
  /** Segments that checked and parsed. */
  rxSegments: number;
  /** Parsed segments with no TCP handler registered: answered with nothing. */
  rxUnhandled: number;
  txSegments: number;
  drops: Record<TcpDropReason, number>;
  [counter: string]: unknown;
}

export interface StackStats {
  link: LinkStats;
  ip: IpStats;
  icmp: IcmpStats;
  /** IPv6 and ICMPv6 (all zero when the stack has no IPv6 address). */
  ip6: Ip6Stats;
  icmp6: Icmp6Stats;
  udp: UdpStats;
  tcp: TcpStackStats;
  /** Datagrams for protocols nobody handles (answered with ICMP protocol unreachable). */
  unknownProtocol: number;
  /** The timer queue's bounds (src/stack/timers.ts). */
  timers: TimerStats;
  /** The path-MTU table (src/stack/pmtu.ts): both families. */
  pmtu: PathMtuStats;
}

export function createStackStats(): StackStats {
  const tcpDrops = {} as Record<TcpDropReason, number>;
  for (const r of TCP_DROP_REASONS) tcpDrops[r] = 0;
  return {
    link: {
      rxPackets: 0,
      rxBytes: 0,
      txPackets: 0,
      txBytes: 0,
      rxErrors: 0,
      loopbackPackets: 0,
      loopbackDrops: 0,
      rxCsumTrusted: 0,
      rxLarge: 0,
      txGsoPackets: 0,
      txGsoSegments: 0,
    },
    ip: createIpStats(),
    icmp: createIcmpStats(),
    ip6: createIp6Stats(),
    icmp6: createIcmp6Stats(),
    udp: createUdpStats(),
    tcp: { rxSegments: 0, rxUnhandled: 0, txSegments: 0, drops: tcpDrops },
    unknownProtocol: 0,
    timers: { runsBounded: 0 },
    pmtu: createPathMtuStats(),
  };
}
