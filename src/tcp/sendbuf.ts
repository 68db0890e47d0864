/**
 * The send buffer: bytes the application has written and the peer has not yet acknowledged.
 * Offset 0 is the byte at SND.UNA; the connection reads segments at any offset (first sends and
 * retransmissions alike) and drops bytes from the front as they are acknowledged.
 *
 * Bytes live in fixed-size blocks held in a queue, so a push copies once into the tail block, a
 * segment is read with one copy (or none: `view`), and `consume` only moves an index; a block
 * emptied by `consume` is kept as a spare for the next push instead of being reallocated: one ACK
 * may free several blocks at once (a receiver that coalesces, GRO), and a bulk sender refills them
 * at once. Blocks held, spares included, never exceed what a full buffer needs, and the spares go
 * when the buffer empties (an idle connection keeps none).
 * Pushed bytes are copied: the caller's array may be a view into a reused buffer.
 *
 * Push marks: positions in the byte stream where a segment that ends there carries PSH, kept
 * until the bytes before them are acknowledged (a retransmission carries the flag its first
 * transmission had). The connection adds them (`mark`) when it models Linux's PSH marking; a
 * buffer that is never marked holds none.
 */

/** Default block size: large enough that most segments lie within one block. */
const BLOCK_SIZE = 16 * 1024;
/**
 * The smallest first block. A connection that only ever writes a short request or answer gets a
 * block that fits it rather than BLOCK_SIZE (a 16 KiB allocation per connection was visible in the
 * connect/request/close profile); the block is replaced by a full one when outgrown.
 */
const MIN_FIRST_BLOCK = 1024;
const NO_BLOCK = new Uint8Array(0);
/** Every buffer's spare list until its first spare (an idle connection allocates none). */
const NO_SPARES: Uint8Array[] = [];

/**
 * Stream positions in ascending order, appended at the end, dropped from the front as bytes are
 * acknowledged: at most one per byte held, so bounded by the buffer.
 */
class Positions {
  #list: number[] = [];
  #head = 0;

