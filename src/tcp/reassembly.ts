/**
 * The receive side's out-of-order queue: segments that arrived beyond RCV.NXT, held until the gap
 * before them fills (RFC 9293 §3.10.7.4: segments in the window but not at RCV.NXT "may be held
 * for later processing"), and the SACK blocks that describe them (RFC 2018 §4).
 *
 * Positions are byte offsets from RCV.NXT, so the queue never does sequence arithmetic except when
 * it reports SACK blocks. Internally every byte has an absolute position counted from the start of
 * the queue's life (`#origin` is the position of RCV.NXT); JavaScript numbers are exact to 2⁵³, far
 * beyond any connection's lifetime.
 *
 * Bounded: at most `maxBytes` are held. The inserted bytes are copied (into slabs, see CopySlab),
 * since the caller's array is a view into a packet buffer that is reused.
 */

import type { SackBlock } from '../wire/tcp-repr.ts';
import { seqAdd } from './seq.ts';

interface Piece {
  /** Absolute position of the first byte. */
  start: number;
  /** Absolute position just past the last byte. */
  end: number;
  data: Uint8Array;
}

/** How many recently received segments are remembered to order the SACK blocks. */
const RECENT = 8;

/** Slab size for CopySlab: one allocation serves about 45 full-sized segments. */
const SLAB_SIZE = 64 * 1024;
/** Every CopySlab's slab before its first copy: a Uint8Array(0) each would cost ~180 B of heap. */
const NO_SLAB = new Uint8Array(0);

/**
 * Copies byte ranges into shared slabs: the copy is a view into the current slab, which is
 * replaced when full. Allocating a small Uint8Array costs about 1 µs in Node 20 (each has its own
 * off-heap backing store); a slab copy about 0.2 µs. The price: a slab stays alive while any copy
 * in it does, so a kept copy can hold up to `slabSize` bytes.
 */
export class CopySlab {
  readonly #slabSize: number;
  /** The current slab; a shared empty one until the first copy (an idle connection has none). */
  #slab: Uint8Array = NO_SLAB;
  #used = 0;

  constructor(slabSize = SLAB_SIZE) {
    this.#slabSize = Math.max(1, slabSize);
  }

  /** A private copy of data[start, end). */
  copy(data: Uint8Array, start = 0, end = data.length): Uint8Array {
    const n = end - start;
    if (n > this.#slab.length - this.#used) {
      this.#slab = new Uint8Array(Math.max(this.#slabSize, n));
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + n);
    out.set(start === 0 && end === data.length ? data : data.subarray(start, end));
    this.#used += n;
    return out;
  }
}

