/**
 * SYN cookies (RFC 4987 §3.6), encoded as Linux encodes them (net/ipv4/syncookies.c): a listener
 * under a SYN flood answers a SYN with a SYN-ACK whose ISS carries what the connection needs, and
 * keeps no state; the ACK that completes the handshake brings the ISS back (SEG.ACK − 1), and the
 * connection is made from it then.
 *
 *   ISS = H0(4-tuple) + peer ISN + (count << 24) + ((H1(4-tuple, count) + mssIndex) mod 2^24)
 *
 * H0 and H1 are SipHash-2-4 under two 128-bit keys of the layer's secret, over the 4-tuple (and
 * for H1 the time counter); `count` is `now` in COOKIE_PERIOD_MS periods (Linux: minutes). A
 * cookie is good in the period it was made in and the next one (MAX_COOKIE_AGE, Linux's
 * MAX_SYNCOOKIE_AGE), and only the 2 bits of `mssIndex` are data: the other 22 of the low 24 must
 * match the hash, so a forged ACK passes with probability 2^-22 per try.
 *
 * The peer's MSS is kept as an index into COOKIE_MSS_TABLE (Linux's msstab for IPv4), rounded
 * down. When the SYN carried timestamps, window scale, SACK-permitted and ECN ride in the low 6
 * bits of our TSval (Linux's cookie_init_timestamp) and come back in the ACK's TSecr
 * (cookie_timestamp_decode); without timestamps a cookie carries none of them, and the SYN-ACK
 * offers none (as Linux).
 *
 * Deterministic: no clock is read (`now` comes in, ms) and the secret is given (src/stack derives
 * it from the ISN secret, so a seeded simulation repeats exactly). No allocation per cookie.
 */

import { createHmac, randomBytes } from 'node:crypto';

/** Linux's tcp_syncookies: 0 never, 1 when a listener's SYN queue is full, 2 for every SYN. */
export type SynCookieMode = 0 | 1 | 2;

/** The MSS values a cookie can carry (Linux msstab, IPv4): the peer's MSS rounds down to one. */
export const COOKIE_MSS_TABLE: readonly number[] = Object.freeze([536, 1300, 1440, 1460]);

/** One tick of the cookie's time counter (Linux: tcp_cookie_time counts minutes). */
export const COOKIE_PERIOD_MS = 60_000;

/**
 * A cookie is refused once this many periods have begun since it was made: it is good in its own
 * period and the next, so for at least one period and at most two (Linux MAX_SYNCOOKIE_AGE).
 */
export const MAX_COOKIE_AGE = 2;

/** Bits of the ISS below the counter (Linux COOKIEBITS). */
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;

/** Our TSval's low bits that carry options (Linux TSBITS and the TS_OPT_* masks). */
export const TS_OPT_BITS = 6;
const TS_OPT_MASK = (1 << TS_OPT_BITS) - 1;
const TS_OPT_WSCALE_MASK = 0xf;
const TS_OPT_SACK = 1 << 4;
const TS_OPT_ECN = 1 << 5;

/** The options a cookie carries in the timestamp. */
export interface CookieTsOptions {
  /** The peer's window scale shift (0–14), or null without window scaling. */
  windowScale: number | null;
  sackPermitted: boolean;
  ecn: boolean;
}

/** The index of the largest table MSS not above `mss` (536 for anything smaller). */
export function cookieMssIndex(mss: number): number {
  for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) if (mss >= COOKIE_MSS_TABLE[i]) return i;
  return 0;
}

/**
 * Our SYN-ACK's TSval with the options in its low bits, never above `tsNow` (so the connection's
 * later TSvals, from the same clock, do not go backwards; Linux cookie_init_timestamp).
 */
export function cookieTsVal(
  tsNow: number,
  windowScale: number | null,
  sackPermitted: boolean,
  ecn: boolean,
): number {
  let options = windowScale === null ? TS_OPT_WSCALE_MASK : windowScale & TS_OPT_WSCALE_MASK;
  if (sackPermitted) options |= TS_OPT_SACK;
  if (ecn) options |= TS_OPT_ECN;
  const now = tsNow >>> 0;
  let ts = ((now & ~TS_OPT_MASK) | options) >>> 0;
  if (ts > now) ts = (ts - (TS_OPT_MASK + 1)) >>> 0;
  return ts;
}

/** The options in the TSecr of a cookie ACK (Linux cookie_timestamp_decode). */
export function cookieTsOptions(tsEcr: number): CookieTsOptions {
  const wscale = tsEcr & TS_OPT_WSCALE_MASK;
  return {
    windowScale: wscale === TS_OPT_WSCALE_MASK ? null : wscale,
    sackPermitted: (tsEcr & TS_OPT_SACK) !== 0,
    ecn: (tsEcr & TS_OPT_ECN) !== 0,
  };
}

// ------------------------------------------------------------------------------------------------
// SipHash-2-4 (Aumasson and Bernstein, 2012) on 32-bit halves: JS has no 64-bit integer arithmetic
// short of BigInt, which allocates. The state is four 64-bit words, each a (low, high) pair of
// int32 locals of one function, which the optimiser keeps in registers (module-level variables or
// a Uint32Array box values above 2^30 and ran 4-10x slower).

/** The high 32 bits of the last sipWords result (tests read them through sipHash24). */
const sipHigh = new Uint32Array(1);

/**
 * SipHash-2-4 under the 16-byte key `key[off..off+3]` (little-endian words) of a message given as
 * `n` 8-byte words, `msg[2i]` the low and `msg[2i+1]` the high 32 bits of word i, the last word
 * already carrying the length byte. Returns the low 32 bits of the hash.
 */
