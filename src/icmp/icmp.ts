/**
 * ICMP for the host (RFC 792, RFC 1122 §3.2.2): answer echo requests, send destination
 * unreachable for protocols and ports nobody listens on, count everything else.
 */
import type { IpDatagram } from '../ip/input.ts';
import { IP_HEADER_ROOM, type IpOutput } from '../ip/output.ts';
import { zeroCounts } from '../ip/stats.ts';
import { get16, get32 } from '../wire/bytes.ts';
import {
  emitIcmp,
  ICMP_HEADER_LEN,
  IcmpType,
  IcmpView,
  isIcmpQuery,
  UnreachCode,
  writeEchoReply,
} from '../wire/icmp.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { ParseError } from '../wire/parse-error.ts';
import { TokenBucket } from './token-bucket.ts';

export interface IcmpOptions {
  /** ICMP errors we may send per second, on average (Linux net.ipv4.icmp_msgs_per_sec). */
  errorRatePerSec?: number;
  /** ICMP errors we may send in a burst (Linux net.ipv4.icmp_msgs_burst). */
  errorBurst?: number;
}

export const ICMP_DEFAULTS: Required<IcmpOptions> = { errorRatePerSec: 1000, errorBurst: 50 };

/** RFC 1812 §4.3.2.3: an ICMP error carries as much of the original as fits in 576 bytes. */
const ICMP_ERROR_MAX_DATAGRAM = 576;

export const ICMP_DROP_REASONS = ['truncated', 'bad-checksum'] as const;
export type IcmpDropReason = (typeof ICMP_DROP_REASONS)[number];

export interface IcmpStats {
  rxMessages: number;
  rxEchoRequests: number;
  rxEchoReplies: number;
  rxDestUnreachable: number;
  /** Destination unreachables handed to the transport that sent the quoted datagram. */
  rxErrorsReported: number;
  /** Any other type: counted, not acted on. */
  rxOther: number;
  /** Echo requests to a broadcast address, not answered (Linux icmp_echo_ignore_broadcasts). */
  rxEchoBroadcastIgnored: number;
  txMessages: number;
  txEchoReplies: number;
  txDestUnreachable: number;
  txTimeExceeded: number;
  /** Errors we did not send because the token bucket was empty. */
  txRateLimited: number;
  /** Errors we must not send: in answer to an ICMP error or a broadcast (RFC 1122 §3.2.2). */
  txSuppressed: number;
  drops: Record<IcmpDropReason, number>;
}

export function createIcmpStats(): IcmpStats {
  return {
    rxMessages: 0,
    rxEchoRequests: 0,
    rxEchoReplies: 0,
    rxDestUnreachable: 0,
    rxErrorsReported: 0,
    rxOther: 0,
    rxEchoBroadcastIgnored: 0,
    txMessages: 0,
    txEchoReplies: 0,
    txDestUnreachable: 0,
    txTimeExceeded: 0,
    txRateLimited: 0,
    txSuppressed: 0,
    drops: zeroCounts(ICMP_DROP_REASONS),
  };
}

/** Called with each echo reply that arrives (for a ping client). The data is valid during the call. */
export type EchoReplyListener = (
  src: number,
  ident: number,
  seqNo: number,
  data: Uint8Array,
) => void;

/** What an ICMP error is about: a received datagram (or the first fragment of one). */
export type ErrorSubject = Pick<
  IpDatagram,
  'src' | 'protocol' | 'broadcast' | 'header' | 'payload'
>;

/**
 * A destination unreachable about a datagram we sent, as the transport that sent it needs it
 * (RFC 1122 §3.2.2.1, §4.1.3.3: pass it to the transport, which tells the application).
 */
export interface IcmpErrorReport {
  /** Destination-unreachable code (UnreachCode). */
  code: number;
  /** Next-hop MTU of a "fragmentation needed" (code 4), else 0. */
  nextHopMtu: number;
  /** Who sent the ICMP message (a router, or the destination itself). */
  reporter: number;
  /** The quoted datagram: its destination, and the ports from its first 8 transport bytes. */
  dst: number;
  srcPort: number;
  dstPort: number;
  /**
   * The quoted transport header's bytes 4-7: TCP's sequence number, which RFC 5927 §4.1 checks
   * against the connection's window before believing the message.
   */
  seq: number;
}

export type IcmpErrorHandler = (report: IcmpErrorReport) => void;

export class IcmpLayer {
  private readonly errors: TokenBucket;
  /** Transport protocols that want to hear of destination unreachables about their datagrams. */
  private readonly errorHandlers = new Map<number, IcmpErrorHandler>();
  /** Set by whoever wants echo replies (the stack's ping). */
  onEchoReply: EchoReplyListener | null = null;

  constructor(
    private readonly ip: IpOutput,
    private readonly stats: IcmpStats,
    options: IcmpOptions = {},
    now = 0,
  ) {
    const o = { ...ICMP_DEFAULTS, ...options };
    this.errors = new TokenBucket(o.errorRatePerSec, o.errorBurst, now);
  }

  /** One ICMP datagram for us. */
  input(d: IpDatagram): void {
    const stats = this.stats;
    stats.rxMessages++;
    const icmp = IcmpView.check(d.payload);
    if (icmp instanceof ParseError) {
      stats.drops[icmp.reason]++;
      return;
    }
    switch (icmp.type) {
      case IcmpType.EchoRequest:
        stats.rxEchoRequests++;
        if (d.broadcast) stats.rxEchoBroadcastIgnored++;
        else this.echoReply(d.src, icmp.bytes);
        return;
      case IcmpType.EchoReply:
        stats.rxEchoReplies++;
        this.onEchoReply?.(d.src, icmp.ident, icmp.seqNo, icmp.data);
        return;
      case IcmpType.DestUnreachable:
        stats.rxDestUnreachable++;
        this.reportError(icmp.code, icmp.nextHopMtu, d.src, icmp.data);
        return;
      default:
        stats.rxOther++;
    }
  }

