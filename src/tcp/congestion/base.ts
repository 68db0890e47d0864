/**
 * What Reno and CUBIC share: slow start, the loss window after a timeout, and the call protocol
 * of CongestionControl (types.ts). A subclass supplies congestion avoidance and the reduction.
 */

import {
  type CongestionControl,
  type CongestionOptions,
  INITIAL_SSTHRESH,
  isCwndLimited,
} from './types.ts';

export abstract class LossBasedControl implements CongestionControl {
  abstract readonly name: string;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  protected readonly mss: number;
  /** Slow start's bound per ACK in bytes (CongestionOptions.slowStartLimit; Infinity: none). */
  readonly #ssLimit: number;
  /** In a window reduction (fast recovery, or PRR's CWR state): cwnd does not grow. */
  #inRecovery = false;
  /** A timeout happened and no new data has been acknowledged since. */
  #timedOut = false;

  constructor(o: CongestionOptions) {
    this.mss = o.mss;
    const l = o.slowStartLimit ?? 1;
    this.#ssLimit = l > 0 ? l * o.mss : Number.POSITIVE_INFINITY;
    // RFC 5681 §3.1, RFC 6928: the initial window in bytes.
    this.cwnd = o.initialWindow * o.mss;
  }

  onAck(ackedBytes: number, now: number, flightSize: number, rtt = 0): void {
    if (!(ackedBytes > 0)) return;
    this.#timedOut = false;
    if (this.#inRecovery) return;
    if (!isCwndLimited(this.cwnd, ackedBytes, flightSize)) {
      this.appLimited(now);
      return;
    }
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eq. 2: slow start, cwnd += min(N, SMSS) (RFC 3465 with L = 1 SMSS), or
      // L·SMSS; unbounded, as Linux, it stops at ssthresh.
      const grown = this.cwnd + Math.min(ackedBytes, this.#ssLimit);
      this.cwnd = this.#ssLimit > this.mss ? Math.min(grown, this.ssthresh) : grown;
      return;
    }
    this.avoid(ackedBytes, now, rtt);
  }

  onFastRetransmit(flightSize: number, _now: number): void {
    this.#reduce(flightSize);
    this.restart(false);
    // RFC 6675 §5 step 4.2: cwnd = ssthresh; NewReno inflation is the connection's.
    this.cwnd = this.ssthresh;
    this.#inRecovery = true;
  }

  onRecoveryExit(_now: number): void {
    // RFC 6582 §3.2 step 3: deflate the window to ssthresh.
    if (!this.#inRecovery) return;
    this.#inRecovery = false;
    this.cwnd = this.ssthresh;
  }

  onTimeout(flightSize: number, _now: number): void {
    // RFC 5681 §3.1: ssthresh is held constant across repeated timeouts of the same data.
    if (!this.#timedOut) this.#reduce(flightSize);
    this.#timedOut = true;
    this.restart(true);
    // RFC 5681 §3.1: cwnd = LW, the loss window of one segment.
    this.cwnd = this.mss;
    this.#inRecovery = false;
  }

  onEcnEcho(flightSize: number, _now: number): void {
    // RFC 3168 §6.1.2: halve cwnd and reduce ssthresh as for a loss (CUBIC: by β, RFC 9438
    // §4.6), never raising cwnd; not below one segment. Loss recovery is not entered.
    this.#reduce(flightSize);
    this.restart(false);
    this.cwnd = Math.max(Math.min(this.cwnd, this.ssthresh), this.mss);
  }

  onCwr(flightSize: number, _now: number): void {
    // RFC 3168 §6.1.2's reduction, spread by the caller's PRR (Linux's CWR state): ssthresh as
    // for a loss; cwnd stays the caller's and does not grow until onRecoveryExit.
    this.#reduce(flightSize);
    this.restart(false);
    this.#inRecovery = true;
  }

  /**
   * A congestion event's ssthresh from min(FlightSize, cwnd). FlightSize (SND.MAX − SND.UNA, RFC
   * 5681) counts the data SACKed above a hole: while a receiver holds the cumulative ACK back, it
   * grows past cwnd many times over (megabytes, with Linux compressing its SACKs on a lossy 40 ms
   * path), and a "reduction" to β·FlightSize would then raise the window, each loss more than the
   * last. Linux takes cwnd (RFC 9438 §4.6 allows it); the minimum keeps RFC 5681's FlightSize when
   * the sender is application-limited, and leaves out what Limited Transmit sent beyond cwnd
   * (RFC 3042 §2).
   */
  #reduce(flightSize: number): void {
    this.reduce(Math.min(flightSize, this.cwnd));
  }

  /** Congestion avoidance (cwnd ≥ ssthresh) for one ACK of new data. */
  protected abstract avoid(ackedBytes: number, now: number, rtt: number): void;
  /** An ACK arrived while the application, not cwnd, limited the sender; cwnd does not grow. */
  protected appLimited(_now: number): void {}
  /** A congestion event: set ssthresh (and whatever the algorithm remembers of the window). */
  protected abstract reduce(flightSize: number): void;
  /** The congestion avoidance stage ends, after a fast retransmit or a timeout. */
  protected abstract restart(timeout: boolean): void;
}
