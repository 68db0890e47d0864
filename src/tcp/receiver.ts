/**
 * The receiving half of a connection, after gVisor's rcv.go: it answers "why did we ACK?".
 *
 * It owns the receive sequence space (IRS, RCV.NXT, the advertised right edge), TS.Recent, the
 * data held for a paused user, the out-of-order queue, the peer's FIN, and every piece of owed-ACK
 * state (ACK now, the delayed ACK, duplicate ACKs owed, quick ACKs, D-SACK, the rate limits on
 * challenge and invalid-segment ACKs). The connection hands it acceptable text and FINs (RFC 9293
 * §3.10.7.4 seventh and eighth steps), asks it whether an ACK is due, and for the ACK number,
 * window and SACK blocks of every segment it builds; it tells it when one went out (ackSent).
 *
 * State changes (CLOSE_WAIT, CLOSING, TIME_WAIT) stay with the connection: acceptFin says when
 * the peer's FIN was taken, and the connection moves the state.
 */

import { sackRoom } from '../wire/tcp.ts';
import type { SackBlock, TcpRepr } from '../wire/tcp-repr.ts';
import { segmentLength } from '../wire/tcp-repr.ts';
import type { ConnContext } from './context.ts';
import { MAX_WINDOW_FIELD, TIMESTAMP_OPTION_LEN } from './handshake.ts';
import { Reassembly } from './reassembly.ts';
import { isAcceptable, receiveWindow, windowField } from './recv.ts';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';
import { isSynchronized, type TcpState } from './state.ts';

/** Bound on duplicate ACKs owed for out-of-order segments that arrived in one batch. */
const MAX_DUP_ACKS_OWED = 8;
/** Linux TCP_MAX_QUICKACKS: the longest run of quick ACKs (options.quickAck). */
const MAX_QUICK_ACKS = 16;

/**
 * What became of acceptable text: all of it was within the window ('complete'), some was beyond
 * it ('partial': a FIN after it is not processed), or it completed and filled the hole before a
 * FIN that had arrived out of order, which is now taken ('fin': the connection moves the state).
 */
export type TextOutcome = 'complete' | 'partial' | 'fin';

/**
 * Where the peer's FIN is: not seen, seen beyond a hole (its sequence number kept until the data
 * before it arrives), or taken (RCV.NXT counts it). 'taken' with held data: its 'fin' event waits
 * for the user to read that data.
 */
type PeerFin =
  | { kind: 'none' }
  | { kind: 'beyondHole'; seq: number }
  | { kind: 'taken'; eventHeld: boolean };

const FIN_NONE: PeerFin = Object.freeze({ kind: 'none' });
const FIN_TAKEN: PeerFin = Object.freeze({ kind: 'taken', eventHeld: false });
const FIN_TAKEN_EVENT_HELD: PeerFin = Object.freeze({ kind: 'taken', eventHeld: true });

const NONE_HELD: readonly Uint8Array[] = Object.freeze([]);
/** What an absent out-of-order queue releases when RCV.NXT advances: nothing. */
const NO_CHUNKS: readonly Uint8Array[] = Object.freeze([]);
const NO_SACK: readonly SackBlock[] = Object.freeze([]);

export class Receiver {
  readonly #ctx: ConnContext;

  // Receive sequence space (RFC 9293 §3.3.1).
  irs = 0;
  rcvNxt = 0;
  /** RCV.NXT + RCV.WND as last advertised: never moves left (RFC 9293 §3.8.6.2.2). */
  rcvAdvRight = 0;
  /** TS.Recent and Last.ACK.sent (RFC 7323 §4.3). */
  tsRecent: number | null = null;
  lastAckSent = 0;

  // What the user has not read.
  #flowing = true;
  /** Data held for `recv` (paused mode): the shared NONE_HELD while there is none. */
  #held: readonly Uint8Array[] = NONE_HELD;
  #heldBytes = 0;
  /**
   * Segments held beyond a hole (RFC 9293 §3.10.7.4), or null while there are none: made by the
   * first out-of-order segment and dropped again once the hole fills (an idle connection, and
   * most busy ones, never need it; ~200 B of heap each).
   */
  #outOfOrder: Reassembly | null = null;
  #fin: PeerFin = FIN_NONE;

