/**
 * The one event source behind every connection style of the demo: a ticker and published
 * messages, numbered 1, 2, 3, ... and kept in a bounded ring so that a client that comes back
 * (a short or long poll with `after=ID`, an EventSource with Last-Event-ID) gets what it missed.
 *
 * The ticker runs on the stack's timer queue (the stack's clock: real over TUN, virtual in the
 * simulator) and only while someone is watching: every request of a style calls `touch()`, and
 * the ticker stops `idleMs` after the last one unless a stream is still connected (`watched`).
 * A stack nobody looks at produces no events.
 */
import type { Stack } from '../../stack/stack.ts';
import type { Timer } from '../../stack/timers.ts';

export interface DemoEvent {
  /** 1, 2, 3, ...: the SSE `id:`, the polls' `after=`. */
  readonly id: number;
  readonly source: 'tick' | 'publish';
  /** Wall-clock ms (Date.now()) when published: the page measures event-to-arrival latency. */
  readonly t: number;
  /** The text: "tick 17", or what was published (at most MAX_PUBLISH_BYTES). */
  readonly data: string;
}

export interface EventHubOptions {
  /** Ticker period, ms (default 500). 0: no ticker, published events only. */
  tickMs?: number;
  /** Events kept for clients that come back (default 256). */
  ringSize?: number;
  /** The ticker stops this long after the last touch() (default 30 000 ms). */
  idleMs?: number;
  /** Wall clock for `t` (default Date.now; tests pin it). */
  wallClock?: () => number;
  /**
   * Someone is connected who does not ask again (an SSE stream, a WebSocket): the ticker goes on
   * past `idleMs` while this returns true. Default: nobody.
   */
  watched?: () => boolean;
}

/** Largest published message, bytes of UTF-8. */
export const MAX_PUBLISH_BYTES = 1024;

export type EventListener = (e: DemoEvent) => void;

export class EventHub {
  readonly #stack: Stack;
  readonly #tickMs: number;
  readonly #ringSize: number;
  readonly #idleMs: number;
  readonly #wall: () => number;
  readonly #watched: () => boolean;
  /** The last `ringSize` events, oldest first. */
  readonly #ring: DemoEvent[] = [];
  readonly #listeners = new Set<EventListener>();
  readonly #timer: Timer | null;
  #lastId = 0;
  #ticks = 0;
  #activeUntil = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(stack: Stack, options: EventHubOptions = {}) {
    this.#stack = stack;
    this.#tickMs = options.tickMs ?? 500;
    this.#ringSize = options.ringSize ?? 256;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#wall = options.wallClock ?? Date.now;
    this.#watched = options.watched ?? (() => false);
    if (!(this.#ringSize >= 1)) throw new RangeError('EventHub: ringSize must be >= 1');
    this.#timer = this.#tickMs > 0 ? stack.timers.create((now) => this.#tick(now)) : null;
  }

  /** The newest event's id (0 before the first). */
  get lastId(): number {
    return this.#lastId;
  }

  /** Events now listening (SSE streams, WebSocket clients, held long polls). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Someone is watching: keep (or start) ticking for another `idleMs`. */
  touch(): void {
    if (this.#closed || this.#timer === null) return;
    const now = this.#stack.now();
    const wasIdle = now >= this.#activeUntil;
    this.#activeUntil = now + this.#idleMs;
    if (wasIdle && !this.#timer.scheduled) this.#timer.schedule(now + this.#tickMs);
  }

  /** Publish `data` (trimmed to MAX_PUBLISH_BYTES) to every listener; returns the event. */
  publish(data: string, source: DemoEvent['source'] = 'publish'): DemoEvent {
    const e: DemoEvent = { id: ++this.#lastId, source, t: this.#wall(), data: clip(data) };
    this.#ring.push(e);
    if (this.#ring.length > this.#ringSize) this.#ring.shift();
    // A listener may unsubscribe (or subscribe another) while we call them: iterate a copy.
    for (const fn of [...this.#listeners]) fn(e);
    return e;
  }

  /**
   * Kept events with id > `after`, oldest first, at most `limit`. `missed` is true when some
   * events after `after` have already left the ring (the client fell too far behind).
   */
  since(after: number, limit = this.#ringSize): { events: DemoEvent[]; missed: boolean } {
    const first = this.#ring[0]?.id ?? this.#lastId + 1;
    const start = Math.max(0, after + 1 - first);
    return {
      events: this.#ring.slice(start, start + limit),
      missed: after + 1 < first && after < this.#lastId,
    };
  }

  subscribe(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#listeners.clear();
  }

  #tick(now: number): void {
    // Idle (nobody asked lately, nobody connected): stop until the next touch().
    if (this.#closed || (now >= this.#activeUntil && !this.#watched())) return;
    this.publish(`tick ${++this.#ticks}`, 'tick');
    this.#timer?.schedule(now + this.#tickMs);
  }
}

/** At most MAX_PUBLISH_BYTES of UTF-8, cut on a character boundary. */
function clip(s: string): string {
  if (Buffer.byteLength(s) <= MAX_PUBLISH_BYTES) return s;
  const b = Buffer.from(s);
  // Back up while the first byte left out continues a character (10xxxxxx, RFC 3629 §3).
  let end = MAX_PUBLISH_BYTES;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
