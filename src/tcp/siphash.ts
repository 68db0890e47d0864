/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed PRF behind our ISNs (RFC 6528, as Linux's
 * secure_tcp_seq) and SYN cookies (as Linux's syncookies.c), computed on 32-bit halves: JS has no
 * 64-bit integer arithmetic short of BigInt, which allocates. The state is four 64-bit words, each
 * a (low, high) pair of int32 locals of one function, which the optimiser keeps in registers
 * (module-level variables or a Uint32Array box values above 2^30 and ran 4-10x slower).
 */

/** The high 32 bits of the last sipWords result (sipHash24 reads them). */
const sipHigh = new Uint32Array(1);

/**
 * SipHash-2-4 under the 16-byte key `key[off..off+3]` (little-endian words) of a message given as
 * `n` 8-byte words, `msg[2i]` the low and `msg[2i+1]` the high 32 bits of word i, the last word
 * already carrying the length byte. Returns the low 32 bits of the hash.
 */
export function sipWords(key: Uint32Array, off: number, msg: Int32Array, n: number): number {
  const k0l = key[off] | 0;
  const k0h = key[off + 1] | 0;
  const k1l = key[off + 2] | 0;
  const k1h = key[off + 3] | 0;
  let v0l = k0l ^ 0x70736575;
  let v0h = k0h ^ 0x736f6d65;
  let v1l = k1l ^ 0x6e646f6d;
  let v1h = k1h ^ 0x646f7261;
  let v2l = k0l ^ 0x6e657261;
  let v2h = k0h ^ 0x6c796765;
  let v3l = k1l ^ 0x79746573;
  let v3h = k1h ^ 0x74656462;
  let l: number;
  let t: number;
  // n message words with 2 rounds each (c = 2), then the finish with 4 (d = 4).
  for (let w = 0; w <= n; w++) {
    let ml = 0;
    let mh = 0;
    let rounds = 4;
    if (w < n) {
      ml = msg[2 * w];
      mh = msg[2 * w + 1];
      v3l ^= ml;
      v3h ^= mh;
      rounds = 2;
    } else {
      v2l ^= 0xff;
    }
    for (let r = 0; r < rounds; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      l = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (l >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = l;
      t = (v1l << 13) | (v1h >>> 19);
      v1h = ((v1h << 13) | (v1l >>> 19)) ^ v0h;
      v1l = t ^ v0l;
      t = v0l;
      v0l = v0h;
      v0h = t;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      l = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (l >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = l;
      t = (v3l << 16) | (v3h >>> 16);
      v3h = ((v3h << 16) | (v3l >>> 16)) ^ v2h;
      v3l = t ^ v2l;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      l = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (l >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = l;
      t = (v3l << 21) | (v3h >>> 11);
      v3h = ((v3h << 21) | (v3l >>> 11)) ^ v0h;
      v3l = t ^ v0l;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      l = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (l >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = l;
      t = (v1l << 17) | (v1h >>> 15);
      v1h = ((v1h << 17) | (v1l >>> 15)) ^ v2h;
      v1l = t ^ v2l;
      t = v2l;
      v2l = v2h;
      v2h = t;
    }
    if (w < n) {
      v0l ^= ml;
      v0h ^= mh;
    }
  }
  sipHigh[0] = v0h ^ v1h ^ v2h ^ v3h;
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Four key words (little-endian) from 16 key bytes at `off`. */
export function keyWords(bytes: Uint8Array, off: number, into: Uint32Array, at: number): void {
  const d = new DataView(bytes.buffer, bytes.byteOffset + off, 16);
  for (let i = 0; i < 4; i++) into[at + i] = d.getUint32(4 * i, true);
}

/**
 * SipHash-2-4 of `msg` under a 16-byte `key`, as [low 32 bits, high 32 bits] of the 64-bit
 * result (the reference implementation's output, read as a little-endian integer).
 */
export function sipHash24(key: Uint8Array, msg: Uint8Array): [number, number] {
  if (key.length !== 16) throw new RangeError('SipHash key must be 16 bytes');
  const k = new Uint32Array(4);
  keyWords(key, 0, k, 0);
  const n = Math.floor(msg.length / 8) + 1;
  const words = new Int32Array(2 * n);
  const d = new DataView(msg.buffer, msg.byteOffset, msg.length);
  const full = 8 * (n - 1);
  for (let i = 0; i < full; i += 4) words[i / 4] = d.getInt32(i, true);
  // The last word: the remaining bytes, and the length mod 256 in the top byte.
  let lo = 0;
  let hi = (msg.length & 0xff) << 24;
  for (let i = full; i < msg.length; i++) {
    const sh = 8 * (i - full);
    if (sh < 32) lo |= msg[i] << sh;
    else hi |= msg[i] << (sh - 32);
  }
  words[2 * n - 2] = lo;
  words[2 * n - 1] = hi;
  const low = sipWords(k, 0, words, n);
  return [low, sipHigh[0]];
}
