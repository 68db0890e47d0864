/**
 * Counters for IPv6 (`stack.stats.ip6`), beside IPv4's `stack.stats.ip`: plain numbers in a plain
 * object, as stats.ts has them.
 */
import { zeroCounts } from './stats.ts';

/** Every reason IPv6 drops a packet, in or out. Each is a key of `Ip6Stats.drops`. */
export const IP6_DROP_REASONS = [
  // Ipv6View.check
  'truncated',
  'bad-version',
  'bad-length',
  // input policy (RFC 4291: addresses that may not be a source; Linux's ip6_rcv_core drops these)
  'not-our-address',
  'martian-own-address',
  'martian-loopback',
  'martian-multicast',
  'martian-v4mapped',
  // from :: (RFC 4291 §2.5.2), unless Neighbor Discovery or MLD (ignored anyway)
  'martian-unspecified',
  // the extension-header chain (src/wire/ipv6.ts walkIpv6Chain)
  'ext-truncated',
  'ext-too-many',
  'hbh-not-first',
  'bad-options',
  'too-many-options',
  'option-discard',
  'option-unrecognised',
  'routing-type0',
  'routing-unsupported',
  // fragments (the reassembler's, and a fragment header inside a reassembled payload)
  'bad-fragment',
  'frag-overlap',
  'frag-duplicate',
  'frag-memory',
  'frag-timeout',
  'frag-incomplete-chain',
  // delivery: what no upper layer takes
  'unknown-next-header',
  'no-next-header',
  'multicast-not-joined',
  // output
  'tx-too-big',
] as const;

export type Ip6DropReason = (typeof IP6_DROP_REASONS)[number];

export interface Ip6Stats {
  /** Packets handed to IPv6 input, valid or not. */
  rxPackets: number;
  /** Packets delivered to an upper layer (a reassembled one counts once). */
  rxDelivered: number;
  /** Packets to a multicast address (the kernel's ND and MLD), delivered to ICMPv6 only. */
  rxMulticast: number;
  /** Packets that carried extension headers (walked, RFC 8200 §4). */
  rxExtensionHeaders: number;
  rxFragments: number;
  /** Fragment headers with offset 0 and M clear, taken as unfragmented (RFC 6946). */
  rxAtomicFragments: number;
  reassembled: number;
  txDatagrams: number;
  txPackets: number;
  txFragmented: number;
  drops: Record<Ip6DropReason, number>;
}

export function createIp6Stats(): Ip6Stats {
  return {
    rxPackets: 0,
    rxDelivered: 0,
    rxMulticast: 0,
    rxExtensionHeaders: 0,
    rxFragments: 0,
    rxAtomicFragments: 0,
    reassembled: 0,
    txDatagrams: 0,
    txPackets: 0,
    txFragmented: 0,
    drops: zeroCounts(IP6_DROP_REASONS),
  };
}
