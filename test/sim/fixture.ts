/**
 * Fixtures for node:net-shaped TCP in virtual time: two stacks over a SimLink (optionally through
 * a FaultLink on each side), and `run`, which advances the VirtualClock one deadline at a time and
 * lets Node's queues (nextTick, microtasks: stream events, the stack's flush) drain between steps.
 * No real sleeps: a run is a pure function of its seed.
 */
import { createHash } from 'node:crypto';
import { FaultLink, type Impairment } from '../../src/link/fault.ts';
import type { Link } from '../../src/link/link.ts';
import { SimLink, type SimLinkOptions } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import { mulberry32 } from '../../src/stack/rng.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';

export const CLIENT = '10.0.0.1';
export const SERVER = '10.0.0.2';

export interface NetPairOptions {
  sim?: SimLinkOptions;
  /** Applied on both sides (each direction draws from its own seeded stream). */
  impair?: Impairment;
  stack?: Partial<StackOptions>;
  /** TCP options for the server stack only. */
  serverTcp?: StackOptions['tcp'];
}

/** Two stacks, client 10.0.0.1 and server 10.0.0.2, on one simulated wire, one virtual clock. */
export function netPair(opts: NetPairOptions = {}) {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1, ...opts.sim });
  const seed = opts.impair?.seed ?? 1;
  const linkA: Link = opts.impair ? new FaultLink(la, { ...opts.impair, seed }, clock) : la;
  const linkB: Link = opts.impair
    ? new FaultLink(lb, { ...opts.impair, seed: (seed * 7919 + 13) >>> 0 }, clock)
    : lb;
  const secret = new Uint8Array(16).fill(7);
  const tcp = { isnSecret: secret, ...opts.stack?.tcp };
  const client = new Stack({ link: linkA, address: CLIENT, clock, ...opts.stack, tcp });
  const server = new Stack({
    link: linkB,
    address: SERVER,
    clock,
    ...opts.stack,
    tcp: { ...tcp, ...opts.serverTcp },
  });
  return { clock, client, server, la, lb };
}

/** Let nextTicks and microtasks run (stream events, the stack's queued flush). */
export function drainTasks(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Advance virtual time deadline by deadline, draining Node's queues after each, until `done()`
 * holds. Throws (with the virtual time reached) if `limitMs` of virtual time pass or nothing is
 * left to run first.
 */
export async function runUntil(
  clock: VirtualClock,
  done: () => boolean,
  limitMs = 120_000,
  what = 'condition',
): Promise<void> {
  const end = clock.now() + limitMs;
  for (let step = 0; step < 5_000_000; step++) {
    await drainTasks();
    if (done()) return;
    const next = clock.nextTimerAt();
    if (next === null) {
      await drainTasks();
      if (done()) return;
      if (clock.nextTimerAt() === null)
        throw new Error(`runUntil(${what}): idle at t=${clock.now()} ms`);
      continue;
    }
    if (next > end) throw new Error(`runUntil(${what}): not done by t=${clock.now()} ms`);
    clock.advance(next - clock.now());
  }
  throw new Error(`runUntil(${what}): too many steps`);
}

/** Run until `p` settles; its value (or its rejection). */
export async function runFor<T>(clock: VirtualClock, p: Promise<T>, limitMs = 120_000): Promise<T> {
  let settled = false;
  const q = p.finally(() => {
    settled = true;
  });
  q.catch(() => {});
  await runUntil(clock, () => settled, limitMs, 'promise');
  return q;
}

/** Advance `ms` of virtual time, draining queues between deadlines. */
export async function advance(clock: VirtualClock, ms: number): Promise<void> {
  const end = clock.now() + ms;
  for (let step = 0; step < 5_000_000; step++) {
    await drainTasks();
    const next = clock.nextTimerAt();
    if (next === null || next > end) break;
    clock.advance(next - clock.now());
  }
  await drainTasks();
  clock.advance(Math.max(0, end - clock.now()));
  await drainTasks();
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Deterministic bytes from a seed: the low byte of each 32-bit draw of mulberry32. */
export function randomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  const random = mulberry32(seed);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 4294967296) & 0xff;
  return out;
}
