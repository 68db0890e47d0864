/**
 * Option negotiation on the SYN exchange: MSS (RFC 9293 §3.7.1), window scale (RFC 7323 §2),
 * timestamps (RFC 7323 §3) and SACK-permitted (RFC 2018 §2).
 *
 * An option is in force only when both SYNs carried it; the SYN-ACK of a passive open carries only
 * the options the SYN offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
 */
import { TCP_MAX_WINDOW_SCALE } from '../wire/tcp.ts';
import type { TcpOptions, TcpTimestamp } from '../wire/tcp-repr.ts';
import type { TcpConnectionOptions } from './options.ts';

/** RFC 9293 §3.7.1: the send MSS when the peer sent no MSS option. */
export const DEFAULT_PEER_MSS = 536;
/**
 * The smallest SMSS we accept from a peer's MSS option (Linux's tcp_min_snd_mss, 48): a tiny MSS
 * would make every byte we send cost a segment (CVE-2019-11479's resource exhaustion).
 */
export const MIN_SND_MSS = 48;
/** Bytes a timestamp option takes in every segment once negotiated (10, padded to 12). */
export const TIMESTAMP_OPTION_LEN = 12;
/** The largest unscaled window field. */
export const MAX_WINDOW_FIELD = 0xffff;

/** What both ends agreed on. */
export interface Negotiated {
  /** Largest payload per segment we send, before subtracting per-segment options. */
  smss: number;
  /** Window scaling is in force (both SYNs carried the option). */
  windowScale: boolean;
  /** Shift applied to windows the peer advertises (its shift count), 0 without scaling. */
  sndShift: number;
  /** Shift applied to windows we advertise (our shift count), 0 without scaling. */
  rcvShift: number;
  timestamps: boolean;
  sack: boolean;
  /** ECN (RFC 3168 §6.1.1): the SYN asked for it and the SYN-ACK agreed (src/tcp/ecn.ts). */
  ecn: boolean;
}

/** The smallest shift that lets a window of `rcvBuf` bytes fit the 16-bit field (RFC 7323 §2.3). */
export function windowShiftFor(rcvBuf: number): number {
  let shift = 0;
  while (shift < TCP_MAX_WINDOW_SCALE && rcvBuf > MAX_WINDOW_FIELD * 2 ** shift) shift++;
  return shift;
}

/** Options for our SYN (active open): everything the options object enables. */
export function synOptions(o: TcpConnectionOptions, ts: TcpTimestamp): TcpOptions {
  return {
    mss: o.mss,
    windowScale: o.windowScale ? windowShiftFor(o.rcvBuf) : null,
    sackPermitted: o.sack,
    sackBlocks: [],
    timestamp: o.timestamps ? ts : null,
  };
}

/** Options for our SYN-ACK: MSS always, the rest only as negotiated. */
export function synAckOptions(
  o: TcpConnectionOptions,
  n: Negotiated,
  ts: TcpTimestamp,
): TcpOptions {
  return {
    mss: o.mss,
    windowScale: n.windowScale ? n.rcvShift : null,
    sackPermitted: n.sack,
    sackBlocks: [],
    timestamp: n.timestamps ? ts : null,
  };
}

/**
 * Combine our options with the peer's SYN (or SYN-ACK) options.
 *
 * SMSS = min(peer MSS or 536, our MSS) (RFC 9293 §3.7.1; RFC 6691), and no less than
 * MIN_SND_MSS; an MSS option of 0 is ignored, as Linux ignores it. A shift count above 14 is taken
 * as 14 (RFC 7323 §2.3).
 */
export function negotiate(
  o: TcpConnectionOptions,
  peer: TcpOptions,
  ecn = false,
): Readonly<Negotiated> {
  const peerMss = peer.mss === null || peer.mss === 0 ? DEFAULT_PEER_MSS : peer.mss;
  const scaling = o.windowScale && peer.windowScale !== null;
  return shared({
    smss: Math.max(Math.min(MIN_SND_MSS, o.mss), Math.min(peerMss, o.mss)),
    windowScale: scaling,
    sndShift: scaling ? Math.min(peer.windowScale ?? 0, TCP_MAX_WINDOW_SCALE) : 0,
    rcvShift: scaling ? windowShiftFor(o.rcvBuf) : 0,
    timestamps: o.timestamps && peer.timestamp !== null,
    sack: o.sack && peer.sackPermitted,
    ecn,
  });
}

/**
 * Agreements are values, and a stack's connections mostly reach the same few: each distinct one
 * is kept once, frozen, and shared (~70 B of heap per connection). Bounded: past MAX_SHARED
 * distinct agreements, a connection keeps its own.
 */
const agreements = new Map<number, Readonly<Negotiated>>();
const MAX_SHARED = 256;

function shared(n: Negotiated): Readonly<Negotiated> {
  // An integer smss < 2^16, shifts ≤ 14 (4 bits each), four flags: one exact integer key.
  if (!Number.isInteger(n.smss)) return Object.freeze(n);
  const flags =
    (n.ecn ? 8 : 0) | (n.windowScale ? 4 : 0) | (n.timestamps ? 2 : 0) | (n.sack ? 1 : 0);
  const key = ((n.smss * 16 + n.sndShift) * 16 + n.rcvShift) * 16 + flags;
  const known = agreements.get(key);
  if (known !== undefined) return known;
  const frozen = Object.freeze(n);
  if (agreements.size < MAX_SHARED) agreements.set(key, frozen);
  return frozen;
}
