/**
 * The Internet checksum (RFC 1071) computed over bytes in place, the pseudo-header sum that TCP and
 * UDP add to it (RFC 9293 §3.1, RFC 768), and the incremental update of RFC 1624.
 *
 * This is the one checksum helper: IPv4, ICMP, ICMPv6, UDP and TCP all call it, over either
 * family's pseudo-header (`pseudoHeaderSum`, `pseudoHeaderSum6`).
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

/** True on little-endian hosts (x86, ARM as Node runs them): 32-bit loads see bytes swapped. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Below this many bytes the plain byte loop wins over making a Uint32Array view. */
const WORD_PATH_MIN = 128;

/** Fold a wide (up to 2^53) sum of 16-bit words into 16 bits with end-around carry. */
function fold(sum: number): number {
  // A double holds the sum exactly; reduce it below 2^32 first (once below 2^48, twice above:
  // the 32-bit operators below would drop the high bits), then fold twice.
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One's-complement sum of `bytes[start, end)` taken as big-endian 16-bit words, plus `initial`.
 * An odd trailing byte is padded with a zero byte on the right (RFC 1071 §4.1). Works at any
 * byteOffset.
 */
export function onesSum(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  initial = 0,
): number {
  if (start >= end) return fold(initial);
  if (((bytes.byteOffset + start) & 1) === 0) return fold(initial + evenSum(bytes, start, end));
  // RFC 1071 §2 (B): summing from one byte further pairs every byte with the wrong partner,
  // which yields the byte-swapped sum. So take the first byte alone and swap the rest's sum.
  return fold(initial + (bytes[start] << 8) + swap16(evenSum(bytes, start + 1, end)));
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * The folded sum of a range that starts at an even address. Once 4-byte aligned, a long range is
 * summed as 32-bit words through a Uint32Array in host byte order, with one swap at the end
 * (RFC 1071 §2 (B), (C): the sum is independent of word size and byte order, up to that swap);
 * the rest is read in byte pairs, eight bytes per iteration. The two accumulators are kept apart
 * so that the byte loop stays in small-integer arithmetic; the wide one is a double, exact since
 * 2^14 words of at most 2^32 stay below 2^53.
 */
function evenSum(bytes: Uint8Array, start: number, end: number): number {
  let acc = 0;
  let i = start;
  if ((bytes.byteOffset + i) & 2 && end - i >= 2) {
    acc += (bytes[i] << 8) | bytes[i + 1];
    i += 2;
  }
  if (end - i >= WORD_PATH_MIN) {
    const words = (end - i) >>> 2;
    const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    let wide = 0;
    const words4 = words - (words & 3);
    let k = 0;
    for (; k < words4; k += 4) wide += u32[k] + u32[k + 1] + u32[k + 2] + u32[k + 3];
    for (; k < words; k++) wide += u32[k];
    const folded = fold(wide);
    acc += LITTLE_ENDIAN ? swap16(folded) : folded;
    i += words * 4;
  }
  const end8 = end - ((end - i) & 7);
  while (i < end8) {
    acc +=
      ((bytes[i] << 8) | bytes[i + 1]) +
      ((bytes[i + 2] << 8) | bytes[i + 3]) +
      ((bytes[i + 4] << 8) | bytes[i + 5]) +
      ((bytes[i + 6] << 8) | bytes[i + 7]);
    i += 8;
  }
  while (i + 1 < end) {
    acc += (bytes[i] << 8) | bytes[i + 1];
    i += 2;
  }
  if (i < end) acc += bytes[i] << 8;
  return fold(acc);
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
 * The one's-complement sum of the IPv6 pseudo-header that TCP, UDP and ICMPv6 cover (RFC 8200
 * §8.1, RFC 4443 §2.3): source and destination addresses (16 bytes each, views into a packet or
 * an address), the upper-layer packet length as 32 bits, three zero bytes and the next header.
 */
export function pseudoHeaderSum6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): number {
  return onesSum(dst, 0, 16, onesSum(src, 0, 16, (length >>> 16) + (length & 0xffff) + nextHeader));
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
