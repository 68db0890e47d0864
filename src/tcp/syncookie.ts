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
import { type AddressBytes, addrWords, IPV6_ID_BASE } from './address.ts';
import { keyWords, sipWords } from './siphash.ts';

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
   * The bytes behind IPv6 ids (src/tcp/address.ts), set by the stack layer: a cookie for an IPv6
   * 4-tuple hashes the real 128-bit addresses, not the ids.
   */
  addressBytes: AddressBytes | null = null;
  /** The IPv6 message: remote (16 bytes), local (16), ports, count: 40 bytes, six blocks. */
  readonly #msg6 = new Int32Array(12);

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

  /** H0 (`off` 0) or H1 (4) of the 4-tuple and a count; over the real bytes for IPv6 ids. */
  #hash(off: number, remoteAddr: number, localAddr: number, ports: number, c: number): number {
    if (remoteAddr < IPV6_ID_BASE && localAddr < IPV6_ID_BASE) {
      return sip4u32(this.#key, off, remoteAddr, localAddr, ports, c);
    }
    const bytes = this.addressBytes;
    if (bytes === null || remoteAddr < IPV6_ID_BASE || localAddr < IPV6_ID_BASE) {
      throw new RangeError('SynCookies: an IPv6 4-tuple needs both addresses and addressBytes');
    }
    const w = this.#msg6;
    addrWords(bytes(remoteAddr), w, 0);
    addrWords(bytes(localAddr), w, 4);
    w[8] = ports;
    w[9] = c;
    w[10] = 0;
    w[11] = 40 << 24;
    return sipWords(this.#key, off, w, 6);
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
    const h0 = this.#hash(0, remoteAddr, localAddr, ports, 0);
    const h1 = this.#hash(4, remoteAddr, localAddr, ports, count);
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
    const h0 = this.#hash(0, remoteAddr, localAddr, ports, 0);
    // What is left: (count << 24) + ((H1 + data) mod 2^24).
    const rest = (cookie - h0 - peerIsn) >>> 0;
    const diff = (count - (rest >>> COOKIE_BITS)) & (0xffff_ffff >>> COOKIE_BITS);
    if (diff >= MAX_COOKIE_AGE) return -1;
    const h1 = this.#hash(4, remoteAddr, localAddr, ports, count - diff);
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
