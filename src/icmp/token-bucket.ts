/**
 * A token bucket for rate-limiting ICMP errors (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2 "SHOULD
 * limit"): `burst` tokens at most, refilled at `ratePerSec`. Deterministic: time comes in.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    now = 0,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Take one token if there is one. */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(
        this.burst,
        this.tokens + ((now - this.last) * this.ratePerSec) / 1000,
      );
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
