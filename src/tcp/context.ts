/**
 * What the parts of one connection share: the options in force, what the SYNs negotiated, the
 * events for the user and the counters. The coordinator (conn.ts), the receiver (receiver.ts)
 * and the sender (sender.ts) each keep a reference to the one ConnContext of their connection.
 */
import type { EcnState } from './ecn.ts';
import type { TcpEvent } from './events.ts';
import { DEFAULT_PEER_MSS, type Negotiated } from './handshake.ts';
import type { TcpConnectionOptions } from './options.ts';

/** Every reason a connection drops a segment it was given, or a reply it would have sent. */
export type TcpDropReason =
  /** A segment for a CLOSED connection (answered with a RST, RFC 9293 §3.10.7.1). */
  | 'closed'
  /** SYN_SENT or SYN_RECEIVED: the ACK acknowledges nothing we sent (answered with a RST). */
  | 'bad-ack'
  /** SYN_SENT: a RST that does not acknowledge our SYN (RFC 5961 §3.2). */
  | 'rst-no-ack'
  /** SYN_SENT: neither SYN nor RST. */
  | 'no-syn'
  /** A synchronized state: neither ACK, SYN nor RST (§3.10.7.4 fifth step). */
  | 'no-ack'
  /** Timestamps were negotiated and the segment has none (RFC 7323 §3.2). */
  | 'no-timestamp'
  /** PAWS: a TSval older than TS.Recent (RFC 7323 §5.3 R1). */
  | 'paws'
  /** Not acceptable (RFC 9293 §3.10.7.4 first step). */
  | 'out-of-window'
  /** A RST not exactly at RCV.NXT: challenge ACK instead (RFC 5961 §3.2). */
  | 'rst-challenge'
  /** A SYN in a synchronized state: challenge ACK instead (RFC 5961 §4). */
  | 'syn-challenge'
  /** SEG.ACK outside SND.UNA − MAX.SND.WND … SND.MAX (RFC 5961 §5.2). */
  | 'ack-out-of-range'
  /** Data after the user's close(): the connection is reset (RFC 1122 §4.2.2.13). */
  | 'data-after-close'
  /** Data after the peer's FIN. */
  | 'text-after-fin'
  /** The out-of-order queue is full (options.maxOoo). */
  | 'ooo-full'
  /** More RST replies were due than MAX_REPLIES holds. */
  | 'reply-queue-full';

/** Things worth counting that are not drops: the segment, or its useful part, was processed. */
export type TcpCounterName =
  /** The URG bit was set: ignored (RFC 9293 §3.9), the segment processed as usual. */
  | 'urg-ignored'
  /** Text past the right window edge was trimmed; the part within the window was taken. */
  | 'beyond-window'
  /** A challenge ACK was not sent: the per-second limit was reached (RFC 5961 §7). */
  | 'challenge-ack-limited'
  /** The ACK owed an unacceptable data-less segment was not sent (options.invalidAckIntervalMs). */
  | 'invalid-ack-limited'
  /** dispatch's bounded loop ran out of turns (a bug if ever seen). */
  | 'dispatch-turns-exhausted'
  /** ECN (src/tcp/ecn.ts): a data segment arrived marked CE (RFC 3168 §6.1.3). */
  | 'ecn-ce-received'
  /** ECN: an acceptable ACK carried ECE (RFC 3168 §6.1.2). */
  | 'ecn-ece-received'
  /** ECN: an ECE reduced cwnd (at most once per window; none during loss recovery). */
  | 'ecn-cwnd-reduced'
  /** ECN: a data segment carried CWR after a reduction. */
  | 'ecn-cwr-sent';

/** The counters of one connection. */
export interface TcpConnStats {
  segsIn: number;
  segsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  timeouts: number;
  tailLossProbes: number;
  /** Probes sent in recovery (TcpConnectionOptions.recoveryProbe). */
  recoveryProbes: number;
  /** Losses a resent tail loss probe repaired (RFC 8985 §7.4; Linux's TCPLossProbeRecovery). */
  lossProbeRecoveries: number;
  /** Drops by reason: the shared, empty NO_DROPS until the first one. */
  drops: Readonly<Partial<Record<TcpDropReason, number>>>;
  /** Events that are not drops: the shared, empty NO_COUNTS until the first one. */
  counters: Readonly<Partial<Record<TcpCounterName, number>>>;
}

/** Nothing negotiated yet: RFC 9293 §3.7.1's default send MSS, no options. */
export const BEFORE_SYN: Readonly<Negotiated> = Object.freeze({
  smss: DEFAULT_PEER_MSS,
  windowScale: false,
  sndShift: 0,
  rcvShift: 0,
  timestamps: false,
  sack: false,
  ecn: false,
});

// Shared empty stand-ins for collections an idle connection never fills (a JS array or object is
// 32–56 B of heap even when empty); each is replaced by a connection's own on its first write.
export const NO_EVENTS: readonly TcpEvent[] = Object.freeze([]);
const NO_DROPS: Readonly<Partial<Record<TcpDropReason, number>>> = Object.freeze({});
const NO_COUNTS: Readonly<Partial<Record<TcpCounterName, number>>> = Object.freeze({});

export class ConnContext {
  /**
   * The options in force. Often one frozen object shared by every connection made from the same
   * partial options (sharedOptions: ~240 B of heap per connection saved); the connection's
   * `options` getter replaces it with a copy on the first write.
   */
  opts: TcpConnectionOptions;
  /** What the SYNs agreed (shared and frozen, see negotiate); BEFORE_SYN until the peer's SYN. */
  negotiated: Readonly<Negotiated> = BEFORE_SYN;
  /** ECN's state (src/tcp/ecn.ts) once the SYNs agreed on it (negotiated.ecn), else null. */
  ecn: EcnState | null = null;
  /** Events since the last takeEvents: the shared NO_EVENTS until the first one. */
  events: readonly TcpEvent[] = NO_EVENTS;
  readonly stats: TcpConnStats = {
    segsIn: 0,
    segsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    timeouts: 0,
    tailLossProbes: 0,
    recoveryProbes: 0,
    lossProbeRecoveries: 0,
    drops: NO_DROPS,
    counters: NO_COUNTS,
  };

  constructor(opts: TcpConnectionOptions) {
    this.opts = opts;
  }

  emit(e: TcpEvent): void {
    if (this.events === NO_EVENTS) this.events = [e];
    else (this.events as TcpEvent[]).push(e);
  }

  /** The events so far, and none left behind. */
  takeEvents(): readonly TcpEvent[] {
    const e = this.events;
    this.events = NO_EVENTS;
    return e;
  }

  drop(reason: TcpDropReason): void {
    if (this.stats.drops === NO_DROPS) this.stats.drops = {};
    const drops = this.stats.drops as Partial<Record<TcpDropReason, number>>;
    drops[reason] = (drops[reason] ?? 0) + 1;
  }

  count(name: TcpCounterName): void {
    if (this.stats.counters === NO_COUNTS) this.stats.counters = {};
    const counts = this.stats.counters as Partial<Record<TcpCounterName, number>>;
    counts[name] = (counts[name] ?? 0) + 1;
  }
}
