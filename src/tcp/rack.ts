/**
 * RACK (RFC 8985 §6): loss detection by time. Every transmission of the data between SND.UNA and
 * SND.MAX is remembered with the time it went out; a segment is lost when one sent after it has
 * been delivered (cumulatively acknowledged or SACKed) and a reordering window has passed since.
 * That catches what counting duplicate ACKs cannot: a lost retransmission, a loss with too few
 * segments after it for three duplicates, and (with the tail loss probe) the tail of a flight.
 *
 * The log is a list of records in sequence order covering [SND.UNA, SND.MAX) without gaps. A
 * record is a run of bytes sent at the same time in the same state, so a clean bulk transfer
 * keeps one record per burst; records split where an ACK, a SACK block or a retransmission cuts
 * them. Each record is in flight, SACKed, or lost (marked by RACK or by a timeout and not yet
 * sent again). Bytes in flight ("pipe", RFC 6675's estimate, as Linux's packets_out − sacked_out
 * − lost_out + retrans_out) are the bytes of the records in flight.
 *
 * Like the rest of src/tcp it is deterministic: the caller gives the time with every call, and
 * the reordering timer is a deadline the connection arms (`reorderAt`).
 */
import type { SackBlock } from '../wire/tcp-repr.ts';
import { carriesDsack } from './scoreboard.ts';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq.ts';

/** RFC 8985 §6.2 step 4: the reordering window grows to at most this many multiples of minRTT/4. */
const MAX_REO_WND_MULT = 16;
/** RFC 8985 §6.2 step 4: recoveries without a D-SACK after which the window shrinks back. */
const REO_WND_PERSIST = 16;
/** RFC 8985: DupThresh, as RFC 6675. */
const DUP_THRESH = 3;
/** Compact the record array when this many records have been dropped from its front. */
const COMPACT_AT = 256;

const IN_FLIGHT = 0;
const SACKED = 1;
const LOST = 2;
type RecState = typeof IN_FLIGHT | typeof SACKED | typeof LOST;

/** One run of bytes [start, end) sent at `xmit`. */
interface Rec {
  start: number;
  end: number;
  /** When it last went out (ms). */
  xmit: number;
  /** It has been sent more than once. */
  rexmit: boolean;
  state: RecState;
}

export interface RackStats {
  /** Records RACK marked lost (original transmissions and retransmissions). */
  markedLost: number;
  /** Retransmissions RACK found lost again. */
  lostRetransmissions: number;
  /** D-SACK blocks seen (RFC 2883). */
  dsacks: number;
}

export class RackLog {
  readonly #smss: number;
  #recs: Rec[] = [];
  /** Index of the first live record (records before it were acknowledged). */
  #head = 0;
  /**
   * No record before this index is in flight: where a loss-detection scan starts. Records only
   * leave "in flight" moving forward (SACKed, lost), except a lost one sent again, which moves it
   * back (sent()).
   */
  #firstInFlight = 0;
  /** Bytes in flight, SACKed, and lost-not-yet-resent. */
  #inFlight = 0;
  #sacked = 0;
  #lost = 0;

  // RFC 8985 §6.1 per-connection state.
  /** RACK.xmit_ts, RACK.end_seq: the most recently sent of the delivered transmissions. */
  #xmit = Number.NEGATIVE_INFINITY;
  #endSeq = 0;
  /** RACK.rtt: the RTT of that transmission (ms). */
  #rtt = 0;
  /** RACK.min_RTT (lifetime minimum; RFC 8985 suggests a windowed one, Linux keeps 5 min). */
  #minRtt = Number.POSITIVE_INFINITY;
  /** RACK.fack: the highest end of any delivered transmission. */
  #fack: number | null = null;
  /** RACK.reordering_seen. */
  #reorderingSeen = false;
  #reoWndMult = 1;
  #reoWndPersist = REO_WND_PERSIST;
  /** RACK.dsack_round: no second widening of the window until SND.UNA passes this. */
  #dsackRound: number | null = null;
  /** When the reordering timer should fire (RFC 8985 §6.2 step 6), or null. */
  reorderAt: number | null = null;
  /**
   * Bytes the last ACK delivered: newly SACKed, or newly acknowledged and not SACKed before
   * (Linux's "delivered", what its congestion control grows by).
   */
  delivered = 0;

  readonly stats: RackStats = { markedLost: 0, lostRetransmissions: 0, dsacks: 0 };

  constructor(smss: number) {
    this.#smss = smss;
  }

  /** Bytes in flight: sent, neither acknowledged, SACKed nor marked lost (RFC 6675's "pipe"). */
  get pipe(): number {
    return this.#inFlight;
  }

  /** Bytes marked lost and not yet sent again. */
  get lostBytes(): number {
    return this.#lost;
  }

  get sackedBytes(): number {
    return this.#sacked;
  }