  /** Append `pos` if it is beyond the last one. */
  add(pos: number): void {
    const l = this.#list;
    if (l.length > this.#head && l[l.length - 1] >= pos) return;
    l.push(pos);
  }

  /** Remove the last position if it is `pos`. */
  removeLast(pos: number): void {
    const l = this.#list;
    if (l.length > this.#head && l[l.length - 1] === pos) l.pop();
  }

  has(pos: number): boolean {
    const l = this.#list;
    let lo = this.#head;
    let hi = l.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (l[mid] < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo < l.length && l[lo] === pos;
  }

  /** Drop the positions at or before `pos`; true when none are left. */
  dropTo(pos: number): boolean {
    const l = this.#list;
    while (this.#head < l.length && l[this.#head] <= pos) this.#head++;
    if (this.#head === l.length) return true;
    if (this.#head >= 64 && this.#head * 2 >= l.length) {
      this.#list = l.slice(this.#head);
      this.#head = 0;
    }
    return false;
  }
}

export class SendBuffer {
  #limit: number;
  readonly #blockSize: number;
  /** Blocks; those before #first have been consumed and are empty placeholders. */
  #blocks: Uint8Array[] = [];
  /** Index in #blocks of the block holding offset 0. */
  #first = 0;
  /** Position of offset 0 within #blocks[#first]. */
  #head = 0;
  #length = 0;
  /** One consumed block kept for reuse. */
  #spares: Uint8Array[] = NO_SPARES;
  /** Bytes consumed since the buffer was made: offset 0's position in the stream. */
  #consumed = 0;
  /** Where writes end (PSH marks), as stream positions; null until the first. */
  #marks: Positions | null = null;
  /** Where a two-segment packet of new data ended (LinuxPsh); null until the first. */
  #pairs: Positions | null = null;

  /** `limit` bounds length; `blockSize` is for tests that want to exercise block boundaries. */
  constructor(limit: number, blockSize = BLOCK_SIZE) {
    this.#limit = limit;
    this.#blockSize = Math.max(1, Math.min(blockSize, limit));
  }

  /** Bytes held: written and not yet acknowledged (sent or not). */
  get length(): number {
    return this.#length;
  }

  /** The bound on length. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * A new bound (SO_SNDBUF on an open socket): bytes already held stay, even above it; `push`
   * takes more once they are below it. The block size stays as it was.
   */
  set limit(n: number) {
    this.#limit = Math.max(0, n);
  }

  /** Bytes that push would accept now. */
  get free(): number {
    return Math.max(0, this.#limit - this.#length);
  }

  /** Append as much of `data` as fits under the limit (copied); returns the number of bytes taken. */
  push(data: Uint8Array): number {
    const n = Math.min(data.length, this.free);
    const bs = this.#blockSize;
    let done = 0;
    while (done < n) {
      const end = this.#head + this.#length;
      const index = this.#first + Math.floor(end / bs);
      const within = end % bs;
      if (index === this.#blocks.length) this.#blocks.push(this.#newBlock(n - done));
      const take = Math.min(n - done, bs - within);
      if (within + take > this.#blocks[index].length) this.#grow(index, within);
      this.#blocks[index].set(
        done === 0 && take === data.length ? data : data.subarray(done, done + take),
        within,
      );
      done += take;
      this.#length += take;
    }
    return n;
  }

  /**
   * Mark the point `offset` bytes after SND.UNA (0 < offset ≤ length): a segment ending there
   * carries PSH. Marks come in stream order; one at or before the last mark is ignored.
   */
  mark(offset: number): void {
    if (!(offset > 0 && offset <= this.#length)) return;
    this.#marks ??= new Positions();
    this.#marks.add(this.#consumed + offset);
  }

  /**
   * Linux's PSH mark for a write of `n` bytes just pushed at `start` (tcp_push marks the write's
   * last skb unless MSG_MORE, `more`). A write appends to the skb before it while that holds
   * unsent bytes (`unsent`: offset of the first byte never sent), and Linux then clears that
   * skb's mark: so the mark at `start` goes.
   */
  markWrite(start: number, n: number, more: boolean, unsent: number): void {
    if (!(n > 0)) return;
    if (unsent < start) this.#marks?.removeLast(this.#consumed + start);
    if (!more) this.mark(start + n);
  }

  /** Whether a segment ending `offset` bytes after SND.UNA ends at a mark. */
  markedAt(offset: number): boolean {
    return this.#marks?.has(this.#consumed + offset) === true;
  }

  /** A two-segment packet of new data ended `offset` bytes after SND.UNA (Linux's TSO pair). */
  markPair(offset: number): void {
    if (!(offset > 0 && offset <= this.#length)) return;
    this.#pairs ??= new Positions();
    this.#pairs.add(this.#consumed + offset);
  }

  /** Whether a two-segment packet of new data ended `offset` bytes after SND.UNA. */
  pairAt(offset: number): boolean {
    return this.#pairs?.has(this.#consumed + offset) === true;
  }

  /** Copy `len` bytes starting `offset` bytes after SND.UNA into `out` at `outOffset`. */
  copyOut(offset: number, len: number, out: Uint8Array, outOffset: number): void {
    this.#checkRange(offset, len);
    const bs = this.#blockSize;
    let pos = this.#head + offset;
    let done = 0;
    while (done < len) {
      const block = this.#blocks[this.#first + Math.floor(pos / bs)];
      const within = pos % bs;
      const take = Math.min(len - done, bs - within);
      out.set(block.subarray(within, within + take), outOffset + done);
      done += take;
      pos += take;
    }
  }

  /**
   * The bytes at [offset, offset + len): a view into the buffer when they lie in one block (the
   * common case), else a copy. A view stays valid only until those bytes are consumed, since the
   * block is then reused; copy it if it must outlive the acknowledgment.
   */
  view(offset: number, len: number): Uint8Array {
    this.#checkRange(offset, len);
    if (len === 0) return NO_BLOCK; // an empty buffer may have no block at all
    const bs = this.#blockSize;
    const pos = this.#head + offset;
    const within = pos % bs;
    if (within + len <= bs) {
      return this.#blocks[this.#first + Math.floor(pos / bs)].subarray(within, within + len);
    }
    const out = new Uint8Array(len);
    this.copyOut(offset, len, out, 0);
    return out;
  }

  /**
   * `n` bytes were acknowledged: drop them from the front. Asking for more than is held drops
   * everything (the caller's SYN and FIN take sequence space but no bytes here).
   */
  consume(n: number): void {
    if (!(n > 0)) return;
    n = Math.min(n, this.#length);
    this.#head += n;
    this.#length -= n;
    this.#consumed += n;
    this.#dropMarks();
    const bs = this.#blockSize;
    while (this.#head >= bs) {
      this.#keepSpare(this.#blocks[this.#first]);
      this.#blocks[this.#first] = NO_BLOCK;
      this.#first++;
      this.#head -= bs;
    }
    if (this.#length === 0) {
      // Empty: start again at the front of the current block (if any), and free the spares.
      this.#head = 0;
      this.#spares = NO_SPARES;
    }
    // Drop the consumed placeholders once they are half the queue: O(1) amortised.
    if (this.#first >= 16 && this.#first * 2 >= this.#blocks.length) {
      this.#blocks = this.#blocks.slice(this.#first);
      this.#first = 0;
    }
  }

  /** Marks at or before offset 0 are spent (their bytes are acknowledged). */
  #dropMarks(): void {
    if (this.#marks?.dropTo(this.#consumed)) this.#marks = null;
    if (this.#pairs?.dropTo(this.#consumed)) this.#pairs = null;
  }

  /** Drop everything and release the memory (connection closed). */
  clear(): void {
    this.#marks = null;
    this.#pairs = null;
    this.#consumed += this.#length;
    this.#blocks = [];
    this.#first = 0;
    this.#head = 0;
    this.#length = 0;
    this.#spares = NO_SPARES;
  }

  /**
   * A block for the tail. The first one of a buffer that never had one is only as large as the
   * bytes at hand (at least MIN_FIRST_BLOCK); every later one is full-sized.
   */
  #newBlock(wanted: number): Uint8Array {
    const spare = this.#spares.pop();
    if (spare !== undefined) return spare;
    const bs = this.#blockSize;
    if (this.#blocks.length === 0 && wanted < bs) {
      return new Uint8Array(Math.min(bs, Math.max(MIN_FIRST_BLOCK, wanted)));
    }
    return new Uint8Array(bs);
  }

  /**
   * Replace the short first block at `index` by a full-sized one holding its first `used` bytes.
   * Views handed out earlier keep the old block and its (unchanged) bytes.
   */
  #grow(index: number, used: number): void {
    const full = new Uint8Array(this.#blockSize);
    full.set(this.#blocks[index].subarray(0, used));
    this.#blocks[index] = full;
  }

  /** Keep a consumed block for reuse if it is full-sized and there is room among the spares. */
  #keepSpare(block: Uint8Array): void {
    if (block.length !== this.#blockSize) return;
    const held = this.#blocks.length - this.#first + this.#spares.length;
    if (held > Math.ceil(this.#limit / this.#blockSize)) return;
    if (this.#spares === NO_SPARES) this.#spares = [];
    this.#spares.push(block);
  }

  #checkRange(offset: number, len: number): void {
    if (!(offset >= 0 && len >= 0 && offset + len <= this.#length)) {
      throw new RangeError(
        `send buffer range [${offset}, ${offset + len}) outside [0, ${this.#length})`,
      );
    }
  }
}
