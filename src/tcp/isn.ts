/**
 * Initial sequence numbers (RFC 6528 §3): ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), where M is a timer ticking every 4 microseconds and F a keyed hash of the
 * connection's 4-tuple. Off-path attackers cannot guess ISNs, and successive incarnations of one
 * 4-tuple still get increasing ISNs (RFC 9293 §3.4.1), which keeps old duplicates out.
 *
 * Deterministic given the secret and `now`: the simulator passes a fixed secret and virtual time.
 */

import { randomBytes } from 'node:crypto';

/** RFC 6528 §3 / RFC 9293 §3.4.1: M increments once every 4 µs, i.e. 250 times per ms. */
const TICKS_PER_MS = 250;
const TWO_32 = 0x1_0000_0000;

export class IsnGenerator {
  /** The 128-bit SipHash key as four little-endian 32-bit words (k0 low, k0 high, k1 low, k1 high). */
  readonly #key: Uint32Array;
  /** The message's two blocks as (lo, hi) words, reused; the hash is written back into it. */
  readonly #words = new Uint32Array(4);

  /** `secret` is the hash key (16 bytes; shorter is zero-padded, longer cut); 16 random bytes when omitted. */
  constructor(secret?: Uint8Array) {
    const bytes = new Uint8Array(16);
    bytes.set((secret ?? randomBytes(16)).subarray(0, 16));
    const v = new DataView(bytes.buffer);
    this.#key = Uint32Array.of(
      v.getUint32(0, true),
      v.getUint32(4, true),
      v.getUint32(8, true),
      v.getUint32(12, true),
    );
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
    const w = this.#words;
    w[0] = localAddr;
    w[1] = (localPort & 0xffff) | ((remotePort & 0xffff) << 16);
    w[2] = remoteAddr;
    w[3] = 12 << 24;
    siphash24Blocks(this.#key, w, 2, w);
    const f = w[0];
    const m = Math.floor(nowMs * TICKS_PER_MS) % TWO_32;
    return (m + f) >>> 0;
  }
}

// ---------------------------------------------------------------------------------------------
// SipHash-2-4 (Aumasson and Bernstein, 2012) over 32-bit halves: a 64-bit word is (hi, lo).

/**
 * SipHash-2-4 of `count` 64-bit little-endian blocks given as (lo, hi) word pairs in `words`
 * (the caller pads the last one as the algorithm says: the message length in its top byte),
 * under the key as four words (k0 lo, k0 hi, k1 lo, k1 hi). Writes (lo, hi) of the result to
 * out[0], out[1]. Locals only: a 32-bit word pair per state variable, no allocation.
 */
export function siphash24Blocks(
  key: Uint32Array,
  words: Uint32Array,
  count: number,
  out: Uint32Array,
): void {
  let v0h = (key[1] ^ 0x736f6d65) >>> 0;
  let v0l = (key[0] ^ 0x70736575) >>> 0;
  let v1h = (key[3] ^ 0x646f7261) >>> 0;
  let v1l = (key[2] ^ 0x6e646f6d) >>> 0;
  let v2h = (key[1] ^ 0x6c796765) >>> 0;
  let v2l = (key[0] ^ 0x6e657261) >>> 0;
  let v3h = (key[3] ^ 0x74656462) >>> 0;
  let v3l = (key[2] ^ 0x79746573) >>> 0;
  let l = 0;
  let t = 0;
  // Two compression rounds per block, then four finalisation rounds after v2 ^= 0xff.
  const blocks = count;
  for (let r = 0, i = 0; ; ) {
    let rounds: number;
    let ml = 0;
    let mh = 0;
    if (i < blocks) {
      ml = words[2 * i];
      mh = words[2 * i + 1];
      v3h ^= mh;
      v3l ^= ml;
      rounds = 2;
    } else {
      v2l ^= 0xff;
      rounds = 4;
    }
    for (r = 0; r < rounds; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      l = (v0l + v1l) >>> 0;
      v0h = (v0h + v1h + (l < v0l >>> 0 ? 1 : 0)) >>> 0;
      v0l = l;
      t = (v1h << 13) | (v1l >>> 19);
      v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l;
      v1h = t ^ v0h;
      t = v0h;
      v0h = v0l;
      v0l = t;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      l = (v2l + v3l) >>> 0;
      v2h = (v2h + v3h + (l < v2l >>> 0 ? 1 : 0)) >>> 0;
      v2l = l;
      t = (v3h << 16) | (v3l >>> 16);
      v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
      v3h = t ^ v2h;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      l = (v0l + v3l) >>> 0;
      v0h = (v0h + v3h + (l < v0l >>> 0 ? 1 : 0)) >>> 0;
      v0l = l;
      t = (v3h << 21) | (v3l >>> 11);
      v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
      v3h = t ^ v0h;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      l = (v2l + v1l) >>> 0;
      v2h = (v2h + v1h + (l < v2l >>> 0 ? 1 : 0)) >>> 0;
      v2l = l;
      t = (v1h << 17) | (v1l >>> 15);
      v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
      v1h = t ^ v2h;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    if (i >= blocks) break;
    v0h ^= mh;
    v0l ^= ml;
    i++;
  }
  out[0] = v0l ^ v1l ^ v2l ^ v3l;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
}

/** SipHash-2-4 of `msg` under the 16-byte `key`, as [hi, lo] 32-bit halves of the 64-bit result. */
export function siphash24(key: Uint8Array, msg: Uint8Array): [number, number] {
  const k = new Uint32Array(4);
  const kv = new DataView(key.buffer, key.byteOffset, 16);
  for (let i = 0; i < 4; i++) k[i] = kv.getUint32(4 * i, true);
  const count = (msg.length >>> 3) + 1;
  const padded = new Uint8Array(8 * count);
  padded.set(msg);
  padded[padded.length - 1] = msg.length & 0xff;
  const pv = new DataView(padded.buffer);
  const words = new Uint32Array(2 * count);
  for (let i = 0; i < words.length; i++) words[i] = pv.getUint32(4 * i, true);
  const out = new Uint32Array(2);
  siphash24Blocks(k, words, count, out);
  return [out[1], out[0]];
}
