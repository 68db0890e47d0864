/**
 * CUBIC congestion control (RFC 9438), with cwnd in bytes and time in ms.
 *
 * The window curve is computed in segments and seconds, the units of the RFC's constant C, and
 * converted to bytes: W_cubic(t) = (C*(t - K)³ + W_max/SMSS) * SMSS.
 *
 * Slow start is Reno's (RFC 9438 §4.10, without HyStart++). Spurious-congestion undo (§4.9) is
 * not implemented: the interface has no event for it.
 */

import { LossBasedControl } from './base.ts';

/** RFC 9438 §4.2 (chosen in §5.1): C = 0.4, in segments / s³. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: multiplicative decrease factor. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: the Reno-friendly additive increase, 3(1 − β)/(1 + β). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class Cubic extends LossBasedControl {
  readonly name = 'cubic';
  /** W_max in bytes: cwnd just before the last reduction (§4.2), 0 when there is none (§4.8). */
  #wMax = 0;
  /** cwnd when ssthresh was last set (§4.3), in bytes. */
  #cwndPrior = 0;
  /** Start of the current congestion avoidance stage in ms, or null outside one. */
  #epochStart: number | null = null;
  /** K in seconds (§4.2 eq. 2). */
  #k = 0;
  /** W_est in bytes, the Reno-friendly estimate (§4.3). */
  #wEst = 0;
  /** Growth below one byte, carried so that cwnd stays a whole number of bytes. */
  #fraction = 0;
  /** Time of the last ACK in the current congestion avoidance stage, in ms. */
  #lastAckAt = 0;

  /** W_max in bytes (0 before any congestion event); for tests and snapshots. */
  get wMax(): number {
    return this.#wMax;
  }

  /** K in seconds for the current congestion avoidance stage. */
  get k(): number {
    return this.#k;
  }

  /** W_cubic(t) in bytes, t in seconds since the start of the congestion avoidance stage. */
  wCubic(t: number): number {
    const d = t - this.#k;
    return CUBIC_C * d * d * d * this.mss + this.#wMax;
  }

  protected avoid(ackedBytes: number, now: number, rtt: number): void {
    if (this.#epochStart === null) {
      this.#startEpoch(now);
    } else if (rtt > 0 && now - this.#lastAckAt > rtt) {
      // §5.8: an idle period (no ACK for over an RTT) is not part of t either.
      this.#epochStart += now - this.#lastAckAt - rtt;
    }
    this.#lastAckAt = now;
    const t = (now - this.#epochStart!) / 1000;

    // §4.3: W_est grows like Reno with α_cubic per RTT, α = 1 once it has reached cwnd_prior.
    const alpha = this.#wEst >= this.#cwndPrior ? 1 : CUBIC_ALPHA;
    this.#wEst += (alpha * ackedBytes * this.mss) / this.cwnd;

    let increase: number;
    if (this.wCubic(t) < this.#wEst) {
      // §4.3: the Reno-friendly region, cwnd = W_est (never a decrease).
      increase = this.#wEst - this.cwnd;
    } else {
      // §4.4, §4.5: concave and convex regions, toward target = W_cubic(t + RTT) bounded to
      // [cwnd, 1.5*cwnd], by (target − cwnd)/cwnd per acknowledged segment.
      const target = Math.min(Math.max(this.wCubic(t + rtt / 1000), this.cwnd), 1.5 * this.cwnd);
      increase = ((target - this.cwnd) / this.cwnd) * ackedBytes;
    }
    if (!(increase > 0)) return;
    this.#fraction += increase;
    const whole = Math.floor(this.#fraction);
    this.#fraction -= whole;
    this.cwnd += whole;
  }

  /**
   * §5.8: "t in Eq. 1 MUST NOT include" periods in which the flow was application limited, or
   * W_cubic(t) would jump when it resumes. The epoch start moves forward by the time since the
   * previous ACK.
   */
  protected override appLimited(now: number): void {
    if (this.#epochStart === null) return;
    this.#epochStart += now - this.#lastAckAt;
    this.#lastAckAt = now;
  }

  /** §4.6 multiplicative decrease and §4.7 fast convergence. */
  protected reduce(flightSize: number): void {
    const cwnd = this.cwnd;
    // §4.7: a flow whose window shrank since the last event releases bandwidth for newer flows.
    this.#wMax = cwnd < this.#wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.#cwndPrior = cwnd;
    // §4.6: ssthresh = flight_size * β_cubic, at least 2 segments (×7/10 keeps it exact).
    this.ssthresh = Math.max(Math.floor((flightSize * 7) / 10), 2 * this.mss);
  }

  protected restart(timeout: boolean): void {
    this.#epochStart = null;
    this.#fraction = 0;
    // §4.8: after a timeout the next congestion avoidance stage uses K = 0 and W_max = cwnd at its
    // start; #startEpoch does that when W_max is 0.
    if (timeout) this.#wMax = 0;
  }

  /** §4.2: a congestion avoidance stage begins on its first ACK. */
  #startEpoch(now: number): void {
    this.#epochStart = now;
    this.#lastAckAt = now;
    this.#wEst = this.cwnd;
    this.#fraction = 0;
    if (this.#wMax <= this.cwnd) {
      // §4.8 (after a timeout), and any stage that starts above the old W_max: the plateau is here.
      this.#wMax = this.cwnd;
      this.#k = 0;
    } else {
      // §4.2 eq. 2: K = ∛((W_max − cwnd_epoch) / C), in segments.
      this.#k = Math.cbrt((this.#wMax - this.cwnd) / this.mss / CUBIC_C);
    }
  }
}
