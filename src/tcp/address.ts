/**
 * Addresses in the TCP core are plain numbers, so that the 4-tuple stays four numbers and IPv4's
 * demux keys stay exact doubles: an IPv4 address is its uint32, and a number at or above
 * IPV6_ID_BASE stands for an IPv6 address the stack layer holds (src/stack/addr6.ts). The core
 * compares them and keys tables by them; only hashing (ISNs, SYN cookies) needs the real bytes,
 * which it asks for through an AddressBytes function.
 */

/** 2^32: the first number that is not an IPv4 address. */
export const IPV6_ID_BASE = 0x1_0000_0000;

/** An IPv4 address as its uint32 (a signed int32 is made unsigned); an IPv6 id as it is. */
export function addrNum(a: number): number {
  return a < IPV6_ID_BASE ? a >>> 0 : a;
}

/** The 16 bytes of the IPv6 address behind an id ≥ IPV6_ID_BASE. */
export type AddressBytes = (id: number) => Uint8Array;

/**
 * The four little-endian 32-bit words of 16 address bytes into `into` at `at`: SipHash's view of
 * the bytes, so that hashing the words is hashing the bytes.
 */
export function addrWords(bytes: Uint8Array, into: Int32Array, at: number): void {
  for (let i = 0; i < 4; i++) {
    const o = 4 * i;
    into[at + i] = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
  }
}
