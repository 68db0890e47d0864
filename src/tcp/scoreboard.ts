/**
 * The sender's SACK scoreboard (RFC 6675 §3, §4): which bytes between SND.UNA and SND.NXT the
 * receiver has reported holding, and the rules built on it: IsLost, SetPipe and NextSeg.
 *
 * The scoreboard is a sorted list of disjoint, non-adjacent SACKed ranges [left, right) in
 * sequence space, all within one window, so sequence comparisons (seq.ts) order them.
 *
 * Conventions: a "high" sequence number is exclusive, one past the byte it names.
 * `highestSacked` is one past the highest SACKed byte; the `highRxt` argument is one past the
 * highest retransmitted byte (SND.UNA when nothing was retransmitted in this recovery). RFC 6675's
 * comparisons "S ≤ HighRxt" and "S > HighRxt" become S < highRxt and S ≥ highRxt.
 */

import type { SackBlock } from '../wire/tcp-repr.ts';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq.ts';

/** RFC 6675 §2: DupThresh. */
export const DUP_THRESH = 3;

/**
 * Most ranges kept. A receiver can report at most one range per hole it sees; a window of 1-byte
 * holes would otherwise cost unbounded memory and time. Blocks that would exceed this are ignored
 * (the data is then retransmitted or acknowledged normally).
 */
export const MAX_SACK_RANGES = 1024;

/**
 * RFC 2883 §4: the ACK reports a duplicate (D-SACK): its first block lies below the cumulative
 * ACK, or within its second block.
 */
export function carriesDsack(blocks: readonly SackBlock[], ack: number): boolean {
  if (blocks.length === 0) return false;
  const b0 = blocks[0];
  if (seqLeq(b0.right >>> 0, ack)) return true;
  if (blocks.length === 1) return false;
  const b1 = blocks[1];
  return seqGeq(b0.left >>> 0, b1.left >>> 0) && seqLeq(b0.right >>> 0, b1.right >>> 0);
}

/** The next segment to send in loss recovery (RFC 6675 §4 NextSeg). */
export interface NextSegment {
  seq: number;
  /** Bytes, at most one SMSS, never running into SACKed data. */
  len: number;
  /** The NextSeg rule that chose it: 1 (lost, retransmit), 2 (new data), 3 (retransmit). */
  rule: 1 | 2 | 3;
}

export class SackScoreboard {
  /** Left edges of the SACKed ranges, ascending in sequence order. */
  #lefts: number[] = [];
  /** Right edges (exclusive), parallel to #lefts. */
  #rights: number[] = [];
  #sackedBytes = 0;
  #ignored = 0;

  /** Blocks ignored because they were outside [SND.UNA, SND.NXT] or the table was full. */
  get ignored(): number {
    return this.#ignored;
  }

  /** Bytes currently marked SACKed. */
  get sackedBytes(): number {
    return this.#sackedBytes;
  }

  /** One past the highest SACKed byte, or null when nothing is SACKed. */
  get highestSacked(): number | null {
    const n = this.#rights.length;
    return n === 0 ? null : this.#rights[n - 1];
  }

  /** Number of disjoint SACKed ranges. */
  get ranges(): number {
    return this.#lefts.length;
  }

  /**
   * RFC 6675 §5 Update(): record the SACK blocks of one ACK. Data below `sndUna` is dropped first
   * (as by ackedUpTo). A block is ignored unless it lies within [sndUna, sndNxt]; a block that
   * starts below sndUna (part D-SACK, RFC 2883) is cut at sndUna. `sndNxt` may be omitted when
   * the caller has already checked the right edges.
   */
  update(blocks: readonly SackBlock[], sndUna: number, sndNxt?: number): void {
    this.ackedUpTo(sndUna);
    for (const b of blocks) {
      const right = b.right >>> 0;
      if (!seqGt(right, sndUna) || (sndNxt !== undefined && seqGt(right, sndNxt))) {
        this.#ignored++;
        continue;
      }
      const left = seqMax(b.left >>> 0, sndUna);
      if (!seqLt(left, right)) {
        this.#ignored++;
        continue;
      }
      this.#add(left, right);
    }
  }

  /** SND.UNA advanced to `sndUna`: forget what is now cumulatively acknowledged. */
  ackedUpTo(sndUna: number): void {
    const lefts = this.#lefts;
    const rights = this.#rights;
    let k = 0;
    while (k < lefts.length && seqLeq(rights[k], sndUna)) {
      this.#sackedBytes -= seqDiff(rights[k], lefts[k]);
      k++;
    }
    if (k > 0) {
      lefts.splice(0, k);
      rights.splice(0, k);
    }
    if (lefts.length > 0 && seqLt(lefts[0], sndUna)) {
      this.#sackedBytes -= seqDiff(sndUna, lefts[0]);
      lefts[0] = sndUna;
    }
  }

  /** Is the byte at `seq` SACKed? */
  isSacked(seq: number): boolean {
    const i = this.#firstEndingAfter(seq);
    return i < this.#lefts.length && seqLeq(this.#lefts[i], seq);
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): true when DupThresh discontiguous SACKed ranges lie above `seq`,
   * or more than (DupThresh − 1) * SMSS SACKed bytes do.
   */
  isLost(seq: number, mss: number): boolean {
    const boundary = this.#lostBelow(mss);
    return boundary !== null && seqLt(seq, boundary);
  }

