/**
 * One timer structure for the whole stack: every connection, the reassembly queue and anything
 * else with a deadline owns a `Timer` here, and all of them share ONE clock timer, armed at the
 * earliest deadline (gVisor's tcpip/timer.go idea, smoltcp's poll_at).
 *
 * Re-arming is cheap and lazy. `schedule(at)` on a timer whose heap entry is earlier only records
 * the new time: when the old entry comes due, it is pushed again at the recorded time. Only a
 * deadline earlier than every entry of its timer pushes a heap entry, and only one earlier than
 * the armed clock timer re-arms the clock. A TCP connection that pushes its retransmit deadline
 * forward on every ACK thus costs one field write per ACK.
 *
 * Cancelling is not lazy about memory: `cancel()` cuts the heap entry's link to its timer at once,
 * so the queue never keeps a cancelled owner reachable. (It used to keep the entry whole until
 * it came due: a TCP connection removed from the table in TIME_WAIT — its 4-tuple reused, or
 * evicted — stayed in memory, with everything it referenced, until its 60 s 2·MSL deadline,
 * which at thousands of short connections a second was hundreds of MB; issue 9.)
 */
import type { Clock, TimerHandle } from './clock.ts';
import { MinHeap } from './heap.ts';

interface Entry {
  at: number;
  /** Null once the timer cancelled or superseded this entry: a dead entry holds nothing. */
  timer: Timer | null;
}

/**
 * One owner's deadline. Made by `TimerQueue.create(fn)`, or subclassed by an owner that has many
 * instances (a TCP connection's handle is its own timer and overrides `fire`: no closure and no
 * second object per connection).
 */
export class Timer {
  /** The deadline wanted, or Infinity when not scheduled. */
  at = Number.POSITIVE_INFINITY;
  /** @internal This timer's live heap entry, the earliest it has; older entries are stale. */
  entry: Entry | null = null;

  constructor(
    private readonly queue: TimerQueue,
    readonly fn: ((now: number) => void) | null = null,
  ) {}

  /** Called by the queue when the deadline is due. */
  fire(now: number): void {
    this.fn?.(now);
  }

  /** Fire at `at` (absolute ms), replacing any earlier schedule. */
  schedule(at: number): void {
    this.queue.schedule(this, at);
  }

  /** Stop the timer; the queue lets go of it at once (no reference stays in the heap). */
  cancel(): void {
    this.at = Number.POSITIVE_INFINITY;
    if (this.entry !== null) this.queue.release(this);
  }

  get scheduled(): boolean {
    return this.at !== Number.POSITIVE_INFINITY;
  }
}

/**
 * Bound on the timers one run fires. A timer that re-arms itself at the current time while it
 * fires would otherwise keep the run going for ever; past the bound the rest wait for the next
 * run (a clock timer at once, so I/O runs in between) and `runsBounded` counts it.
 */
export const MAX_FIRES_PER_RUN = 100_000;

/** What a TimerQueue counts (stack.stats.timers). */
export interface TimerStats {
  /** Runs stopped at MAX_FIRES_PER_RUN. */
  runsBounded: number;
}

export class TimerQueue {
  private readonly heap = new MinHeap<Entry>((a, b) => a.at < b.at);
  /** Timers with a live heap entry. */
  private live = 0;
  private armedAt = Number.POSITIVE_INFINITY;
  private armed: TimerHandle | null = null;
  private closed = false;
  private readonly fire = () => {
    this.armed = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    this.run(this.clock.now());
  };

  /**
   * @param afterRun called after each batch of fired timers (the stack flushes its link there).
   * @param onError called with whatever a timer callback throws; the other timers still run.
   * @param stats where the queue counts (the stack passes its stats.timers).
   */
  constructor(
    private readonly clock: Clock,
    private readonly afterRun: () => void = () => {},
    private readonly onError: (err: unknown) => void = (err) => {
      throw err;
    },
    readonly stats: TimerStats = { runsBounded: 0 },
  ) {}

  /** A new, unscheduled timer that calls `fn(now)` when due. */
  create(fn: (now: number) => void): Timer {
    return new Timer(this, fn);
  }

  schedule(timer: Timer, at: number): void {
    if (this.closed) return;
    timer.at = at;
    if (timer.entry === null || at < timer.entry.at) this.push(timer, at);
  }

  /**
   * @internal A cancelled timer's entry: unlink it (the entry stays in the heap, dead, and is
   * skipped when it comes due or swept with the others), so the heap does not keep the timer —
   * and whatever owns it — reachable.
   */
  release(timer: Timer): void {
    const e = timer.entry;
    if (e === null) return;
    e.timer = null;
    timer.entry = null;
    this.live--;
    this.sweep();
  }

  /** Timers with a live heap entry (for tests). */
  get liveEntries(): number {
    return this.live;
  }

  /** Heap entries, stale ones included (for tests and stats). */
  get entries(): number {
    return this.heap.size;
  }

  /** The earliest heap entry: a lower bound on the next deadline, or null. */
  nextDeadline(): number | null {
    return this.heap.peek()?.at ?? null;
  }

  /** Fire every timer due at `now`. Called by the clock timer; tests may call it directly. */
  run(now: number): void {
    let fired = false;
    let fires = 0;
    for (let e = this.heap.peek(); e !== undefined && e.at <= now; e = this.heap.peek()) {
      if (fires >= MAX_FIRES_PER_RUN) {
        this.stats.runsBounded++;
        break;
      }
      this.heap.pop();
      const t = e.timer;
      if (t === null || t.entry !== e) continue; // dead (cancelled) or superseded by an earlier entry
      t.entry = null;
      this.live--;
      if (t.at === Number.POSITIVE_INFINITY) continue; // cancelled
      if (t.at > now) {
        this.push(t, t.at); // moved later since this entry was pushed
        continue;
      }
      t.at = Number.POSITIVE_INFINITY;
      fired = true;
      fires++;
      try {
        t.fire(now);
      } catch (err) {
        this.onError(err);
      }
    }
    if (fired) this.afterRun();
    this.arm();
  }

  /** Cancel the clock timer and forget every deadline. */
  close(): void {
    this.closed = true;
    this.armed?.cancel();
    this.armed = null;
    this.heap.clear();
    this.live = 0;
  }

  private push(timer: Timer, at: number): void {
    if (timer.entry === null) this.live++;
    else timer.entry.timer = null; // superseded: the old entry lets go of the timer too
    const e: Entry = { at, timer };
    timer.entry = e;
    this.heap.push(e);
    this.sweep();
    if (at < this.armedAt) this.arm();
  }

  /**
   * Dead entries pile up when deadlines move earlier or timers are cancelled often; sweep them
   * when they outnumber the live ones three to one (amortised O(1) per push or cancel).
   */
  private sweep(): void {
    if (this.heap.size > 64 && this.heap.size > 4 * this.live)
      this.heap.filter((x) => x.timer !== null);
  }

  private arm(): void {
    const top = this.heap.peek();
    const at = top?.at ?? Number.POSITIVE_INFINITY;
    if (at === this.armedAt || this.closed) return;
    this.armed?.cancel();
    this.armed = null;
    this.armedAt = at;
    if (at !== Number.POSITIVE_INFINITY) this.armed = this.clock.setTimer(at, this.fire);
  }
}
