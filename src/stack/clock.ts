/**
 * Time for the stack: milliseconds on a monotonic clock, and one-shot timers at absolute times.
 *
 * `realClock` runs on performance.now() and setTimeout. `VirtualClock` runs only when a test
 * advances it, firing due timers in order, so a simulation is exact and as fast as the CPU allows.
 */
import { MinHeap } from './heap.ts';

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic (not wall time). */
  now(): number;
  /** Call `fn` once at time `at` (or as soon as possible if `at` has passed). */
  setTimer(at: number, fn: () => void): TimerHandle;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(at, fn) {
    // Node truncates a delay to whole milliseconds; round up so as not to fire early.
    const t = setTimeout(fn, Math.max(0, Math.ceil(at - performance.now())));
    return { cancel: () => clearTimeout(t) };
  },
};

interface VirtualTimer {
  at: number;
  /** Order among timers due at the same time: first set, first fired. */
  seq: number;
  fn: (() => void) | null;
}

export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private live = 0;
  private readonly timers = new MinHeap<VirtualTimer>(
    (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq),
  );

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const timer: VirtualTimer = { at: Math.max(at, this.t), seq: this.seq++, fn };
    this.timers.push(timer);
    this.live++;
    return {
      cancel: () => {
        if (timer.fn !== null) {
          timer.fn = null;
          this.live--;
        }
      },
    };
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.live;
  }

  /** The time of the next timer, or null when none is pending. */
  nextTimerAt(): number | null {
    this.dropCancelled();
    return this.timers.peek()?.at ?? null;
  }

  /**
   * Move time forward by `ms`, firing every timer due by then in order of time; each sees now()
   * equal to its own time. Timers that the fired ones set within the window fire too.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
    const target = this.t + ms;
    for (;;) {
      const next = this.nextTimerAt();
      if (next === null || next > target) break;
      this.fireNext();
    }
    this.t = target;
  }

  /**
   * Fire timers in order until none is left or the next lies beyond `limitMs` from now. Returns
   * the time that passed. A test's way of saying "let everything settle".
   */
  runUntilIdle(limitMs = 60_000): number {
    const start = this.t;
    const end = start + limitMs;
    for (;;) {
      const next = this.nextTimerAt();
      if (next === null || next > end) break;
      this.fireNext();
    }
    return this.t - start;
  }

  private fireNext(): void {
    const timer = this.timers.pop()!;
    const fn = timer.fn;
    if (fn === null) return;
    timer.fn = null;
    this.live--;
    if (timer.at > this.t) this.t = timer.at;
    fn();
  }

  private dropCancelled(): void {
    for (
      let top = this.timers.peek();
      top !== undefined && top.fn === null;
      top = this.timers.peek()
    ) {
      this.timers.pop();
    }
  }
}
