/**
 * Sequence-number arithmetic modulo 2³² (RFC 9293 §3.4): the one place where wraparound lives.
 *
 * Sequence numbers are plain numbers in [0, 2³²). Comparisons look at the signed 32-bit distance,
 * so a < b means "a comes before b" when the two are less than 2³¹ apart.
 */

/** a + n, wrapped into [0, 2³²). n may be negative. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance b - a: positive when b is after a. */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo ≤ x < hi in sequence space (an empty range when lo = hi). */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLeq(lo, x) && seqLt(x, hi);
}