  /** RACK.reordering_seen, for the snapshot. */
  get reorderingSeen(): boolean {
    return this.#reorderingSeen;
  }

  /** The records, for tests: [start, end, state] in sequence order. */
  records(): [number, number, 'in-flight' | 'sacked' | 'lost'][] {
    const names = ['in-flight', 'sacked', 'lost'] as const;
    return this.#recs.slice(this.#head).map((r) => [r.start, r.end, names[r.state]]);
  }

  /**
   * [seq, end) went out at `now`. New data (seq at SND.MAX) extends the last record when it went
   * out at the same time; anything below SND.MAX is a retransmission of the records it covers.
   */
  sent(seq: number, end: number, now: number, sndMax: number): void {
    if (!seqLt(seq, end)) return;
    if (seqGeq(seq, sndMax)) {
      const n = this.#recs.length;
      const last = n > this.#head ? this.#recs[n - 1] : null;
      // A run grows only while it holds whole segments, so that segment edges inside it stay
      // at multiples of the SMSS from its start (#markSacked relies on that).
      if (
        last !== null &&
        last.end === seq &&
        last.xmit === now &&
        last.state === IN_FLIGHT &&
        !last.rexmit &&
        seqDiff(last.end, last.start) % this.#smss === 0
      ) {
        last.end = end;
      } else {
        this.#recs.push({ start: seq, end, xmit: now, rexmit: false, state: IN_FLIGHT });
      }
      this.#inFlight += seqDiff(end, seq);
      return;
    }
    // A retransmission: cut the records at its edges, then mark each one sent again.
    const top = seqMin(end, sndMax);
    let i = this.#cut(seq);
    this.#cut(top);
    if (i < 0) return;
    const recs = this.#recs;
    for (; i < recs.length && seqLt(recs[i].start, top); i++) {
      const r = recs[i];
      const len = seqDiff(r.end, r.start);
      if (r.state === LOST) {
        this.#lost -= len;
        this.#inFlight += len;
      } else if (r.state === SACKED) {
        continue; // the receiver has it: a probe's copy changes nothing
      }
      r.state = IN_FLIGHT;
      r.rexmit = true;
      r.xmit = now;
      if (i < this.#firstInFlight) this.#firstInFlight = i;
    }
  }

  /** Where the last record begins (the last transmission, or the run it ended), or null. */
  lastStart(): number | null {
    const n = this.#recs.length;
    return n > this.#head ? this.#recs[n - 1].start : null;
  }

  /**
   * The lowest range marked lost and not yet sent again, at most `max` bytes, or null.
   */
  firstLost(max: number): { seq: number; end: number } | null {
    if (this.#lost === 0) return null;
    const recs = this.#recs;
    for (let i = this.#head; i < recs.length; i++) {
      const r = recs[i];
      if (r.state !== LOST) continue;
      return { seq: r.start, end: seqDiff(r.end, r.start) > max ? seqAdd(r.start, max) : r.end };
    }
    return null;
  }

  /**
   * An ACK arrived at `now`: SEG.ACK `ack` (which the caller has checked) and its SACK blocks
   * within (SND.UNA, SND.MAX]. Records what it delivered (RFC 8985 §6.2 steps 1–3) and whether
   * it carries a D-SACK (RFC 2883); returns true when it does.
   */
  onAck(now: number, ack: number, blocks: readonly SackBlock[], sndMax: number): boolean {
    this.delivered = 0;
    const dsack = carriesDsack(blocks, ack);
    if (dsack) this.stats.dsacks++;
    // As Linux: the SACK blocks in ascending order first, then the cumulative ACK (the order
    // decides which delivery's RTT RACK.rtt ends with, see #delivered).
    const n = blocks.length;
    if (n === 1) {
      this.#sackBlock(now, blocks[0], ack, sndMax);
    } else if (n > 1) {
      const sorted = blocks.slice().sort((x, y) => seqDiff(x.left >>> 0, y.left >>> 0));
      for (const b of sorted) this.#sackBlock(now, b, ack, sndMax);
    }
    this.#ackUpTo(now, ack);
    if (dsack) this.#onDsack(ack, sndMax);
    return dsack;
  }

  /**
   * RFC 8985 §6.2 steps 4–6 after an ACK (or when the reordering timer fires): mark lost every
   * transmission in flight that went out before the most recently sent delivered one by more
   * than the reordering window, and set `reorderAt` for the ones not yet that old. Returns how
   * many bytes it newly marked lost.
   */
  detectLoss(now: number, srtt: number | null, inRecovery: boolean): number {
    this.reorderAt = null;
    if (this.#xmit === Number.NEGATIVE_INFINITY) return 0;
    const reoWnd = this.#reoWnd(srtt, inRecovery);
    const recs = this.#recs;
    let i = Math.max(this.#firstInFlight, this.#head);
    while (i < recs.length && recs[i].state !== IN_FLIGHT) i++;
    this.#firstInFlight = i;
    let marked = 0;
    let wait = 0;
    for (; i < recs.length; i++) {
      const r = recs[i];
      if (r.state !== IN_FLIGHT) continue;
      if (!this.#sentBeforeRack(r)) {
        // Transmissions of new data go out in sequence order: every original after this one
        // went out later still, and so did any retransmission above it.
        if (!r.rexmit) break;
        continue;
      }
      const remaining = r.xmit + this.#rtt + reoWnd - now;
      if (remaining > 0) {
        if (remaining > wait) wait = remaining;
        continue;
      }
      const len = seqDiff(r.end, r.start);
      r.state = LOST;
      this.#inFlight -= len;
      this.#lost += len;
      marked += len;
      this.stats.markedLost++;
      if (r.rexmit) this.stats.lostRetransmissions++;
    }
    if (wait > 0) this.reorderAt = now + wait;
    return marked;
  }

  /**
   * The retransmission timer expired (RFC 8985 §6.3, as Linux's tcp_timeout_mark_lost): the
   * first transmission in flight is lost, and so is every other one older than RACK.rtt plus
   * the reordering window. After a second timeout in a row SACKed data is no longer trusted
   * (the receiver may have reneged, RFC 2018 §8): everything not acknowledged is lost.
   */
  onTimeout(now: number, srtt: number | null, consecutive: number): void {
    const recs = this.#recs;
    const reoWnd = this.#reoWnd(srtt, true);
    let first = true;
    for (let i = this.#head; i < recs.length; i++) {
      const r = recs[i];
      const len = seqDiff(r.end, r.start);
      if (r.state === SACKED && consecutive > 1) {
        r.state = LOST;
        this.#sacked -= len;
        this.#lost += len;
        continue;
      }
      if (r.state !== IN_FLIGHT) continue;
      if (first || r.xmit + this.#rtt + reoWnd - now <= 0) {
        r.state = LOST;
        this.#inFlight -= len;
        this.#lost += len;
        this.stats.markedLost++;
      }
      first = false;
    }
    this.#firstInFlight = this.#head;
    this.reorderAt = null;
  }

  /** A recovery episode ended: RFC 8985 §6.2 step 4, the reordering window's persistence. */
  recoveryEnded(): void {
    if (--this.#reoWndPersist <= 0) {
      this.#reoWndMult = 1;
      this.#reoWndPersist = REO_WND_PERSIST;
    }
  }

  /** Everything is forgotten (the connection closed). */
  clear(): void {
    this.#recs = [];
    this.#head = 0;
    this.#firstInFlight = 0;
    this.#inFlight = 0;
    this.#sacked = 0;
    this.#lost = 0;
    this.reorderAt = null;
  }

  // ---------------------------------------------------------------------------------------------

  /** RFC 8985 §6.2 step 4: RACK.reo_wnd. */
  #reoWnd(srtt: number | null, inRecovery: boolean): number {
    if (!this.#reorderingSeen) {
      if (inRecovery) return 0;
      if (this.#sacked >= DUP_THRESH * this.#smss) return 0;
    }
    const minRtt = this.#minRtt === Number.POSITIVE_INFINITY ? 0 : this.#minRtt;
    const wnd = (this.#reoWndMult * minRtt) / 4;
    return srtt === null ? wnd : Math.min(wnd, srtt);
  }

  /** RACK_sent_after(RACK.xmit_ts, RACK.end_seq, r.xmit, r.end). */
  #sentBeforeRack(r: Rec): boolean {
    return this.#xmit > r.xmit || (this.#xmit === r.xmit && seqGt(this.#endSeq, r.end));
  }

  /** One SACK block, clipped to (SEG.ACK, SND.MAX]. */
  #sackBlock(now: number, b: SackBlock, ack: number, sndMax: number): void {
    const left = seqMax(b.left >>> 0, ack);
    const right = seqMin(b.right >>> 0, sndMax);
    if (seqLt(left, right)) this.#markSacked(now, left, right);
  }

  /**
   * RFC 8985 §6.2 steps 1–3 for one transmission just delivered. RACK.rtt takes the RTT of every
   * unambiguous delivery in turn, as Linux's tcp_rack_advance (the RFC takes the most recently
   * sent one's): it ends as the last one's in Linux's order, SACK blocks first, then the
   * cumulative ACK, which its packetdrill scripts rely on.
   */
  #delivered(now: number, r: Rec, end: number): void {
    const rtt = now - r.xmit;
    // Step 2: an ACK of a retransmitted range may answer its first transmission; RTTs shorter
    // than the minimum say so (RFC 8985 also uses TSecr; our TSval ticks in ms, too coarse here).
    if (!(r.rexmit && rtt < this.#minRtt) && rtt >= 0) {
      if (!r.rexmit && rtt < this.#minRtt) this.#minRtt = rtt;
      this.#rtt = rtt;
      if (this.#xmit < r.xmit || (this.#xmit === r.xmit && seqGt(end, this.#endSeq))) {
        this.#xmit = r.xmit;
        this.#endSeq = end;
      }
    }
    // Step 3: a never-retransmitted range delivered below the highest one delivered: reordering.
    if (this.#fack === null || seqGt(end, this.#fack)) this.#fack = end;
    else if (seqLt(end, this.#fack) && !r.rexmit) this.#reorderingSeen = true;
  }

  /** Records below `ack` are acknowledged: deliver those not SACKed before, drop them all. */
  #ackUpTo(now: number, ack: number): void {
    const recs = this.#recs;
    this.#cut(ack);
    let i = this.#head;
    for (; i < recs.length && seqLeq(recs[i].end, ack); i++) {
      const r = recs[i];
      const len = seqDiff(r.end, r.start);
      if (r.state === SACKED) {
        this.#sacked -= len;
        continue;
      }
      if (r.state === LOST) this.#lost -= len;
      else this.#inFlight -= len;
      this.delivered += len;
      this.#delivered(now, r, r.end);
    }
    this.#head = i;
    if (this.#head >= recs.length) {
      this.#recs = [];
      this.#head = 0;
      this.#firstInFlight = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= recs.length) {
      this.#recs = recs.slice(this.#head);
      this.#firstInFlight = Math.max(0, this.#firstInFlight - this.#head);
      this.#head = 0;
    }
  }

  /**
   * [left, right) was SACKed (the caller clipped it to (SND.UNA, SND.MAX]). Only whole segments
   * count, as Linux's tcp_sacktag: a segment SACKed in part (its last byte, say) is still in
   * flight, and its delivery says nothing about when it was sent.
   */
  #markSacked(now: number, left: number, right: number): void {
    const recs = this.#recs;
    const mss = this.#smss;
    let spans: number[] | null = null;
    for (let i = this.#firstEndingAfter(left); i < recs.length; i++) {
      const r = recs[i];
      if (!seqLt(r.start, right)) break;
      if (r.state === SACKED) continue;
      let a = r.start;
      let b = r.end;
      if (seqGt(left, a)) a = seqAdd(r.start, Math.ceil(seqDiff(left, r.start) / mss) * mss);
      if (seqLt(right, b)) b = seqAdd(r.start, Math.floor(seqDiff(right, r.start) / mss) * mss);
      if (seqLt(a, b)) {
        spans ??= [];
        spans.push(a, b);
      }
    }
    if (spans === null) return;
    for (let k = 0; k < spans.length; k += 2) {
      const a = spans[k];
      const b = spans[k + 1];
      let i = this.#cut(a);
      this.#cut(b);
      for (; i >= 0 && i < recs.length && seqLt(recs[i].start, b); i++) {
        const r = recs[i];
        if (r.state === SACKED) continue;
        const len = seqDiff(r.end, r.start);
        if (r.state === LOST) this.#lost -= len;
        else this.#inFlight -= len;
        r.state = SACKED;
        this.#sacked += len;
        this.delivered += len;
        this.#delivered(now, r, r.end);
      }
    }
  }

  /** RFC 8985 §6.2 step 4: a D-SACK widens the reordering window, once per round trip. */
  #onDsack(sndUna: number, sndMax: number): void {
    if (this.#dsackRound !== null && seqLt(sndUna, this.#dsackRound)) return;
    this.#dsackRound = sndMax;
    this.#reoWndMult = Math.min(this.#reoWndMult + 1, MAX_REO_WND_MULT);
    this.#reoWndPersist = REO_WND_PERSIST;
  }

  /** Index of the first live record whose end is after `seq` (the array's length if none). */
  #firstEndingAfter(seq: number): number {
    const recs = this.#recs;
    let lo = this.#head;
    let hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLeq(recs[mid].end, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Make `seq` a record boundary, splitting the record that contains it. Returns the index of
   * the record starting at `seq`, or -1 when no live record starts there (seq at or past the
   * end, or before the first).
   */
  #cut(seq: number): number {
    const recs = this.#recs;
    const lo = this.#firstEndingAfter(seq);
    if (lo >= recs.length) return -1;
    const r = recs[lo];
    if (seqLeq(seq, r.start)) return r.start === seq ? lo : -1;
    // seq is inside r: r keeps [start, seq), a new record takes [seq, end).
    const tail: Rec = { start: seq, end: r.end, xmit: r.xmit, rexmit: r.rexmit, state: r.state };
    r.end = seq;
    recs.splice(lo + 1, 0, tail);
    if (this.#firstInFlight > lo) this.#firstInFlight++;
    return lo + 1;
  }
}
