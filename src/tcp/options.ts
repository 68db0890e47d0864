/**
 * Every tunable of a TCP connection, in one named options object with documented defaults.
 *
 * Times are in ms, sizes in bytes unless the name says segments.
 */
import type { CongestionName } from './congestion/index.ts';

/** Linux's net.ipv4.tcp_ecn: 0 never, 1 request and accept, 2 accept only when asked. */
export type EcnMode = 0 | 1 | 2;

export interface TcpConnectionOptions {
  /** The MSS we announce: the largest segment we can receive (MTU − 40; see `mssFromMtu`). */
  mss: number;
  /** Receive buffer: the most in-order bytes held for the user, and the largest window offered. */
  rcvBuf: number;
  /** Send buffer: the most bytes held unsent or unacknowledged; `send` accepts no more. */
  sndBuf: number;
  /** Bound on out-of-order bytes held for reassembly. */
  maxOoo: number;
  /** RFC 6298 §2.1: RTO before the first measurement. */
  initialRto: number;
  /** Lower bound on the RTO (RFC 6298 §2.4 says 1 s; Linux and most stacks use 200 ms). */
  minRto: number;
  /**
   * Linux's RTO formula: SRTT + max(4*RTTVAR, minRto) instead of RFC 6298's
   * max(SRTT + 4*RTTVAR, minRto) (src/tcp/rtt.ts). Off by default.
   */
  linuxRto: boolean;
  /** Upper bound on the RTO and on backed-off probe intervals. */
  maxRto: number;
  /** Retransmissions of the same data (or unanswered probes) before ETIMEDOUT (Linux tcp_retries2). */
  maxRetries: number;
  /** SYN / SYN-ACK retransmissions before giving up (Linux tcp_syn_retries). */
  synRetries: number;
  /**
   * Delayed ACK timeout. RFC 9293 §3.8.6.3 requires less than 0.5 s; 40 ms is Linux's minimum
   * delayed-ACK time, short enough that Nagle's algorithm on the other side rarely stalls on it.
   */
  delayedAckMs: number;
  /** TIME_WAIT duration, 2*MSL (RFC 9293 §3.4.2; 60 s as Linux, MSL = 30 s). */
  timeWaitMs: number;
  /** How long FIN_WAIT_2 waits for the peer's FIN after `close()` (Linux tcp_fin_timeout). */
  finWait2Ms: number;
  /** Send keep-alive probes on an idle connection (RFC 1122 §4.2.3.6: off by default). */
  keepAlive: boolean;
  /** Idle time before the first keep-alive probe (RFC 1122: no less than two hours by default). */
  keepAliveIdleMs: number;
  /** Interval between unanswered keep-alive probes. */
  keepAliveIntervalMs: number;
  /** Unanswered keep-alive probes before ETIMEDOUT. */
  keepAliveCount: number;
  /** Initial congestion window in segments (RFC 6928). */
  initialWindow: number;
  /**
   * Slow start's growth per ACK in segments, at most (RFC 3465's L): 1 as RFC 5681 §3.1; 0 for
   * all the ACK covers, up to ssthresh (Linux's tcp_slow_start, which a delayed ACK of two
   * segments grows by two).
   */
  slowStartLimit: number;
  /** Offer window scaling (RFC 7323 §2). */
  windowScale: boolean;
  /** Offer timestamps (RFC 7323 §3). */
  timestamps: boolean;
  /** Offer SACK (RFC 2018). */
  sack: boolean;
  /** Congestion controller. */
  congestion: CongestionName;
  /** Disable Nagle's algorithm (RFC 9293 §3.7.4). */
  noDelay: boolean;
  /**
   * Which data segments carry PSH. 'queue': the one that empties the send buffer (RFC 1122
   * §4.2.2.2, a TCP without a PUSH flag on SEND). 'linux': as Linux marks its skbs (tcp_push,
   * tcp_sendmsg): the last segment of each write (none after MSG_MORE), the last of each
   * two-segment piece a write is cut into (its TSO size goal at low rates), and a probe that
   * sends held data (tcp_write_wakeup); a retransmission carries the flag its first one had.
   */
  psh: 'queue' | 'linux';
  /** RFC 5961 §7: most challenge ACKs sent per second (Linux's global default is 1000). */
  challengeAcksPerSecond: number;
  /**
   * Least time between two ACKs sent for unacceptable segments that carry no data (out of
   * window, or old by PAWS), ms; 0 answers every one as RFC 9293 §3.10.7.4 says. Two ends that
   * each find the other's ACKs unacceptable (a desynchronised pair, or a connection whose peer is
   * itself) would otherwise ACK each other for ever. Linux's tcp_invalid_ratelimit, 500 ms.
   */
  invalidAckIntervalMs: number;
  /**
   * Tail loss probes (RFC 8985 §7, with SACK only): a probe 2*SRTT after the last transmission
   * instead of waiting for the RTO. Off by default so that plain RFC 6298 timing holds (the
   * packetdrill `rfc` profile expects it); Linux has it on (tcp_early_retrans).
   */
  tailLossProbe: boolean;
  /**
   * A tail loss probe resends the last segment even when new data could go (RFC 8985 §7.3 sends
   * new data first). A receiver ACKs a duplicate at once, with a D-SACK (RFC 5681 §4.2, RFC
   * 2883), where the ACK of a lone new segment may wait for its delayed-ACK timer: 40 ms on
   * Linux, where a 0.1 ms path's PTO is 1 ms. The D-SACK also says that only an ACK was lost, so
   * cwnd stays (§7.4). Costs one segment of new data per probe. Off by default; `tunstack up`
   * turns it on.
   */
  tlpResend: boolean;
  /**
   * Probe in recovery too (an extension of RFC 8985 §7, which arms no PTO in recovery; neither
   * does Linux): when no ACK has come for a PTO after the last segment sent in recovery, send it
   * again, once per SND.UNA, before the RTO. Without it, a lost retransmission sent last, or the
   * lost ACK of one, costs a full RTO (200 ms or more), since no later delivery can reveal it.
   * Off by default; `tunstack up` turns it on (docs/loss-recovery.md has the measurements).
   */
  recoveryProbe: boolean;
  /**
   * Linux's receive-side ACK modes (tcp_incr_quickack, tcp_dec_quickack_mode, pingpong), all
   * within RFC 9293 §3.8.6.3 (an ACK may always go at once; a delayed one within 0.5 s):
   * - quick-ACK: the first in-order data starts a run of up to 16 ACKs sent at once
   *   (receive window / 2 MSS, at least 2), so that the sender's slow start is not held back;
   * - interactive ("pingpong"): once data goes out within delayedAckMs of data arriving, or a FIN
   *   arrives after data, ACKs of received data wait for the delayed-ACK timer (to ride on the
   *   answer); a delayed ACK that fires leaves the mode.
   * Off: RFC 5681 §4.2 as written (every second full segment, else delayedAckMs).
   */
  quickAck: boolean;
  /**
   * D-SACK (RFC 2883): when SACK is in use, a segment that repeats data already received is
   * reported in the first SACK block of the next ACK, so that the sender can tell a spurious
   * retransmission. As Linux, a FIN taken in order drops a pending report (tcp_fin resets SACK).
   */
  dsack: boolean;
  /**
   * Proportional Rate Reduction (RFC 6937) during SACK recovery, for Reno and CUBIC alike: how
   * much goes out on each ACK is paced so that the flight falls smoothly from RecoverFS to
   * ssthresh over about one round trip (instead of RFC 6675's "cwnd = ssthresh" at once, which
   * sends nothing for half a round trip, then a burst), and, when losses took the flight below
   * ssthresh, grows back no faster than slow start (PRR-SSRB, with the +1 SMSS per ACK that
   * advances SND.UNA as Linux's tcp_cwnd_reduction). Off by default: RFC 6675's rule as written
   * (the packetdrill `rfc` profile expects it); Linux always uses PRR. Without SACK, NewReno's
   * window inflation stays in force either way.
   */
  prr: boolean;
  /**
   * RACK (RFC 8985) for loss detection when SACK is in use: a segment is lost once one sent after
   * it has been delivered and a reordering window (a quarter of the minimum RTT, widened by
   * D-SACKs, zero during recovery until reordering is seen) has passed; lost retransmissions
   * and losses with too few segments after them are caught the same way, and a timeout marks
   * lost only what is old enough instead of going back N. Off by default: the RFC-first profile
   * keeps RFC 6675's duplicate-ACK rules (its packetdrill scripts expect them); `tunstack up`
   * and the drill `linux` profile turn it on (Linux's default since 4.18).
   */
  rack: boolean;
  /**
   * An ACK for data not yet sent (SEG.ACK > SND.NXT) is answered with an ACK before it is
   * dropped, as RFC 9293 §3.10.7.4 and RFC 5961 §5.2 say (default). Linux drops it unanswered
   * (it answers only ACKs older than SND.UNA − MAX.SND.WND): false, in the drill `linux` profile.
   */
  unsentAckReply: boolean;
  /**
   * Explicit Congestion Notification (RFC 3168; src/tcp/ecn.ts), as Linux's tcp_ecn: 0 never;
   * 1 ask for it in our SYN (ECE+CWR) and accept it in a peer's; 2 accept it when a peer's SYN
   * asks (our SYN-ACK says ECE), never ask. Default 2, as Linux. Once agreed, new data goes out
   * ECT(0), a CE mark on received data is echoed with ECE until the peer's CWR, and an ECE
   * reduces cwnd once per window, without a retransmission.
   */
  ecn: EcnMode;
}