  // The ACK owed.
  /** An ACK is due at the next dispatch. */
  ackNow = false;
  /** When the delayed ACK is due, or null. */
  delayedAckAt: number | null = null;
  /** In-order bytes received and not yet acknowledged (RFC 5681 §4.2: ACK every second segment). */
  #unackedBytes = 0;
  /**
   * Duplicate ACKs still owed: one per out-of-order segment (RFC 5681 §4.2), even when several
   * arrive before the next dispatch, so that the sender's duplicate-ACK count sees them all.
   */
  #dupAcksOwed = 0;
  /** options.quickAck: ACKs still to be sent at once (Linux icsk_ack.quick); see #quickAckOnData. */
  #quickAcks = 0;
  /** options.quickAck: when in-order data last arrived (null: never), and interactive mode. */
  #lastDataAt: number | null = null;
  #pingpong = false;
  /** options.dsack: the duplicate range the next ACK reports first (RFC 2883 §4), or null. */
  #dsack: SackBlock | null = null;
  /** The user took held data since the last ACK: a window update may be worth sending. */
  #userRead = false;
  /** When the current challenge-ACK second began (null: no challenge ACK yet). */
  #challengeWindowStart: number | null = null;
  #challengeAcks = 0;
  /** When the last ACK for an unacceptable data-less segment went out (null: never). */
  #lastInvalidAckAt: number | null = null;

  constructor(ctx: ConnContext) {
    this.#ctx = ctx;
  }

  /** RCV.WND as last advertised (what is left of it). */
  get rcvWnd(): number {
    return Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
  }

  /** The peer's FIN has been taken in order: RCV.NXT counts it. */
  get finTaken(): boolean {
    return this.#fin.kind === 'taken';
  }

  /** Bytes held for `recv` (paused mode). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Bytes held beyond a hole. */
  get outOfOrderBytes(): number {
    return this.#outOfOrder?.bytes ?? 0;
  }