  /**
   * The first un-SACKed range at or after `from` and before `limit`: [start, end) where end is the
   * next SACKed byte or `limit`. Null when there is none.
   */
  nextUnsackedHole(from: number, limit: number): { start: number; end: number } | null {
    const start = this.#firstUnsacked(from);
    if (!seqLt(start, limit)) return null;
    return { start, end: seqMin(this.#nextSackedAfter(start, limit), limit) };
  }

  /**
   * RFC 6675 §4 SetPipe(): an estimate of the bytes in the network. Every un-SACKed byte in
   * [sndUna, sndNxt) counts once if it is not lost (IsLost false), and once more if it was
   * retransmitted (below highRxt). Computed over ranges, not bytes: IsLost is the same for every
   * byte of a hole, and false from the lowest range that satisfies it upward (#lostBelow).
   */
  pipe(sndUna: number, sndNxt: number, highRxt: number, mss: number): number {
    const boundary = this.#lostBelow(mss);
    const notLost = this.#unsackedIn(boundary === null ? sndUna : seqMax(boundary, sndUna), sndNxt);
    const retransmitted = this.#unsackedIn(sndUna, seqMin(seqMax(highRxt, sndUna), sndNxt));
    return notLost + retransmitted;
  }

  /**
   * RFC 6675 §4 NextSeg(), rules 1 to 3. `newData` is how many never-sent bytes the send buffer
   * and the receiver's window allow now (rule 2). Rule 4 (the rescue retransmission) is the
   * caller's: it needs RescueRxt, which lives with the recovery state.
   */
  nextSeg(
    sndUna: number,
    sndNxt: number,
    highRxt: number,
    mss: number,
    newData: number,
  ): NextSegment | null {
    const high = this.highestSacked;
    let hole = -1;
    let holeEnd = 0;
    if (high !== null) {
      // The smallest un-SACKed byte above HighRxt (1.a, 3.a) and below the highest SACK (1.b, 3.b).
      const s = this.#firstUnsacked(seqMax(highRxt, sndUna));
      if (seqLt(s, high)) {
        hole = s;
        holeEnd = this.#nextSackedAfter(s, high);
      }
    }
    if (hole !== -1 && this.isLost(hole, mss)) {
      return { seq: hole, len: Math.min(mss, seqDiff(holeEnd, hole)), rule: 1 };
    }
    if (newData > 0) return { seq: sndNxt, len: Math.min(mss, newData), rule: 2 };
    if (hole !== -1) return { seq: hole, len: Math.min(mss, seqDiff(holeEnd, hole)), rule: 3 };
    return null;
  }

  /** Forget everything (after a retransmission timeout, RFC 6675 §5.1, or a reset). */
  clear(): void {
    this.#lefts.length = 0;
    this.#rights.length = 0;
    this.#sackedBytes = 0;
  }

  /** Insert [left, right), merging with overlapping or adjacent ranges. */
  #add(left: number, right: number): void {
    const lefts = this.#lefts;
    const rights = this.#rights;
    // First range that ends at or after `left` (adjacent or overlapping ones merge).
    let i = 0;
    let hi = rights.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (seqLt(rights[mid], left)) i = mid + 1;
      else hi = mid;
    }
    // Ranges i..j-1 touch [left, right).
    let j = i;
    while (j < lefts.length && seqLeq(lefts[j], right)) j++;
    if (i === j) {
      if (lefts.length >= MAX_SACK_RANGES) {
        this.#ignored++;
        return;
      }
      lefts.splice(i, 0, left);
      rights.splice(i, 0, right);
      this.#sackedBytes += seqDiff(right, left);
      return;
    }
    const newLeft = seqMin(left, lefts[i]);
    const newRight = seqMax(right, rights[j - 1]);
    for (let k = i; k < j; k++) this.#sackedBytes -= seqDiff(rights[k], lefts[k]);
    this.#sackedBytes += seqDiff(newRight, newLeft);
    lefts[i] = newLeft;
    rights[i] = newRight;
    if (j - i > 1) {
      lefts.splice(i + 1, j - i - 1);
      rights.splice(i + 1, j - i - 1);
    }
  }

  /** Index of the first range whose right edge is after `seq` (ranges.length if none). */
  #firstEndingAfter(seq: number): number {
    const rights = this.#rights;
    let lo = 0;
    let hi = rights.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLeq(rights[mid], seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first byte at or after `seq` that is not SACKed. */
  #firstUnsacked(seq: number): number {
    const i = this.#firstEndingAfter(seq);
    return i < this.#lefts.length && seqLeq(this.#lefts[i], seq) ? this.#rights[i] : seq;
  }

  /** The first SACKed byte after the un-SACKed byte `seq`, or `otherwise` when none. */
  #nextSackedAfter(seq: number, otherwise: number): number {
    const i = this.#firstEndingAfter(seq);
    return i < this.#lefts.length ? this.#lefts[i] : otherwise;
  }

  /**
   * Every un-SACKed byte below the returned sequence number is lost, none at or above it. IsLost is
   * constant across a hole (the SACKed data above it does not change), so the boundary is the left
   * edge of the highest range k such that ranges k..top satisfy IsLost for the hole below range k.
   * Null when no range qualifies: nothing is lost.
   */
  #lostBelow(mss: number): number | null {
    const lefts = this.#lefts;
    const rights = this.#rights;
    const limit = (DUP_THRESH - 1) * mss;
    let bytes = 0;
    for (let k = lefts.length - 1; k >= 0; k--) {
      bytes += seqDiff(rights[k], lefts[k]);
      if (lefts.length - k >= DUP_THRESH || bytes > limit) return lefts[k];
    }
    return null;
  }

  /** Un-SACKed bytes in [from, to) (zero when to ≤ from). */
  #unsackedIn(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let n = seqDiff(to, from);
    const lefts = this.#lefts;
    const rights = this.#rights;
    for (let k = this.#firstEndingAfter(from); k < lefts.length && seqLt(lefts[k], to); k++) {
      n -= seqDiff(seqMin(rights[k], to), seqMax(lefts[k], from));
    }
    return n;
  }
}
