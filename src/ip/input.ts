/**
 * IPv4 input (RFC 1122 §3.2.1): validate, filter by address, reassemble, and say which protocol
 * gets the datagram. Every drop is counted by reason in `IpStats.drops`; nothing here throws.
 */
import { Ipv4View } from '../wire/ipv4.ts';
import { ParseError } from '../wire/parse-error.ts';
import { Reassembler, type ReassemblyOptions } from './reassembly.ts';
import type { IpDropReason, IpStats } from './stats.ts';

export const LIMITED_BROADCAST = 0xffffffff;

/**
 * One received datagram, whole. The object is reused: it is valid until the next `receive`, and
 * its byte views until the link callback that delivered the packet returns.
 */
export interface IpDatagram {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  /**
   * The TOS byte (DSCP and, in its low two bits, the ECN field of RFC 3168 §5); for a reassembled
   * datagram, the first fragment's.
   */
  tos: number;
  /** Sent to the limited broadcast address: never answered with an ICMP error or echo. */
  broadcast: boolean;
  /** Put together from fragments. */
  reassembled: boolean;
  /**
   * The link vouched for the transport checksum (RxFlag.CsumTrusted: a partial checksum made by
   * the host behind a TUN device with checksum offload): TCP and UDP must not verify it.
   */
  csumTrusted: boolean;
  /** The IP header as received (options included); for a reassembled datagram, the first fragment's. */
  header: Uint8Array;
  payload: Uint8Array;
}

export interface IpInputOptions {
  /** Our address. */
  address: number;
  reassembly?: ReassemblyOptions;
}

/** Why a source address is martian, by the IP drop reason it is counted under. */
export type MartianReason = Extract<IpDropReason, `martian-${string}`>;

/**
 * The reason a datagram from the link may not carry `src` as its source, or null when it may
 * (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7, and Linux's input routing, which drops the same as
 * "martian source"): our own address (a packet from the wire claiming to be from us: the LAND
 * attack, answered it would make the stack talk to itself), loopback 127/8, "this network" 0/8,
 * multicast 224/4, class E 240/4 and the limited broadcast address.
 */
export function martianSource(src: number, ourAddress: number): MartianReason | null {
  if (src === ourAddress) return 'martian-own-address';
  if (src === LIMITED_BROADCAST) return 'martian-broadcast';
  const top = src >>> 24;
  if (top === 127) return 'martian-loopback';
  if (top === 0) return 'martian-this-network';
  if (top >= 224 && top <= 239) return 'martian-multicast';
  if (top >= 240) return 'martian-class-e';
  return null;
}

export class IpInput {
  readonly reassembler: Reassembler;
  /**
   * Take datagrams to any destination, not only ours: a relay answers for every address behind
   * its device (Stack.acceptAnyDestination). Off by default, as a host (RFC 1122 §3.2.1.3).
   */
  anyDestination = false;
  private readonly address: number;
  private readonly out: IpDatagram = {
    src: 0,
    dst: 0,
    protocol: 0,
    ttl: 0,
    tos: 0,
    broadcast: false,
    reassembled: false,
    csumTrusted: false,
    header: new Uint8Array(0),
    payload: new Uint8Array(0),
  };

  constructor(
    options: IpInputOptions,
    private readonly stats: IpStats,
  ) {
    this.address = options.address;
    this.reassembler = new Reassembler(options.reassembly ?? {}, stats);
  }

  /**
   * One packet from the link. Returns the datagram for a protocol to handle, or null when it was
   * dropped (counted) or is a fragment still waiting for the rest. `csumTrusted`: the link's
   * RxFlag.CsumTrusted (never kept for a datagram put together from fragments). `looped`: the
   * datagram is one of ours sent to our own address (Stack's loopback), so its source is ours.
   */
  receive(bytes: Uint8Array, now: number, csumTrusted = false, looped = false): IpDatagram | null {
    this.stats.rxPackets++;
    let ip = Ipv4View.check(bytes);
    if (ip instanceof ParseError) return this.drop(ip.reason);
    const dst = ip.dst;
    const broadcast = dst === LIMITED_BROADCAST;
    // A host takes only what is addressed to it (RFC 1122 §3.2.1.3); we have one address and no
    // multicast groups. Subnet broadcasts are not recognised: we know no prefix length.
    if (dst !== this.address && !broadcast && !this.anyDestination) {
      return this.drop('not-our-address');
    }
    if (!looped) {
      const martian = martianSource(ip.src, this.address);
      if (martian !== null) return this.drop(martian);
    }
    if (ip.headerLen > 20) this.stats.rxOptionsSkipped++;

    let reassembled = false;
    if (ip.isFragment) {
      this.stats.rxFragments++;
      const whole = this.reassembler.add(ip, now);
      if (whole === null) return null;
      const v = Ipv4View.check(whole);
      if (v instanceof ParseError) return this.drop(v.reason); // cannot happen
      ip = v;
      reassembled = true;
    }

    this.stats.rxDelivered++;
    const d = this.out;
    d.src = ip.src;
    d.dst = dst;
    d.protocol = ip.protocol;
    d.ttl = ip.ttl;
    d.tos = ip.tos;
    d.broadcast = broadcast;
    d.reassembled = reassembled;
    d.csumTrusted = csumTrusted && !reassembled;
    d.header = ip.bytes.subarray(0, ip.headerLen);
    d.payload = ip.payload;
    return d;
  }

  private drop(reason: IpDropReason): null {
    this.stats.drops[reason]++;
    return null;
  }
}
