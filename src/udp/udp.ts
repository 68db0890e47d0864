/**
 * UDP (RFC 768, RFC 1122 §4.1): a port table, checksum verification, delivery to endpoints, and
 * output. Which socket API sits on top (src/api/dgram.ts) is not this module's business.
 */
import type { IcmpErrorReport } from '../icmp/icmp.ts';
import type { Icmp6ErrorReport } from '../icmp/icmp6.ts';
import type { IpDatagram } from '../ip/input.ts';
import type { Ip6Datagram } from '../ip/ipv6-input.ts';
import { IP6_HEADER_ROOM, type Ip6Output } from '../ip/ipv6-output.ts';
import { IP_HEADER_ROOM, type IpOutput } from '../ip/output.ts';
import { zeroCounts } from '../ip/stats.ts';
import { IPV4_MAX_DATAGRAM, IpProtocol } from '../wire/ipv4.ts';
import { IPV6_MAX_PAYLOAD, Ipv6Next } from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import { emitUdp, emitUdp6, UDP_HEADER_LEN, UdpView } from '../wire/udp.ts';

/** Where a bound port's datagrams go. The payload is valid only during the call: copy to keep it. */
export interface UdpEndpoint {
  deliver(payload: Uint8Array, srcAddr: number, srcPort: number): void;
  /**
   * One IPv6 datagram for the port (`srcAddr`: a 16-byte view, valid during the call). An
   * endpoint without it is IPv4 only: an IPv6 datagram to its port finds nobody (port
   * unreachable), as a udp4 socket's port on Linux.
   */
  deliver6?(payload: Uint8Array, srcAddr: Uint8Array, srcPort: number): void;
  /** A destination unreachable about a datagram this port sent (RFC 1122 §4.1.3.3). */
  icmpError?(report: IcmpErrorReport): void;
  /** The same for a datagram this port sent over IPv6 (RFC 4443 §3.1). */
  icmpError6?(report: Icmp6ErrorReport): void;
}

/**
 * The families of the datagrams a bound port takes: both (a dual-stack udp6 socket on '::'),
 * IPv4 only (udp4, or udp6 on an IPv4-mapped address), IPv6 only (ipv6Only, or our IPv6 address).
 */
export type UdpFamily = 'both' | 4 | 6;

export interface UdpOptions {
  /** Ephemeral port range, inclusive (RFC 6335 §6: 49152-65535). */
  ephemeralLow?: number;
  ephemeralHigh?: number;
}

export const UDP_DEFAULTS: Required<UdpOptions> = { ephemeralLow: 49_152, ephemeralHigh: 65_535 };

/** The largest payload one datagram carries: 65 535 - 20 (IP) - 8 (UDP). */
export const UDP_MAX_PAYLOAD = IPV4_MAX_DATAGRAM - IP_HEADER_ROOM - UDP_HEADER_LEN;
/** Over IPv6: 65 535 (the Payload Length) - 8 (UDP). */
export const UDP6_MAX_PAYLOAD = IPV6_MAX_PAYLOAD - UDP_HEADER_LEN;

export const UDP_DROP_REASONS = [
  'truncated',
  'bad-length',
  'bad-checksum',
  'no-port',
  'tx-too-big',
] as const;
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

export interface UdpStats {
  rxDatagrams: number;
  rxDelivered: number;
  rxBytes: number;
  txDatagrams: number;
  txBytes: number;
  /** Exceptions thrown by sockets' 'message' listeners (rethrown asynchronously, as Node would). */
  listenerErrors: number;
  drops: Record<UdpDropReason, number>;
}

export function createUdpStats(): UdpStats {
  return {
    rxDatagrams: 0,
    rxDelivered: 0,
    rxBytes: 0,
    txDatagrams: 0,
    txBytes: 0,
    listenerErrors: 0,
    drops: zeroCounts(UDP_DROP_REASONS),
  };
}

export type UdpInputResult = 'delivered' | 'no-port' | 'dropped';

export class UdpLayer {
  /** IPv6 output, when the stack has an IPv6 address (set by the Stack). */
  ip6: Ip6Output | null = null;
  /**
   * The endpoint of each port for IPv4 datagrams, and for IPv6 ones: one port space, a
   * dual-stack endpoint in both maps, or one endpoint per family as Linux lets a udp4 socket and
   * an IPV6_V6ONLY udp6 one share a port.
   */
  private readonly ports = new Map<number, UdpEndpoint>();
  private readonly ports6 = new Map<number, UdpEndpoint>();
  private readonly low: number;
  private readonly high: number;
  private nextEphemeral: number;

  constructor(
    private readonly ip: IpOutput,
    private readonly stats: UdpStats,
    options: UdpOptions = {},
  ) {
    const o = { ...UDP_DEFAULTS, ...options };
    this.low = o.ephemeralLow;
    this.high = o.ephemeralHigh;
    this.nextEphemeral = o.ephemeralLow;
  }

