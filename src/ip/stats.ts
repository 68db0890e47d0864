/**
 * Counters for the IP layer: plain numbers in a plain object, so that `stack.stats` can be printed,
 * diffed in tests and serialised for `tunstack stats` as it is.
 */

/** Every reason the IP layer drops a datagram, in or out. Each is a key of `IpStats.drops`. */
export const IP_DROP_REASONS = [
  // Ipv4View.check
  'truncated',
  'bad-version',
  'bad-ihl',
  'bad-length',
  'bad-checksum',
  'bad-options',
  // input policy: martian sources (Linux's ip_route_input_slow drops these as "martian source")
  'martian-own-address',
  'martian-loopback',
  'martian-this-network',
  'martian-multicast',
  'martian-class-e',
  'martian-broadcast',
  'not-our-address',
  // fragments
  'bad-fragment',
  'frag-overlap',
  'frag-duplicate',
  'frag-memory',
  'frag-timeout',
  // output
  'tx-too-big',
] as const;

export type IpDropReason = (typeof IP_DROP_REASONS)[number];

export interface IpStats {
  /** Packets handed to input, valid or not. */
  rxPackets: number;
  /** Datagrams delivered to a protocol (a reassembled datagram counts once). */
  rxDelivered: number;
  /** Packets whose header carried options, skipped by IHL (RFC 1122 §3.2.1.8 lets us ignore them). */
  rxOptionsSkipped: number;
  rxFragments: number;
  reassembled: number;
  /** Datagrams handed to output, and packets actually sent (fragments count one each). */
  txDatagrams: number;
  txPackets: number;
  txFragmented: number;
  drops: Record<IpDropReason, number>;
}

/** A counter per key, all zero: the `drops` table of a layer's stats, from its list of reasons. */
export function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  const counts = {} as Record<K, number>;
  for (const k of keys) counts[k] = 0;
  return counts;
}

export function createIpStats(): IpStats {
  return {
    rxPackets: 0,
    rxDelivered: 0,
    rxOptionsSkipped: 0,
    rxFragments: 0,
    reassembled: 0,
    txDatagrams: 0,
    txPackets: 0,
    txFragmented: 0,
    drops: zeroCounts(IP_DROP_REASONS),
  };
}