export const DEFAULT_CONNECTION_OPTIONS: Readonly<TcpConnectionOptions> = Object.freeze({
  mss: 1460,
  rcvBuf: 256 * 1024,
  sndBuf: 256 * 1024,
  maxOoo: 256 * 1024,
  initialRto: 1000,
  minRto: 200,
  linuxRto: false,
  maxRto: 120_000,
  maxRetries: 15,
  synRetries: 6,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2Ms: 60_000,
  keepAlive: false,
  keepAliveIdleMs: 2 * 60 * 60 * 1000,
  keepAliveIntervalMs: 75_000,
  keepAliveCount: 9,
  initialWindow: 10,
  slowStartLimit: 1,
  windowScale: true,
  timestamps: true,
  sack: true,
  congestion: 'reno',
  noDelay: false,
  psh: 'queue',
  challengeAcksPerSecond: 100,
  invalidAckIntervalMs: 500,
  tailLossProbe: false,
  tlpResend: false,
  recoveryProbe: false,
  quickAck: false,
  dsack: false,
  prr: false,
  rack: false,
  unsentAckReply: true,
  ecn: 2,
});

/** IPv4 (20) and TCP (20) headers without options: MSS = MTU − 40 (RFC 9293 §3.7.1). */
export function mssFromMtu(mtu: number): number {
  return Math.max(mtu - 40, 1);
}

/** The defaults overridden by `o`. */
export function resolveOptions(o: Partial<TcpConnectionOptions> = {}): TcpConnectionOptions {
  return { ...DEFAULT_CONNECTION_OPTIONS, ...o };
}

const shared = new WeakMap<Partial<TcpConnectionOptions>, Readonly<TcpConnectionOptions>>();

/**
 * `resolveOptions(o)`, frozen and made once per `o` object: the stack passes the same partial
 * options to every connection, which then share one resolved object until one of them changes
 * an option (TcpConnection copies on write). `o` must not be changed after its first use.
 */
export function sharedOptions(o?: Partial<TcpConnectionOptions>): Readonly<TcpConnectionOptions> {
  if (o === undefined) return DEFAULT_CONNECTION_OPTIONS;
  let r = shared.get(o);
  if (r === undefined) {
    r = Object.freeze(resolveOptions(o));
    shared.set(o, r);
  }
  return r;
}