export class Reassembly {
  readonly #maxBytes: number;
  /** Queued pieces, sorted by start, never overlapping. */
  #pieces: Piece[] = [];
  #bytes = 0;
  /** Absolute position of RCV.NXT. */
  #origin = 0;
  /** Absolute start positions of the most recently received segments, most recent first. */
  #recent: number[] = [];
  readonly #slab: CopySlab;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#slab = new CopySlab(Math.min(SLAB_SIZE, maxBytes));
  }

  /** Bytes held in the queue. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True when nothing is queued. */
  get empty(): boolean {
    return this.#pieces.length === 0;
  }

  /**
   * Queue `data`, which starts `offset` bytes after RCV.NXT. Bytes before RCV.NXT (offset < 0) are
   * ignored; bytes already queued are kept and the new copies of them dropped. Gaps are filled in
   * order of position until the bound is reached; what does not fit is dropped.
   *
   * Returns true when every byte of `data` at or after RCV.NXT is now queued, false when some were
   * dropped for the bound (the caller counts it; the peer retransmits them).
   */
  insert(offset: number, data: Uint8Array): boolean {
    const skip = offset < 0 ? -offset : 0;
    if (skip >= data.length) return true;
    const first = this.#origin + offset + skip;
    const last = this.#origin + offset + data.length;
    const pieces = this.#pieces;

    let i = this.#firstEndingAfter(first);
    let cursor = first;
    let stored = false;
    let complete = true;
    while (cursor < last) {
      const next = i < pieces.length ? pieces[i] : null;
      const gapEnd = next === null ? last : Math.min(next.start, last);
      if (gapEnd > cursor) {
        const room = this.#maxBytes - this.#bytes;
        const take = Math.min(gapEnd - cursor, room);
        if (take > 0) {
          const from = cursor - (this.#origin + offset);
          // Copied: the caller's bytes belong to a reused packet buffer.
          const copy = this.#slab.copy(data, from, from + take);
          pieces.splice(i, 0, { start: cursor, end: cursor + take, data: copy });
          this.#bytes += take;
          stored = true;
          i++;
        }
        if (take < gapEnd - cursor) {
          complete = false;
          break;
        }
      }
      if (next === null || next.start >= last) break;
      cursor = next.end;
      i++;
    }
    if (stored || complete) this.#remember(first);
    return complete;
  }

  /**
   * RCV.NXT moved forward by `n` bytes that the caller accepted in order. Queued bytes now before
   * RCV.NXT are dropped; the queued data that now starts exactly at RCV.NXT is removed and returned,
   * in order, as one or more chunks.
   *
   * The returned chunks are consumed too: after the call the queue's RCV.NXT is the old one plus
   * `n` plus the total length of the chunks, and the caller advances its own RCV.NXT by the same.
   * `advance(0)` just collects what is contiguous (e.g. after inserting at offset 0).
   */
  advance(n: number): Uint8Array[] {
    if (n > 0) this.#origin += n;
    const pieces = this.#pieces;
    const out: Uint8Array[] = [];
    let k = 0;
    while (k < pieces.length) {
      const p = pieces[k];
      if (p.end <= this.#origin) {
        // Entirely below RCV.NXT: the caller already has these bytes.
        this.#bytes -= p.end - p.start;
      } else if (p.start <= this.#origin) {
        const cut = this.#origin - p.start;
        out.push(cut === 0 ? p.data : p.data.subarray(cut));
        this.#bytes -= p.end - p.start;
        this.#origin = p.end;
      } else {
        break;
      }
      k++;
    }
    if (k > 0) pieces.splice(0, k);
    return out;
  }

  /**
   * Up to `max` SACK blocks for the queued data, given `base` = RCV.NXT as a sequence number.
   * RFC 2018 §4: the first block holds the most recently received segment, the next ones the
   * other most recently received segments; any room left is filled with the remaining blocks in
   * sequence order.
   */
  sackBlocks(base: number, max: number): SackBlock[] {
    const blocks: SackBlock[] = [];
    if (max <= 0 || this.#pieces.length === 0) return blocks;
    const chosen: number[] = []; // indexes (in #pieces) of the first piece of each chosen block
    for (const pos of this.#recent) {
      if (chosen.length >= max) break;
      const first = this.#blockStartIndex(pos);
      if (first !== -1 && !chosen.includes(first)) chosen.push(first);
    }
    if (chosen.length < max) {
      const pieces = this.#pieces;
      for (let i = 0; i < pieces.length && chosen.length < max; i++) {
        if (i > 0 && pieces[i - 1].end === pieces[i].start) continue; // not a block start
        if (!chosen.includes(i)) chosen.push(i);
      }
    }
    for (const first of chosen) {
      const end = this.#blockEnd(first);
      blocks.push({
        left: seqAdd(base, this.#pieces[first].start - this.#origin),
        right: seqAdd(base, end - this.#origin),
      });
    }
    return blocks;
  }

  /**
   * The first run of queued bytes inside [offset, offset + length) (offsets from RCV.NXT), as
   * [start, end) offsets, or null when none is queued there: the part of a segment at `offset`
   * that duplicates data already held (RFC 2883 D-SACK). A query; nothing changes.
   */
  firstQueued(offset: number, length: number): [number, number] | null {
    const pieces = this.#pieces;
    const first = this.#origin + offset;
    const last = first + length;
    let i = this.#firstEndingAfter(first);
    if (i === pieces.length || pieces[i].start >= last) return null;
    const start = Math.max(pieces[i].start, first);
    let end = pieces[i].end;
    while (end < last && i + 1 < pieces.length && pieces[i + 1].start === end)
      end = pieces[++i].end;
    return [start - this.#origin, Math.min(end, last) - this.#origin];
  }

  /** Drop everything (connection reset or closed). */
  clear(): void {
    this.#pieces = [];
    this.#bytes = 0;
    this.#recent = [];
  }

  /** Index of the first piece whose end is after `pos` (binary search; pieces.length if none). */
  #firstEndingAfter(pos: number): number {
    const pieces = this.#pieces;
    let lo = 0;
    let hi = pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pieces[mid].end <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first piece of the contiguous block holding `pos`, or -1 if `pos` is not held. */
  #blockStartIndex(pos: number): number {
    const pieces = this.#pieces;
    let i = this.#firstEndingAfter(pos);
    if (i === pieces.length || pieces[i].start > pos) return -1;
    while (i > 0 && pieces[i - 1].end === pieces[i].start) i--;
    return i;
  }

  /** Absolute end of the contiguous block that starts at piece `first`. */
  #blockEnd(first: number): number {
    const pieces = this.#pieces;
    let i = first;
    while (i + 1 < pieces.length && pieces[i].end === pieces[i + 1].start) i++;
    return pieces[i].end;
  }

  #remember(pos: number): void {
    const recent = this.#recent;
    const at = recent.indexOf(pos);
    if (at !== -1) recent.splice(at, 1);
    recent.unshift(pos);
    if (recent.length > RECENT) recent.length = RECENT;
  }
}
