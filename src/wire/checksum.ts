/**
 * The Internet checksum (RFC 1071) computed over bytes in place, the pseudo-header sum that TCP and
 * UDP add to it (RFC 9293 §3.1, RFC 768), and the incremental update of RFC 1624.
 *
 * This is the one checksum helper: IPv4, ICMP, UDP and TCP all call it.
 *
 * Conventions:
 *  - `onesSum` returns the one's-complement sum folded to 16 bits, NOT complemented: sums of
 *    several pieces (pseudo-header + segment) are added with `onesAdd` before the final `~`.
 *  - `internetChecksum` returns the value to store in a checksum field: the complement of the sum.
 *  - A region whose checksum field already holds a valid checksum sums to 0xffff, so a receiver
 *    verifies with `onesSum(...) === 0xffff` (RFC 1071 §1 (4)).
 */

/** Add two 16-bit one's-complement values. */
export function onesAdd(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/** Fold a wide (up to 2^53) sum of 16-bit words into 16 bits with end-around carry. */
function fold(sum: number): number {
  // A double holds the sum exactly; reduce it below 2^32 first, then fold twice.
  if (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One's-complement sum of `bytes[start, end)` taken as big-endian 16-bit words, plus `initial`.
 * An odd trailing byte is padded with a zero byte on the right (RFC 1071 §4.1). Works at any
 * byteOffset, since it reads bytes, not a word-aligned typed array.
 */
export function onesSum(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  initial = 0,
): number {
  // Plain number accumulation: 32 768 words of at most 0xffff each stay far below 2^53, and the
  // unrolled body adds eight bytes per iteration without any carry handling (RFC 1071 §2 (B)).
  let sum = initial;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    sum +=
      ((bytes[i] << 8) | bytes[i + 1]) +
      ((bytes[i + 2] << 8) | bytes[i + 3]) +
      ((bytes[i + 4] << 8) | bytes[i + 5]) +
      ((bytes[i + 6] << 8) | bytes[i + 7]);
    i += 8;
  }
  while (i + 1 < end) {
    sum += (bytes[i] << 8) | bytes[i + 1];
    i += 2;
  }
  if (i < end) sum += bytes[i] << 8;
  return fold(sum);
}

/** The value to store in a checksum field for `bytes[start, end)` (+ `initial`, e.g. a pseudo-header). */
export function internetChecksum(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  initial = 0,
): number {
  return ~onesSum(bytes, start, end, initial) & 0xffff;
}

/**
 * The one's-complement sum of the IPv4 pseudo-header that TCP and UDP cover (RFC 9293 §3.1,
 * RFC 768): source and destination addresses, zero, protocol, and the TCP/UDP length.
 */
export function pseudoHeaderSum(
  src: number,
  dst: number,
  protocol: number,
  length: number,
): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}

/**
 * RFC 1624 §3 (eqn. 3): the new checksum after one 16-bit word of the covered data changes from
 * `oldWord` to `newWord`, without summing the data again: HC' = ~(~HC + ~m + m').
 */
export function checksumAdjust(oldChecksum: number, oldWord: number, newWord: number): number {
  let sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