  /**
   * Bind `port` (1-65535) to `ep` for datagrams of `family` (default: both where `ep` takes
   * IPv6, else IPv4); false when the port is taken for one of them.
   */
  bind(port: number, ep: UdpEndpoint, family: UdpFamily = defaultFamily(ep)): boolean {
    const v4 = family !== 6;
    const v6 = family !== 4;
    if ((v4 && this.ports.has(port)) || (v6 && this.ports6.has(port))) return false;
    if (v6 && ep.deliver6 === undefined) return false;
    if (v4) this.ports.set(port, ep);
    if (v6) this.ports6.set(port, ep);
    return true;
  }

  /** Bind the next free ephemeral port; null when the whole range is taken. */
  bindEphemeral(ep: UdpEndpoint, family: UdpFamily = defaultFamily(ep)): number | null {
    const span = this.high - this.low + 1;
    for (let i = 0; i < span; i++) {
      const port = this.nextEphemeral;
      this.nextEphemeral = port === this.high ? this.low : port + 1;
      if (this.bind(port, ep, family)) return port;
    }
    return null;
  }

  unbind(port: number, ep: UdpEndpoint): void {
    if (this.ports.get(port) === ep) this.ports.delete(port);
    if (this.ports6.get(port) === ep) this.ports6.delete(port);
  }

  /** Bound ports, each once (for tests and `tunstack ss`). */
  boundPorts(): number[] {
    const all = [...this.ports.keys()];
    for (const p of this.ports6.keys()) if (!this.ports.has(p)) all.push(p);
    return all;
  }

  /**
   * One UDP datagram for us. 'no-port' means nobody listens: the caller answers with ICMP port
   * unreachable (RFC 1122 §4.1.3.1), which this layer cannot send itself.
   */
  input(d: IpDatagram): UdpInputResult {
    const stats = this.stats;
    stats.rxDatagrams++;
    const udp = UdpView.check(d.payload, d.src, d.dst, !d.csumTrusted);
    if (udp instanceof ParseError) {
      stats.drops[udp.reason]++;
      return 'dropped';
    }
    const ep = this.ports.get(udp.dstPort);
    if (ep === undefined) {
      stats.drops['no-port']++;
      return 'no-port';
    }
    stats.rxDelivered++;
    stats.rxBytes += udp.payload.length;
    ep.deliver(udp.payload, d.src, udp.srcPort);
    return 'delivered';
  }

  /**
   * One UDP datagram over IPv6 for us: to the port's IPv6 endpoint (a dual-stack one or an
   * IPv6-only one); a port bound for IPv4 only counts as nobody there.
   */
  input6(d: Ip6Datagram): UdpInputResult {
    const stats = this.stats;
    stats.rxDatagrams++;
    const udp = UdpView.check6(d.payload, d.src, d.dst, !d.csumTrusted);
    if (udp instanceof ParseError) {
      stats.drops[udp.reason]++;
      return 'dropped';
    }
    const ep = this.ports6.get(udp.dstPort);
    if (ep?.deliver6 === undefined) {
      stats.drops['no-port']++;
      return 'no-port';
    }
    stats.rxDelivered++;
    stats.rxBytes += udp.payload.length;
    ep.deliver6(udp.payload, d.src, udp.srcPort);
    return 'delivered';
  }

  /** A destination unreachable quoting a datagram we sent: tell the port that sent it. */
  icmpError(report: IcmpErrorReport): void {
    this.ports.get(report.srcPort)?.icmpError?.(report);
  }

  /** An ICMPv6 Destination Unreachable quoting a datagram we sent: tell the port that sent it. */
  icmpError6(report: Icmp6ErrorReport): void {
    this.ports6.get(report.srcPort)?.icmpError6?.(report);
  }

  /** Send `payload` from our `srcPort` to `dst:dstPort`. False when too big for one datagram. */
  send(srcPort: number, dst: number, dstPort: number, payload: Uint8Array): boolean {
    if (payload.length > UDP_MAX_PAYLOAD) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    const pkt = this.ip.allocPacket(UDP_HEADER_LEN + payload.length);
    emitUdp(pkt.subarray(IP_HEADER_ROOM), { srcPort, dstPort, payload }, this.ip.address, dst);
    if (!this.ip.send(pkt, IpProtocol.Udp, dst, false)) return false;
    this.stats.txDatagrams++;
    this.stats.txBytes += payload.length;
    return true;
  }

  /**
   * Send `payload` from our `srcPort` to `[dst]:dstPort` over IPv6 (`dst`: 16 bytes). False when
   * too big for one datagram, or the stack has no IPv6.
   */
  send6(srcPort: number, dst: Uint8Array, dstPort: number, payload: Uint8Array): boolean {
    const ip6 = this.ip6;
    if (ip6 === null) return false;
    if (payload.length > UDP6_MAX_PAYLOAD) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    const pkt = ip6.allocPacket(UDP_HEADER_LEN + payload.length);
    emitUdp6(pkt.subarray(IP6_HEADER_ROOM), { srcPort, dstPort, payload }, ip6.address, dst);
    if (!ip6.send(pkt, Ipv6Next.Udp, dst)) return false;
    this.stats.txDatagrams++;
    this.stats.txBytes += payload.length;
    return true;
  }
}

/** A UdpEndpoint's families when none is named: both if it takes IPv6 datagrams, else IPv4. */
function defaultFamily(ep: UdpEndpoint): UdpFamily {
  return ep.deliver6 === undefined ? 4 : 'both';
}