  /** Hear about destination unreachables quoting our datagrams of IP protocol `protocol`. */
  setErrorHandler(protocol: number, handler: IcmpErrorHandler | null): void {
    if (handler === null) this.errorHandlers.delete(protocol);
    else this.errorHandlers.set(protocol, handler);
  }

  /**
   * Hand a destination unreachable to the transport whose datagram it quotes: an IPv4 header
   * from us (anything else is not about our traffic, or forged) and at least the 8 bytes that
   * hold the ports (RFC 792).
   */
  private reportError(code: number, nextHopMtu: number, reporter: number, quote: Uint8Array): void {
    if (quote.length < 20 || quote[0] >>> 4 !== 4) return;
    const hlen = (quote[0] & 0x0f) * 4;
    if (hlen < 20 || quote.length < hlen + 8 || get32(quote, 12) !== this.ip.address) return;
    const handler = this.errorHandlers.get(quote[9]);
    if (handler === undefined) return;
    this.stats.rxErrorsReported++;
    handler({
      code,
      nextHopMtu: code === UnreachCode.FragNeeded ? nextHopMtu : 0,
      reporter,
      dst: get32(quote, 16),
      srcPort: get16(quote, hlen),
      dstPort: get16(quote, hlen + 2),
      seq: get32(quote, hlen + 4),
    });
  }

  /**
   * RFC 792 / RFC 1122 §3.2.2.6: the reply carries the request's identifier, sequence number
   * and data unchanged, so copy the message and change the type; the checksum follows from one
   * changed word (RFC 1624). Any size: IP output fragments what exceeds the MTU.
   */
  private echoReply(to: number, request: Uint8Array): void {
    const pkt = this.ip.allocPacket(request.length);
    writeEchoReply(pkt.subarray(IP_HEADER_ROOM), request, IcmpType.EchoReply);
    if (this.ip.send(pkt, IpProtocol.Icmp, to, false)) {
      this.stats.txMessages++;
      this.stats.txEchoReplies++;
    }
  }

  /**
   * Send a destination unreachable (RFC 792) with `code` about datagram `d`. `d` is a whole
   * datagram: reassembly ran before us, so "only about the first fragment" holds by construction.
   * Returns whether it was sent (see sendError for when it is not).
   */
  sendUnreachable(code: number, d: ErrorSubject, now: number): boolean {
    if (!this.sendError('dest-unreachable', code, d, now)) return false;
    this.stats.txDestUnreachable++;
    return true;
  }

  /**
   * Send a time exceeded, code 1 "fragment reassembly time exceeded" (RFC 792; RFC 1122 §3.3.2:
   * SHOULD, when fragment zero has arrived), about the first fragment of a timed-out datagram.
   */
  sendReassemblyTimeout(first: ErrorSubject, now: number): boolean {
    if (!this.sendError('time-exceeded', 1, first, now)) return false;
    this.stats.txTimeExceeded++;
    return true;
  }

  /**
   * An ICMP error about `d`, quoting its header and as much data as fits in 576 bytes, unless
   * RFC 1122 §3.2.2 forbids it (the datagram was itself an ICMP error, or broadcast, or from no
   * address) or the token bucket is empty (RFC 1812 §4.3.2.8).
   */
  private sendError(
    kind: 'dest-unreachable' | 'time-exceeded',
    code: number,
    d: ErrorSubject,
    now: number,
  ): boolean {
    const isIcmpError =
      d.protocol === IpProtocol.Icmp && (d.payload.length < 1 || !isIcmpQuery(d.payload[0]));
    if (isIcmpError || d.broadcast || d.src === 0) {
      this.stats.txSuppressed++;
      return false;
    }
    if (!this.errors.take(now)) {
      this.stats.txRateLimited++;
      return false;
    }
    const quoteLen = Math.min(
      d.header.length + d.payload.length,
      ICMP_ERROR_MAX_DATAGRAM - IP_HEADER_ROOM - ICMP_HEADER_LEN,
    );
    const pkt = this.ip.allocPacket(ICMP_HEADER_LEN + quoteLen);
    const msg = pkt.subarray(IP_HEADER_ROOM);
    const quote = msg.subarray(ICMP_HEADER_LEN);
    quote.set(d.header.subarray(0, quoteLen));
    if (quoteLen > d.header.length) {
      quote.set(d.payload.subarray(0, quoteLen - d.header.length), d.header.length);
    }
    if (kind === 'dest-unreachable') {
      emitIcmp(msg, { kind, code, nextHopMtu: 0, data: quote });
    } else {
      emitIcmp(msg, { kind, code, data: quote });
    }
    if (!this.ip.send(pkt, IpProtocol.Icmp, d.src, false)) return false;
    this.stats.txMessages++;
    return true;
  }

  /** Send an echo request (for a ping client). Returns false when IP refused it. */
  sendEchoRequest(to: number, ident: number, seqNo: number, data: Uint8Array): boolean {
    const pkt = this.ip.allocPacket(ICMP_HEADER_LEN + data.length);
    emitIcmp(pkt.subarray(IP_HEADER_ROOM), { kind: 'echo-request', ident, seqNo, data });
    if (!this.ip.send(pkt, IpProtocol.Icmp, to, false)) return false;
    this.stats.txMessages++;
    return true;
  }
}
