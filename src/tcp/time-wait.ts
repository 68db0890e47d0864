/**
 * A connection in TIME_WAIT with nothing left for its owner, reduced to what the state still needs
 * (Linux's inet_timewait_sock, ~200 bytes, where a whole TcpConnection is ~2.7 KB): the 4-tuple,
 * RCV.NXT, SND.NXT, TS.Recent and our TSval offset when timestamps are on, the window, and the
 * expiry. The stack's TCP layer (src/stack/tcp.ts) swaps a connection for one of these; this module
 * holds the rules, deterministic (`now` is passed in, no clock is read).
 *
 * The answers follow what TcpConnection does in TIME_WAIT (src/tcp/conn.ts, RFC 9293 §3.10.7.4),
 * except for a new SYN, which RFC 6191 (and Linux's tcp_timewait_state_process) lets open a new
 * incarnation of the connection when it cannot be an old duplicate: its sequence number is above
 * RCV.NXT, or, with timestamps, its TSval is newer than TS.Recent.
 */
import type { TcpOptions, TcpRepr } from '../wire/tcp-repr.ts';
import { NO_OPTIONS } from '../wire/tcp-repr.ts';
import { isAcceptable } from './recv.ts';
import { tcpRepr } from './segments.ts';
import { tsClock } from './sender.ts';
import { seqAdd, seqGt, seqLeq, seqLt } from './seq.ts';

/** What a TIME_WAIT entry keeps. Mutable: the rules below move the expiry, TS.Recent, the limiter. */
export interface TimeWaitEntry {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** RCV.NXT: one past the peer's FIN. */
  readonly rcvNxt: number;
  /** SND.NXT as the peer knows it (SND.MAX): one past our FIN. */
  readonly sndNxt: number;
  /** RCV.WND in bytes (acceptability) and the window field we send (scaled as negotiated). */
  readonly rcvWnd: number;
  readonly windowField: number;
  /** TS.Recent, or null when timestamps were not negotiated. */
  tsRecent: number | null;
  /** Our TSval offset (the connection's ISS: TSval = now + ISS, src/tcp/sender.ts tsClock). */
  readonly tsOffset: number;
  /** When the entry is forgotten (2·MSL after the last FIN, restarted by a FIN again). */
  expiry: number;
  /** When the last rate-limited ACK was sent (−∞: none yet). */
  lastAckAt: number;
}

/** The two options the rules read (TcpConnectionOptions' names). */
export interface TimeWaitOptions {
  timeWaitMs: number;
  invalidAckIntervalMs: number;
}

/** Why a segment a TIME_WAIT entry met was dropped without an answer. */
export type TimeWaitDropReason =
  | 'no-ack'
  | 'no-timestamp'
  | 'paws'
  | 'out-of-window'
  | 'rst-out-of-window'
  | 'ack-limited'
  | 'old';

/** What to do with a segment that met a TIME_WAIT entry. */
export type TimeWaitVerdict =
  /** Send timeWaitAck(entry, now); the entry stays. */
  | { kind: 'ack' }
  /** Forget the entry (an exact RST). */
  | { kind: 'gone' }
  /** Forget the entry and give the SYN to the listener (RFC 6191). */
  | { kind: 'reuse' }
  | { kind: 'drop'; reason: TimeWaitDropReason };

const ACK: TimeWaitVerdict = Object.freeze({ kind: 'ack' });
const GONE: TimeWaitVerdict = Object.freeze({ kind: 'gone' });
const REUSE: TimeWaitVerdict = Object.freeze({ kind: 'reuse' });
const DROPS = new Map<TimeWaitDropReason, TimeWaitVerdict>();
function drop(reason: TimeWaitDropReason): TimeWaitVerdict {
  let v = DROPS.get(reason);
  if (v === undefined) {
    v = Object.freeze({ kind: 'drop', reason });
    DROPS.set(reason, v);
  }
  return v;
}

function segLen(seg: TcpRepr): number {
  const ctl = seg.control === 'syn' || seg.control === 'fin' ? 1 : 0;
  return seg.payload.length + ctl;
}

/**
 * The ACK conn.ts's receiver rate-limits (Receiver.invalidAck, Linux's tcp_oow_rate_limited): one
 * for a data-less segment at most once per `invalidAckIntervalMs`; a segment with data always.
 */
function limitedAck(e: TimeWaitEntry, seg: TcpRepr, now: number, o: TimeWaitOptions) {
  const interval = o.invalidAckIntervalMs;
  if (interval > 0 && (seg.payload.length === 0 || seg.control === 'syn')) {
    if (now - e.lastAckAt < interval) return drop('ack-limited');
    e.lastAckAt = now;
  }
  return ACK;
}

/**
 * A new SYN (no ACK) that RFC 6191 §2 accepts: with timestamps on both sides, a TSval newer than
 * TS.Recent (one older fails PAWS); otherwise a sequence number above RCV.NXT. As Linux, a SYN
 * that passes PAWS and is above RCV.NXT is taken too.
 */
