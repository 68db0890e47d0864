/**
 * The congestion controller interface shared by Reno and CUBIC.
 *
 * A controller owns cwnd and ssthresh (both in bytes) and nothing else: the connection counts
 * duplicate ACKs, inflates and deflates the window during NewReno recovery, and tracks the pipe
 * for SACK recovery (RFC 6675); it tells the controller only about the events below. All times are
 * the `now` the stack passes in, in ms; a controller never reads a clock.
 *
 * Call protocol:
 * - `onAck` for every ACK that advances SND.UNA outside fast recovery. ACKs that arrive during
 *   recovery (between `onFastRetransmit` and `onRecoveryExit`) are ignored by the controller,
 *   so calling it then is harmless.
 * - `onFastRetransmit` once when fast retransmit starts loss recovery (RFC 5681 §3.2 step 2,
 *   RFC 6675 §5 step 4). It sets ssthresh and sets cwnd = ssthresh; a NewReno connection adds its
 *   own 3*SMSS and per-duplicate-ACK inflation on top of that by writing cwnd.
 * - `onRecoveryExit` when the ACK covering the recovery point arrives: cwnd = ssthresh (the
 *   "deflation" of RFC 6582 §3.2 step 3); also when SND.UNA passes the end of a CWR reduction.
 * - `onCwr` instead of `onEcnEcho` when PRR spreads an ECN reduction (Linux's CWR state); ACKs
 *   until `onRecoveryExit` do not grow cwnd, as in recovery.
 * - `onTimeout` each time the retransmission timer expires (RFC 5681 §3.1, eq. 4 and the loss
 *   window). Repeated timeouts with no new data acknowledged in between keep ssthresh (RFC 5681
 *   §3.1, the implementation note after eq. 4).
 */
export interface CongestionControl {
  readonly name: string;
  /** Congestion window in bytes. The connection may write it during NewReno recovery. */
  cwnd: number;
  /** Slow start threshold in bytes; INITIAL_SSTHRESH until the first congestion event. */
  ssthresh: number;
  /**
   * `ackedBytes` of new data were acknowledged at `now`. `flightSize` is RFC 5681's FlightSize:
   * bytes sent and not yet acknowledged, measured either just before or just after this ACK.
   * The window does not grow while the sender is using less than half of it (application
   * limited, RFC 7661 §4.3); without that a quiet connection would grow cwnd without bound.
   * `rtt` (ms, optional) is the smoothed round-trip time, used by CUBIC's target W_cubic(t+RTT).
   */
  onAck(ackedBytes: number, now: number, flightSize: number, rtt?: number): void;
  onFastRetransmit(flightSize: number, now: number): void;
  onRecoveryExit(now: number): void;
  onTimeout(flightSize: number, now: number): void;
  /**
   * An ECN echo (RFC 3168 §6.1.2): a congestion event without a loss. ssthresh is set as for a
   * loss and cwnd falls to it at once; nothing is retransmitted, no recovery begins. The
   * connection calls it at most once per window and never during loss recovery (src/tcp/ecn.ts).
   * Also the response to a loss a tail loss probe repaired (RFC 8985 §7.4).
   */
  onEcnEcho(flightSize: number, now: number): void;
  /**
   * An ECN echo whose reduction PRR spreads over about a round trip (option prr; Linux's CWR
   * state, tcp_init_cwnd_reduction): ssthresh is set as for a loss, cwnd is left to the caller,
   * which lowers it on each ACK (RFC 6937's sndcnt); cwnd does not grow until `onRecoveryExit`
   * ends the reduction (cwnd = ssthresh). A loss found meanwhile turns it into recovery without
   * a second reduction (no `onFastRetransmit`); `onTimeout` ends it too.
   */
  onCwr(flightSize: number, now: number): void;
}

export interface CongestionOptions {
  /** Sender maximum segment size (SMSS) in bytes. */
  mss: number;
  /** Initial window in segments (RFC 6928 allows 10; RFC 5681 §3.1 gives 2 to 4). */
  initialWindow: number;
  /**
   * Slow start grows cwnd by at most this many SMSS per ACK (RFC 3465's L; default 1, RFC 5681
   * §3.1); 0: by all the ACK covers, up to ssthresh (Linux's tcp_slow_start).
   */
  slowStartLimit?: number;
}

/**
 * "Arbitrarily high" initial ssthresh (RFC 5681 §3.1): larger than any window we can advertise
 * or be advertised (2³⁰ with window scaling, RFC 7323 §2.3).
 */
export const INITIAL_SSTHRESH = 0x7fff_ffff;

/**
 * RFC 7661 §4.3: a window is validated (may grow) while at least half of it is in use. The ACKed
 * bytes are added so that the answer is the same whether flightSize was taken before or after
 * the ACK was applied.
 */
export function isCwndLimited(cwnd: number, ackedBytes: number, flightSize: number): boolean {
  return flightSize + ackedBytes >= cwnd / 2;
}
