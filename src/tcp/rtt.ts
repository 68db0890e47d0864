/**
 * Round-trip time estimation and the retransmission timeout (RFC 6298).
 *
 * Deterministic: the caller measures round trips with its own clock and passes them in. Karn's
 * algorithm (RFC 6298 §3: never sample a segment that was retransmitted) is the caller's duty,
 * since only the connection knows which segments were sent twice.
 */

export interface RttOptions {
  /** RTO before any sample, in ms (RFC 6298 §2.1: 1 s). */
  initialRto: number;
  /** Lower bound on the RTO, in ms (RFC 6298 §2.4: 1 s; Linux uses 200 ms). */
  minRto: number;
  /** Upper bound on the RTO, in ms (RFC 6298 §2.5: at least 60 s). */
  maxRto: number;
  /** Clock granularity G, in ms (RFC 6298 §2); 1 by default. */
  granularity?: number;
  /**
   * Linux's RTO: SRTT + max(K*RTTVAR, minRto) (tcp_set_rto: the minimum bounds the variance
   * term, not the sum), where RFC 6298 takes max(SRTT + K*RTTVAR, minRto). With a 10 ms path
   * and the 200 ms minimum, Linux waits 210 ms.
   */
  linuxRto?: boolean;
}

/** RFC 6298 §2: the gains alpha = 1/8, beta = 1/4 and the variance multiplier K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RttEstimator {
  #srtt: number | null = null;
  #rttvar = 0;
  #rto: number;
  /** Kept, not copied (one estimator per connection: three fields fewer each). */
  readonly #o: Readonly<RttOptions>;

  /** `o` is kept by reference: it must not change afterwards (the connection's are frozen). */
  constructor(o: Readonly<RttOptions>) {
    this.#o = o;
    this.#rto = this.#initialRto();
  }

  /** Smoothed round-trip time in ms, or null before the first sample. */
  get srtt(): number | null {
    return this.#srtt;
  }

  /** Round-trip time variation in ms (0 before the first sample). */
  get rttvar(): number {
    return this.#rttvar;
  }

  /** The current retransmission timeout in ms, including any backoff. */
  get rto(): number {
    return this.#rto;
  }

  /**
   * Take one round-trip measurement R in ms. Negative or non-finite values are ignored.
   * The RTO is recomputed from the formula, which also ends any backoff (RFC 6298 §5.7).
   */
  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    if (this.#srtt === null) {
      // RFC 6298 §2.2: the first measurement.
      this.#srtt = rttMs;
      this.#rttvar = rttMs / 2;
    } else {
      // RFC 6298 §2.3: RTTVAR first, using the SRTT from before this sample.
      this.#rttvar = (1 - BETA) * this.#rttvar + BETA * Math.abs(this.#srtt - rttMs);
      this.#srtt = (1 - ALPHA) * this.#srtt + ALPHA * rttMs;
    }
    this.resetBackoff();
  }

  /** RFC 6298 §5.5: the retransmission timer expired; double the RTO, up to maxRto. */
  backoff(): void {
    this.#rto = Math.min(this.#rto * 2, this.#o.maxRto);
  }

  /**
   * Drop any backoff: RTO = SRTT + max(G, K*RTTVAR), clamped (RFC 6298 §2.2–2.5), or the initial
   * RTO when nothing has been measured yet.
   */
  resetBackoff(): void {
    if (this.#srtt === null) {
      this.#rto = this.#initialRto();
      return;
    }
    const g = this.#o.granularity ?? 1;
    const floor = this.#o.linuxRto === true ? this.#o.minRto : g;
    this.#rto = this.#clamp(this.#srtt + Math.max(floor, K * this.#rttvar));
  }

  /** RFC 6298 §2.1: until a round trip has been measured, RTO is the initial value. */
  #initialRto(): number {
    return this.#clamp(this.#o.initialRto);
  }

  /** RFC 6298 §2.4 (round up to the minimum) and §2.5 (an upper bound may be placed). */
  #clamp(rto: number): number {
    return Math.min(Math.max(rto, this.#o.minRto), this.#o.maxRto);
  }
}