  /** The peer's SYN: IRS, RCV.NXT, the window our SYN offers, TS.Recent (after negotiation). */
  takeSyn(syn: TcpRepr): void {
    this.irs = syn.seq;
    this.rcvNxt = seqAdd(syn.seq, 1);
    // Our SYN (or SYN-ACK) offers an unscaled window of min(rcvBuf, 65535) (RFC 7323 §2.2).
    this.rcvAdvRight = seqAdd(this.rcvNxt, Math.min(this.#ctx.opts.rcvBuf, MAX_WINDOW_FIELD));
    this.lastAckSent = this.rcvNxt;
    if (this.#ctx.negotiated.timestamps && syn.options.timestamp !== null) {
      this.tsRecent = syn.options.timestamp.tsVal;
    }
  }

  /** TS.Recent ← SEG.TSval, unless that would move it back (RFC 7323 §4.3). */
  takeTsVal(tsVal: number): void {
    if (this.tsRecent === null || seqGeq(tsVal, this.tsRecent)) this.tsRecent = tsVal;
  }

  // ---------------------------------------------------------------------------------------------
  // Acceptance (RFC 9293 §3.10.7.4 first step; RFC 7323 §3.2, §4.3, §5 for timestamps)

  /**
   * Once timestamps are negotiated (RFC 7323 §3.2) a segment without them is dropped, and PAWS
   * (§5.3 R1) drops one with a TSval older than TS.Recent, an old duplicate, after an ACK.
   * A RST is exempt from both. Returns true when the segment is dropped.
   */
  failsTimestampChecks(now: number, seg: TcpRepr): boolean {
    if (!this.#ctx.negotiated.timestamps || seg.control === 'rst') return false;
    const ts = seg.options.timestamp;
    if (ts === null) {
      this.#ctx.drop('no-timestamp');
      return true;
    }
    const recent = this.tsRecent;
    if (recent === null || !seqLt(ts.tsVal, recent)) return false;
    this.invalidAck(now, seg);
    this.#ctx.drop('paws');
    return true;
  }

  /** First step: whether the segment is acceptable; if not, ACK it (rate-limited) and drop it. */
  checkSequence(now: number, seg: TcpRepr): boolean {
    const rcvWnd = this.rcvWnd;
    // §3.10.7.4: with a zero window no segment is acceptable, "but special allowance should be
    // made to accept valid ACKs, URGs, and RSTs": a segment at RCV.NXT passes, and its text is
    // trimmed away below.
    const zeroWindowAllowance = rcvWnd === 0 && seg.seq === this.rcvNxt;
    if (zeroWindowAllowance || isAcceptable(seg.seq, segmentLength(seg), this.rcvNxt, rcvWnd)) {
      return true;
    }
    // A retransmission of data we already have (our ACK was lost): it satisfies RFC 7323 §4.3
    // (SEG.SEQ ≤ Last.ACK.sent), so take its TSval before answering. Otherwise the ACK would
    // echo a timestamp from before the loss, and the sender would measure its whole backoff as
    // one round trip.
    const ts = seg.options.timestamp;
    if (ts !== null && this.#ctx.negotiated.timestamps && seqLeq(seg.seq, this.lastAckSent)) {
      this.takeTsVal(ts.tsVal);
    }
    if (seg.control !== 'rst') this.invalidAck(now, seg);
    // RFC 2883 §4 (1): a segment wholly below RCV.NXT repeats data we have.
    const end = seqAdd(seg.seq, seg.payload.length);
    if (seg.payload.length > 0 && seqLeq(end, this.rcvNxt)) this.noteDuplicate(seg.seq, end);
    this.#ctx.drop('out-of-window');
    return false;
  }

  /**
   * RFC 7323 §4.3: TS.Recent follows the segment that covers Last.ACK.sent; not one whose ACK the
   * fifth step will drop (RFC 9293 §3.10.7.4, RFC 5961 §5.2): a segment that is dropped must not
   * move TS.Recent, or one forged ACK with a huge TSval would make PAWS (§5) drop every later
   * segment of the connection. `ackAcceptable`: the segment has no ACK, or the sender takes it.
   */
  updateTsRecent(seg: TcpRepr, ackAcceptable: boolean): void {
    const ts = seg.options.timestamp;
    if (ts === null || !this.#ctx.negotiated.timestamps) return;
    if (!ackAcceptable) return;
    if (seqLeq(seg.seq, this.lastAckSent)) this.takeTsVal(ts.tsVal);
  }

  // ---------------------------------------------------------------------------------------------
  // Text and FIN (RFC 9293 §3.10.7.4 seventh and eighth steps)

  /** Accept `data` starting at `seq` (already checked acceptable). */
  acceptText(now: number, seq: number, data: Uint8Array): TextOutcome {
    let off = seqDiff(seq, this.rcvNxt);
    if (off < 0) {
      this.noteDuplicate(seq, -off >= data.length ? seqAdd(seq, data.length) : this.rcvNxt);
      if (-off >= data.length) {
        this.ackNow = true;
        return 'complete';
      }
      data = data.subarray(-off);
      off = 0;
    }
    const room = this.rcvWnd - off;
    let outcome: TextOutcome = 'complete';
    if (data.length > room) {
      data = data.subarray(0, Math.max(room, 0));
      outcome = 'partial';
      this.#ctx.count('beyond-window');
    }
    if (data.length === 0) {
      this.ackNow = true;
      return outcome;
    }
    this.#noteHeldDuplicate(off, data.length);
    if (off > 0) {
      // Out of order: hold it and send a duplicate ACK at once (RFC 5681 §4.2; RFC 2018 SACK).
      this.#outOfOrder ??= new Reassembly(this.#ctx.opts.maxOoo);
      if (!this.#outOfOrder.insert(off, data)) this.#ctx.drop('ooo-full');
      this.ackNow = true;
      this.#oweDupAck();
      return outcome;
    }
    // In order. The payload is a view into a reused packet buffer: copy before keeping it.
    this.#deliver(data.slice());
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    let accepted = data.length;
    const filled = this.#outOfOrder === null ? NO_CHUNKS : this.#outOfOrder.advance(data.length);
    if (this.#outOfOrder?.empty) this.#outOfOrder = null;
    for (const chunk of filled) {
      this.#deliver(chunk);
      this.rcvNxt = seqAdd(this.rcvNxt, chunk.length);
      accepted += chunk.length;
    }
    // RFC 5681 §4.2: ACK at once when a hole is filled; else at least every second full-sized
    // segment, and within delayedAckMs (< 500 ms, RFC 9293 §3.8.6.3).
    this.#unackedBytes += accepted;
    const opts = this.#ctx.opts;
    const quick = opts.quickAck && this.#quickAckOnData(now);
    if (quick || filled.length > 0 || this.#unackedBytes >= 2 * this.rcvEffMss())
      this.ackNow = true;
    else if (this.delayedAckAt === null) this.delayedAckAt = now + opts.delayedAckMs;
    // A FIN that arrived beyond the hole may now be in order.
    const fin = this.#fin;
    if (fin.kind === 'beyondHole' && fin.seq === this.rcvNxt) {
      this.#fin = FIN_NONE;
      if (this.acceptFin(now, this.rcvNxt, false)) return 'fin';
    }
    return outcome;
  }

  /**
   * The FIN at sequence number `finSeq`. Returns true when it is taken now (in order, the first
   * time): RCV.NXT counts it and the 'fin' event is out (or held behind unread data).
   */
  acceptFin(now: number, finSeq: number, bare: boolean): boolean {
    if (seqGt(finSeq, this.rcvNxt)) {
      // Beyond a hole: process it once the data before it arrives. A bare FIN is an out-of-order
      // segment of its own and gets its duplicate ACK (RFC 5681 §4.2); one with data already has.
      this.#fin = { kind: 'beyondHole', seq: finSeq };
      this.ackNow = true;
      if (bare) this.#oweDupAck();
      return false;
    }
    if (finSeq !== this.rcvNxt || this.#fin.kind === 'taken') {
      this.ackNow = true;
      return false;
    }
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.#dsack = null; // Linux tcp_fin: tcp_sack_reset (options.dsack)
    const opts = this.#ctx.opts;
    if (opts.quickAck && this.#lastDataAt !== null) {
      // Linux tcp_fin: the peer is done, so its FIN is ACKed as interactive traffic, by the
      // delayed-ACK timer (our own FIN may ride on it). Before any data Linux's delayed-ACK
      // timeout is still 0: the ACK goes at once, as below.
      this.#pingpong = true;
      this.delayedAckAt ??= now + opts.delayedAckMs;
    } else {
      this.ackNow = true;
    }
    // Events follow data order: while held data waits for recv(), so does the 'fin'.
    if (this.#heldBytes > 0) {
      this.#fin = FIN_TAKEN_EVENT_HELD;
    } else {
      this.#fin = FIN_TAKEN;
      this.#ctx.emit({ type: 'fin' });
    }
    return true;
  }

  /** options.dsack: remember [from, to) as the duplicate to report, unless one is pending. */
  noteDuplicate(from: number, to: number): void {
    if (!this.#ctx.opts.dsack || !this.#ctx.negotiated.sack || this.#dsack !== null) return;
    if (seqLt(from, to)) this.#dsack = { left: from, right: to };
  }

  /** options.dsack: the part of text at `off` (from RCV.NXT) that repeats data held out of order. */
  #noteHeldDuplicate(off: number, length: number): void {
    if (!this.#ctx.opts.dsack || this.#dsack !== null) return;
    const dup = this.#outOfOrder?.firstQueued(off, length) ?? null;
    if (dup !== null) this.noteDuplicate(seqAdd(this.rcvNxt, dup[0]), seqAdd(this.rcvNxt, dup[1]));
  }

  #oweDupAck(): void {
    this.#dupAcksOwed = Math.min(this.#dupAcksOwed + 1, MAX_DUP_ACKS_OWED);
  }

  /**
   * options.quickAck, on in-order data: whether to ACK it at once. The first data starts the
   * quick-ACK run (Linux tcp_event_data_recv → tcp_incr_quickack: receive window / 2 MSS ACKs,
   * at least 2, at most 16); interactive mode suspends it (tcp_in_quickack_mode).
   */
  #quickAckOnData(now: number): boolean {
    if (this.#lastDataAt === null) {
      const n = Math.floor(this.rcvWnd / (2 * this.rcvEffMss()));
      this.#quickAcks = Math.min(Math.max(n, 2), MAX_QUICK_ACKS);
    }
    this.#lastDataAt = now;
    return this.#quickAcks > 0 && !this.#pingpong;
  }

  #deliver(data: Uint8Array): void {
    this.#ctx.stats.bytesIn += data.length;
    if (this.#flowing) {
      this.#ctx.emit({ type: 'data', data });
    } else {
      if (this.#held === NONE_HELD) this.#held = [data];
      else (this.#held as Uint8Array[]).push(data);
      this.#heldBytes += data.length;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The user's side: flowing or paused, recv

  /** See TcpConnection.setFlowing. */
  setFlowing(flowing: boolean): void {
    this.#flowing = flowing;
    if (!flowing) return;
    for (const data of this.#held) this.#ctx.emit({ type: 'data', data });
    if (this.#heldBytes > 0) this.#userRead = true;
    this.#held = NONE_HELD;
    this.#heldBytes = 0;
    this.#releaseFin();
  }

  /** See TcpConnection.recv. */
  recv(max: number): Uint8Array | null {
    const held = this.#held as Uint8Array[];
    const head = held[0];
    if (head === undefined) return null;
    this.#userRead = true;
    if (head.length <= max) {
      held.shift();
      if (held.length === 0) this.#held = NONE_HELD;
      this.#heldBytes -= head.length;
      if (this.#heldBytes === 0) this.#releaseFin();
      return head;
    }
    held[0] = head.subarray(max);
    this.#heldBytes -= max;
    return head.subarray(0, max);
  }

  /** The 'fin' that waited for held data, once the data is taken. */
  #releaseFin(): void {
    if (this.#fin !== FIN_TAKEN_EVENT_HELD) return;
    this.#fin = FIN_TAKEN;
    this.#ctx.emit({ type: 'fin' });
  }

  // ---------------------------------------------------------------------------------------------
  // The ACK: whether one is owed, and what it says

  /**
   * RFC 5961 §7: challenge ACKs are rate-limited (at most `challengeAcksPerSecond` per second per
   * connection), so that forged segments cannot turn the connection into an ACK amplifier.
   */
  challengeAck(now: number): void {
    if (this.#challengeWindowStart === null || now - this.#challengeWindowStart >= 1000) {
      this.#challengeWindowStart = now;
      this.#challengeAcks = 0;
    }
    if (this.#challengeAcks >= this.#ctx.opts.challengeAcksPerSecond) {
      this.#ctx.count('challenge-ack-limited');
      return;
    }
    this.#challengeAcks++;
    this.ackNow = true;
  }

  /**
   * The ACK RFC 9293 §3.10.7.4 owes an unacceptable segment, rate-limited as Linux's
   * tcp_oow_rate_limited does: a segment with data (and no SYN) is always answered (it is not
   * part of an ACK loop, and its sender needs the duplicate ACK); one without data at most once
   * per `invalidAckIntervalMs`, so that two ends can never ACK each other's ACKs for ever.
   */
  invalidAck(now: number, seg: TcpRepr): void {
    const interval = this.#ctx.opts.invalidAckIntervalMs;
    if (interval > 0 && (seg.payload.length === 0 || seg.control === 'syn')) {
      if (this.#lastInvalidAckAt !== null && now - this.#lastInvalidAckAt < interval) {
        this.#ctx.count('invalid-ack-limited');
        return;
      }
      this.#lastInvalidAckAt = now;
    }
    this.ackNow = true;
  }

  /** The delayed-ACK deadline passed: ACK now. */
  delayedAckFired(): void {
    this.delayedAckAt = null;
    this.ackNow = true;
    // Linux tcp_delack_timer_handler: a delayed ACK that had to fire leaves interactive mode.
    this.#pingpong = false;
  }

  /** Whether a segment of its own is owed: an ACK now, a duplicate ACK, or a window update. */
  ackDue(state: TcpState): boolean {
    return this.ackNow || this.#dupAcksOwed > 0 || this.#windowUpdateDue(state);
  }

  /** A pure ACK goes out: it pays one owed duplicate ACK. */
  pureAckSent(): void {
    if (this.#dupAcksOwed > 0) this.#dupAcksOwed--;
  }

  /** Every segment with ACK set acknowledges everything: the delayed ACK is satisfied. */
  ackSent(): void {
    // RFC 2883 §4: each duplicate is reported once. (Every segment carries sackBlocks().)
    this.#dsack = null;
    // Linux tcp_dec_quickack_mode: an ACK that was due uses up one quick ACK.
    if (this.#quickAcks > 0 && (this.ackNow || this.delayedAckAt !== null)) this.#quickAcks--;
    this.ackNow = false;
    this.delayedAckAt = null;
    this.#unackedBytes = 0;
    this.lastAckSent = this.rcvNxt;
    this.#userRead = false;
  }

  /** New data goes out: Linux tcp_event_data_sent, data sent soon after data came is an answer. */
  dataSent(now: number): void {
    const opts = this.#ctx.opts;
    const sinceData = this.#lastDataAt === null ? null : now - this.#lastDataAt;
    if (opts.quickAck && sinceData !== null && sinceData < opts.delayedAckMs) this.#pingpong = true;
  }

  /** The window field to send now; moves the advertised right edge (never left). */
  advertise(): number {
    const shift = this.#ctx.negotiated.rcvShift;
    const field = windowField(this.rcvNxt, this.#receiveWindow(), shift, this.rcvAdvRight);
    this.rcvAdvRight = seqAdd(this.rcvNxt, field * 2 ** shift);
    return field;
  }

  #receiveWindow(): number {
    const opts = this.#ctx.opts;
    // Never more than the window field can say under our shift (65535 without scaling).
    const max = MAX_WINDOW_FIELD * 2 ** this.#ctx.negotiated.rcvShift;
    const free = Math.min(max, Math.max(0, opts.rcvBuf - this.#heldBytes));
    return receiveWindow(this.rcvNxt, this.rcvAdvRight, free, opts.rcvBuf, this.rcvEffMss());
  }

  /**
   * A window update is worth an ACK of its own only when the user's read reopens a window that
   * had (nearly) closed: less than two full segments left, so the peer may be stalled. It must
   * move the edge by the SWS threshold (RFC 9293 §3.8.6.2.2). Any other growth rides on the next
   * ordinary ACK (as Linux's tcp_cleanup_rbuf, which acts only after a read).
   */
  #windowUpdateDue(state: TcpState): boolean {
    if (!this.#userRead || !isSynchronized(state) || this.finTaken) return false;
    const current = this.rcvWnd;
    const mss = this.rcvEffMss();
    const rcvBuf = this.#ctx.opts.rcvBuf;
    const threshold = Math.min(Math.floor(rcvBuf / 2), mss);
    if (current >= Math.min(2 * mss, Math.floor(rcvBuf / 2))) return false;
    return this.#receiveWindow() - current >= threshold;
  }

  /** The SACK blocks of the next segment: a D-SACK first (RFC 2883 §4), then the held ranges. */
  sackBlocks(): readonly SackBlock[] {
    const neg = this.#ctx.negotiated;
    if (!neg.sack) return NO_SACK;
    const room = sackRoom(neg.timestamps ? TIMESTAMP_OPTION_LEN : 0);
    const dsack = this.#dsack;
    const ooo = this.#outOfOrder;
    if (dsack === null) return ooo === null ? NO_SACK : ooo.sackBlocks(this.rcvNxt, room);
    if (ooo === null) return [dsack];
    return [dsack, ...ooo.sackBlocks(this.rcvNxt, room - 1)];
  }

  /** The payload of a full-sized segment from the peer (our MSS less its timestamp option). */
  rcvEffMss(): number {
    const ts = this.#ctx.negotiated.timestamps ? TIMESTAMP_OPTION_LEN : 0;
    return Math.max(1, this.#ctx.opts.mss - ts);
  }

  /** CLOSED: nothing is owed any more, and nothing held out of order. */
  close(): void {
    this.delayedAckAt = null;
    this.ackNow = false;
    this.#dupAcksOwed = 0;
    this.#outOfOrder = null;
  }
}