function sipWords(key: Uint32Array, off: number, msg: Int32Array, n: number): number {
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
function keyWords(bytes: Uint8Array, off: number, into: Uint32Array, at: number): void {
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

/**
 * SipHash-2-4 of the 16 bytes a, b, c, d (each a little-endian uint32), low 32 bits: Linux's
 * siphash_4u32, without building the bytes.
 */
function sip4u32(
  key: Uint32Array,
  off: number,
  a: number,
  b: number,
  c: number,
  d: number,
): number {
  const m = msg4u32;
  m[0] = a;
  m[1] = b;
  m[2] = c;
  m[3] = d;
  return sipWords(key, off, m, 3);
}

/** sip4u32's message: the four words, then the last word (no bytes left, length 16). */
const msg4u32 = Int32Array.of(0, 0, 0, 0, 0, 16 << 24);

/** The test hook for sip4u32 (the same value as sipHash24 over the 16 bytes, low half). */
export function sipHash4u32(key: Uint8Array, a: number, b: number, c: number, d: number): number {
  const k = new Uint32Array(4);
  keyWords(key, 0, k, 0);
  return sip4u32(k, 0, a, b, c, d);
}

// ------------------------------------------------------------------------------------------------

/** The bytes of secret a SynCookies takes: two SipHash keys (Linux syncookie_secret[2]). */
export const COOKIE_SECRET_BYTES = 32;

export class SynCookies {
  /** Two SipHash keys as little-endian words: H0's at 0, H1's at 4. */
  readonly #key = new Uint32Array(8);
  readonly periodMs: number;

  /**
   * `secret`: 32 bytes, random when omitted. `periodMs`: one tick of the time counter (tests and
   * simulations may shorten it).
   */
  constructor(secret?: Uint8Array, periodMs = COOKIE_PERIOD_MS) {
    const s = secret ?? randomBytes(COOKIE_SECRET_BYTES);
    if (s.length !== COOKIE_SECRET_BYTES) {
      throw new RangeError(`SYN cookie secret must be ${COOKIE_SECRET_BYTES} bytes`);
    }
    if (!(periodMs > 0)) throw new RangeError(`bad SYN cookie period ${periodMs}`);
    keyWords(s, 0, this.#key, 0);
    keyWords(s, 16, this.#key, 4);
    this.periodMs = periodMs;
  }

  /**
   * A codec whose secret is derived from another secret (the layer's RFC 6528 ISN secret), so
   * that one seed makes both reproducible; random when `from` is omitted.
   */
  static derivedFrom(from: Uint8Array | undefined, periodMs = COOKIE_PERIOD_MS): SynCookies {
    if (from === undefined) return new SynCookies(undefined, periodMs);
    const s = createHmac('sha256', from).update('tunstack SYN cookie secret').digest();
    return new SynCookies(s, periodMs);
  }

  /** The time counter at `nowMs`. */
  count(nowMs: number): number {
    return Math.floor(nowMs / this.periodMs) >>> 0;
  }

  /**
   * The cookie (our ISS) for a SYN from remoteAddr:remotePort with sequence number `peerIsn` to
   * localAddr:localPort, carrying `mssIndex` (see cookieMssIndex).
   */
  make(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    peerIsn: number,
    mssIndex: number,
    nowMs: number,
  ): number {
    const count = this.count(nowMs);
    const ports = ((remotePort << 16) | localPort) >>> 0;
    const h0 = sip4u32(this.#key, 0, remoteAddr, localAddr, ports, 0);
    const h1 = sip4u32(this.#key, 4, remoteAddr, localAddr, ports, count);
    return (h0 + peerIsn + ((count << COOKIE_BITS) >>> 0) + ((h1 + mssIndex) & COOKIE_MASK)) >>> 0;
  }

  /**
   * The MSS index a cookie carries, or -1 when it is not one of ours for this 4-tuple and peer ISN
   * or is older than MAX_COOKIE_AGE periods (Linux check_tcp_syn_cookie).
   */
  check(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    peerIsn: number,
    cookie: number,
    nowMs: number,
  ): number {
    const count = this.count(nowMs);
    const ports = ((remotePort << 16) | localPort) >>> 0;
    const h0 = sip4u32(this.#key, 0, remoteAddr, localAddr, ports, 0);
    // What is left: (count << 24) + ((H1 + data) mod 2^24).
    const rest = (cookie - h0 - peerIsn) >>> 0;
    const diff = (count - (rest >>> COOKIE_BITS)) & (0xffff_ffff >>> COOKIE_BITS);
    if (diff >= MAX_COOKIE_AGE) return -1;
    const h1 = sip4u32(this.#key, 4, remoteAddr, localAddr, ports, count - diff);
    const data = (rest - h1) & COOKIE_MASK;
    return data < COOKIE_MSS_TABLE.length ? data : -1;
  }
}

/** The cookie counters, under the names nstat gives Linux's (TcpExtSyncookies*). */
export interface SynCookieStats {
  /** SYN-ACKs sent with a cookie (no state kept). */
  SyncookiesSent: number;
  /** ACKs that brought back a valid cookie (a connection was made from each, queue permitting). */
  SyncookiesRecv: number;
  /** ACKs checked as cookies and refused: forged, for another 4-tuple, or too old. */
  SyncookiesFailed: number;
}

export function newSynCookieStats(): SynCookieStats {
  return { SyncookiesSent: 0, SyncookiesRecv: 0, SyncookiesFailed: 0 };
}
