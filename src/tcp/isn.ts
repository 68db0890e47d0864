/**
 * Initial sequence numbers (RFC 6528 §3): ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), where M is a timer ticking every 4 microseconds and F a keyed hash of the
 * connection's 4-tuple. Off-path attackers cannot guess ISNs, and successive incarnations of one
 * 4-tuple still get increasing ISNs (RFC 9293 §3.4.1), which keeps old duplicates out.
 *
 * Deterministic given the secret and `now`: the simulator passes a fixed secret and virtual time.
 */

import { randomBytes } from 'node:crypto';
import { type AddressBytes, addrWords, IPV6_ID_BASE } from './address.ts';
import { keyWords, sipWords } from './siphash.ts';

/** RFC 6528 §3 / RFC 9293 §3.4.1: M increments once every 4 µs, i.e. 250 times per ms. */
const TICKS_PER_MS = 250;
const TWO_32 = 0x1_0000_0000;

export class IsnGenerator {
  /** The 128-bit SipHash key as four little-endian 32-bit words. */
  readonly #key = new Uint32Array(4);
  /** The message's two 8-byte words as (low, high) halves, reused. */
  readonly #msg = new Int32Array(4);
  /** The message over IPv6 addresses: 36 bytes in five 8-byte blocks, reused. */
  readonly #msg6 = new Int32Array(10);
  /**
   * The bytes behind IPv6 ids (src/tcp/address.ts), set by the stack layer that gives them out:
   * an ISN for an IPv6 4-tuple hashes the real 128-bit addresses (RFC 6528 §3 over IPv6, as
   * Linux's secure_tcpv6_seq), not the ids.
   */
  addressBytes: AddressBytes | null = null;

  /** `secret` is the hash key (16 bytes; shorter is zero-padded, longer cut); 16 random bytes when omitted. */
  constructor(secret?: Uint8Array) {
    const bytes = new Uint8Array(16);
    bytes.set((secret ?? randomBytes(16)).subarray(0, 16));
    keyWords(bytes, 0, this.#key, 0);
  }

  /** The ISN for a connection, with addresses as uint32 and `nowMs` the stack's clock in ms. */
  next(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number {
    // F: the low 32 bits of SipHash-2-4(secretkey, 4-tuple), the PRF Linux's secure_tcp_seq
    // uses (RFC 6528 §3 asks for a keyed PRF): ~0.15 µs here, where HMAC-SHA-256 through
    // node:crypto took ~2.5 µs and ~6 % of a short connection's CPU (performance.md).
    // The 12-byte message, little-endian: localAddr, localPort, remotePort, remoteAddr; as
    // SipHash cuts it, one full 8-byte block and the last 4 bytes with the length (12) on top.
    if (localAddr >= IPV6_ID_BASE || remoteAddr >= IPV6_ID_BASE) {
      return this.#next6(localAddr, localPort, remoteAddr, remotePort, nowMs);
    }
    const w = this.#msg;
    w[0] = localAddr;
    w[1] = (localPort & 0xffff) | ((remotePort & 0xffff) << 16);
    w[2] = remoteAddr;
    w[3] = 12 << 24;
    const f = sipWords(this.#key, 0, w, 2);
    const m = Math.floor(nowMs * TICKS_PER_MS) % TWO_32;
    return (m + f) >>> 0;
  }

  /**
   * The same over IPv6: the 36-byte message localAddr (16 bytes), remoteAddr (16), localPort and
   * remotePort (little-endian, as above), SipHash's length byte (36) on the last block.
   */
  #next6(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number {
    const bytes = this.addressBytes;
    if (bytes === null || localAddr < IPV6_ID_BASE || remoteAddr < IPV6_ID_BASE) {
      throw new RangeError('IsnGenerator: an IPv6 4-tuple needs both addresses and addressBytes');
    }
    const w = this.#msg6;
    addrWords(bytes(localAddr), w, 0);
    addrWords(bytes(remoteAddr), w, 4);
    w[8] = (localPort & 0xffff) | ((remotePort & 0xffff) << 16);
    w[9] = 36 << 24;
    const f = sipWords(this.#key, 0, w, 5);
    const m = Math.floor(nowMs * TICKS_PER_MS) % TWO_32;
    return (m + f) >>> 0;
  }
}
