/**
 * The one seeded PRNG: the fault model (src/link/fault.ts), the simulators and every test that
 * wants reproducible randomness draw from it, so a seed means the same stream everywhere.
 *
 * It sits beside the clock, below every layer that needs it, and has no imports.
 */

/**
 * mulberry32: a small, fast, seedable PRNG with a 2^32 period; plenty for fault injection and
 * simulations, not for anything secret. Returns uniform floats in [0, 1); each is a 32-bit
 * integer divided by 2^32, so `Math.floor(r() * 2 ** 32)` recovers the integer exactly.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