export function synReusable(e: TimeWaitEntry, seg: TcpRepr): boolean {
  if (seg.control !== 'syn' || seg.ack !== null) return false;
  const ts = seg.options.timestamp;
  if (e.tsRecent !== null && ts !== null) {
    if (seqLt(ts.tsVal, e.tsRecent)) return false; // PAWS
    if (seqGt(ts.tsVal, e.tsRecent)) return true;
  }
  return seqGt(seg.seq, e.rcvNxt);
}

/** The verdict for `seg` (to this entry's 4-tuple) at `now`; moves the entry's expiry and TS.Recent. */
export function timeWaitInput(
  e: TimeWaitEntry,
  seg: TcpRepr,
  now: number,
  o: TimeWaitOptions,
): TimeWaitVerdict {
  if (synReusable(e, seg)) return REUSE;
  // Neither SYN, RST nor ACK: dropped unanswered (conn.ts #isScanWithoutAck).
  if (seg.ack === null && seg.control !== 'syn' && seg.control !== 'rst') return drop('no-ack');
  // The peer's FIN again (our ACK was lost): ACK it and restart 2·MSL (§3.10.7.4, eighth step).
  if (seg.control === 'fin' && seqAdd(seg.seq, segLen(seg)) === e.rcvNxt) {
    e.expiry = now + o.timeWaitMs;
    return ACK;
  }
  // RFC 7323: once negotiated, a segment without timestamps is dropped; PAWS drops an old TSval
  // with an ACK (rate-limited). A RST is exempt from both.
  const ts = seg.options.timestamp;
  if (e.tsRecent !== null && seg.control !== 'rst') {
    if (ts === null) return drop('no-timestamp');
    if (seqLt(ts.tsVal, e.tsRecent)) {
      const v = limitedAck(e, seg, now, o);
      return v === ACK ? v : drop('paws');
    }
  }
  // First, the sequence number (the zero-window allowance: a segment at RCV.NXT passes).
  const acceptable =
    (e.rcvWnd === 0 && seg.seq === e.rcvNxt) ||
    isAcceptable(seg.seq, segLen(seg), e.rcvNxt, e.rcvWnd);
  if (!acceptable) {
    if (seg.control === 'rst') return drop('rst-out-of-window');
    // RFC 7323 §4.3: a retransmission at or below Last.ACK.sent (= RCV.NXT here) renews TS.Recent.
    if (
      ts !== null &&
      e.tsRecent !== null &&
      seqLeq(seg.seq, e.rcvNxt) &&
      seqGt(ts.tsVal, e.tsRecent)
    )
      e.tsRecent = ts.tsVal;
    const v = limitedAck(e, seg, now, o);
    return v === ACK ? v : drop('out-of-window');
  }
  // TS.Recent follows an acceptable segment whose ACK is in range (SND.UNA = SND.NXT here).
  if (ts !== null && e.tsRecent !== null && (seg.ack === null || seg.ack === e.sndNxt)) {
    if (seqLeq(seg.seq, e.rcvNxt) && seqGt(ts.tsVal, e.tsRecent)) e.tsRecent = ts.tsVal;
  }
  // Second, RST: exact → gone (as the core: TIME_WAIT "just closes"); else a challenge ACK.
  if (seg.control === 'rst') return seg.seq === e.rcvNxt ? GONE : limitedAck(e, seg, now, o);
  // Fourth, SYN in the window (one RFC 6191 refused): a challenge ACK (RFC 5961 §4).
  if (seg.control === 'syn') return limitedAck(e, seg, now, o);
  // Fifth, ACK: outside what we sent, a challenge ACK (RFC 5961 §5.2); else nothing to do (text
  // after the FIN is dropped, the FIN was taken).
  if (seg.ack !== null && seg.ack !== e.sndNxt) return limitedAck(e, seg, now, o);
  return drop('old');
}

/** The ACK the entry sends: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, our window, timestamps if on. */
export function timeWaitAck(e: TimeWaitEntry, now: number): TcpRepr {
  const options: TcpOptions =
    e.tsRecent === null
      ? NO_OPTIONS
      : { ...NO_OPTIONS, timestamp: { tsVal: tsClock(now, e.tsOffset), tsEcr: e.tsRecent } };
  return tcpRepr(e, 'none', e.sndNxt, EMPTY, e.rcvNxt, e.windowField, options);
}

const EMPTY = new Uint8Array(0);

/**
 * RFC 6191 §2: the new incarnation's ISN must be above the old SND.NXT, so that its segments
 * cannot be taken for the old one's. The clock-driven ISN usually is (250 per ms since the old
 * ISN); when not (the old connection sent more than that), jump past it as Linux does
 * (tw_snd_nxt + 65535 + 2).
 */
export function reuseIsn(e: TimeWaitEntry, isn: number): number {
  if (seqGt(isn, e.sndNxt)) return isn >>> 0;
  return seqAdd(e.sndNxt, 65_537);
}
