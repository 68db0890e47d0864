/**
 * The simulation fixture: two stacks (or a stack and a scripted raw host) on one simulated wire
 * and one VirtualClock, and the loops that drive virtual time. Every test in test/sim that needs
 * stacks builds them here.
 *
 * Time moves only when a test moves it: `runUntil`, `runFor`, `advance` and `settle` advance the
 * VirtualClock one deadline at a time and let Node's queues (nextTick, microtasks, immediates:
 * stream events, the stack's flush, loopback) drain between steps. No real sleeps: a run is a
 * pure function of its seed.
 */
import { createHash } from 'node:crypto';
import { afterEach } from 'vitest';
import { createStack, type NetStack } from '../../src/api/index.ts';
import { FaultLink, type Impairment } from '../../src/link/fault.ts';
import { SimLink, type SimLinkOptions } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import type { Link, LinkReceiver } from '../../src/stack/link.ts';
import { mulberry32 } from '../../src/stack/rng.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import type { Ipv4Repr } from '../../src/wire/ipv4.ts';
import { packet } from '../unit/ip/helpers.ts';

/** The client (or raw host) end. */
export const CLIENT = '10.0.0.1';
/** The server end (the stack under test when the other end is a raw host). */
export const SERVER = '10.0.0.2';
export const CLIENT_ADDR = 0x0a000001;
export const SERVER_ADDR = 0x0a000002;
/** The client's and the server's IPv6 addresses in a netPair with `ipv6`. */
export const CLIENT6 = 'fd00::1';
export const SERVER6 = 'fd00::2';

export interface NetPairOptions<L extends Link = SimLink> {
  /** The wire; default a SimLink pair with 1 ms of delay each way. */
  sim?: SimLinkOptions;
  /** Other links instead of a SimLink pair (the client's end first). */
  links?: (clock: VirtualClock) => [L, L];
  /** A seeded fault model (FaultLink) in front of each stack that `impairAt` names. */
  impair?: Impairment;
  /**
   * 'both' (default): each side has its own FaultLink, drawing its own seeded stream;
   * 'server': only the server's, seeded with `impair.seed`, so its stats count every fault.
   */
  impairAt?: 'both' | 'server';
  /** Options for both stacks. */
  stack?: Partial<StackOptions>;
  /** TCP options for the server stack only. */
  serverTcp?: StackOptions['tcp'];
  /** Dual stack: the client also at fd00::1, the server at fd00::2. */
  ipv6?: boolean;
}

/**
 * Two stacks, client 10.0.0.1 and server 10.0.0.2 (with `ipv6`, also fd00::1 and fd00::2), on
 * one wire and one virtual clock. A fixed ISN
 * secret, and IP IDs from 100 (client) and 5000 (server), so runs repeat and captures read.
 */
export function netPair<L extends Link = SimLink>(opts: NetPairOptions<L> = {}) {
  const clock = new VirtualClock();
  // Without `links`, L is SimLink (its default): the pair below is what the caller gets.
  const [la, lb] =
    opts.links?.(clock) ??
    (SimLink.pair(clock, { delayMs: 1, ...opts.sim }) as [Link, Link] as [L, L]);
  let linkA: Link = la;
  let linkB: Link = lb;
  if (opts.impair !== undefined) {
    const seed = opts.impair.seed ?? 1;
    if (opts.impairAt === 'server') {
      linkB = new FaultLink(lb, { ...opts.impair, seed }, clock);
    } else {
      linkA = new FaultLink(la, { ...opts.impair, seed }, clock);
      linkB = new FaultLink(lb, { ...opts.impair, seed: (seed * 7919 + 13) >>> 0 }, clock);
    }
  }
  const secret = new Uint8Array(16).fill(7);
  const tcp = { isnSecret: secret, ...opts.stack?.tcp };
  const client = createStack({
    link: linkA,
    address: CLIENT,
    ...(opts.ipv6 ? { address6: CLIENT6 } : {}),
    clock,
    initialIpId: 100,
    ...opts.stack,
    tcp,
  });
  const server = createStack({
    link: linkB,
    address: SERVER,
    ...(opts.ipv6 ? { address6: SERVER6 } : {}),
    clock,
    initialIpId: 5000,
    ...opts.stack,
    tcp: { ...tcp, ...opts.serverTcp },
  });
  return { clock, client, server, la, lb, linkA, linkB };
}

/** An app on the server stack of a netPair, with the pair. */
export interface AppFixture<A> {
  clock: VirtualClock;
  client: NetStack;
  server: NetStack;
  app: A;
}

/**
 * For a test file whose tests each run one app on a fresh netPair: returns `serve(start)`, which
 * makes the pair and starts the app on the server stack, and registers an afterEach that closes
 * the app (in virtual time) and both stacks.
 */
export function servedApps<A extends { close(): Promise<unknown> }>(): (
  start: (server: NetStack) => Promise<A>,
) => Promise<AppFixture<A>> {
  let current: AppFixture<A> | null = null;
  afterEach(async () => {
    const f = current;
    current = null;
    if (f === null) return;
    await runFor(f.clock, f.app.close());
    await f.client.close();
    await f.server.close();
  });
  return async (start) => {
    const { clock, client, server } = netPair();
    const app = await runFor(clock, start(server));
    current = { clock, client, server, app };
    return current;
  };
}

/** A stack at 10.0.0.2 and a raw host at 10.0.0.1 that sends bytes the test builds. */
export function rawHost(opts: { sim?: SimLinkOptions; stack?: Partial<StackOptions> } = {}) {
  const clock = new VirtualClock();
  const [host, lb] = SimLink.pair(clock, opts.sim);
  const stack = createStack({ link: lb, address: SERVER, clock, ...opts.stack });
  const received: Uint8Array[] = [];
  const rx: LinkReceiver = { packet: (p) => received.push(p.slice()) };
  host.attach(rx);
  const send = (...packets: Uint8Array[]) => {
    for (const p of packets) host.send(p);
    host.flush();
  };
  return { clock, stack, host, received, send };
}

/** An IPv4 packet from the raw host to the stack (UDP, id 42, unless `repr` says otherwise). */
export function ipPacket(payload: Uint8Array, repr: Partial<Ipv4Repr> = {}): Uint8Array {
  return packet(payload, { id: 42, ...repr });
}

/** Let nextTicks, microtasks and immediates run (stream events, the stack's queued flush). */
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

/**
 * Run every deadline up to `limitMs` from now, draining queues between them; stop early (the
 * clock where the last deadline left it) once nothing is left to run. Returns whether it did.
 */
async function runDeadlines(clock: VirtualClock, limitMs: number): Promise<boolean> {
  const end = clock.now() + limitMs;
  for (let step = 0; step < 5_000_000; step++) {
    await drainTasks();
    const next = clock.nextTimerAt();
    if (next === null) return true;
    if (next > end) return false;
    clock.advance(next - clock.now());
  }
  throw new Error('runDeadlines: still busy after 5 000 000 deadlines');
}

/** Advance exactly `ms` of virtual time, draining queues between deadlines. */
export async function advance(clock: VirtualClock, ms: number): Promise<void> {
  const end = clock.now() + ms;
  await runDeadlines(clock, ms);
  clock.advance(Math.max(0, end - clock.now()));
  await drainTasks();
}

/**
 * Let everything settle: run Node's queues and the clock's deadlines in turns until neither has
 * work or `limitMs` of virtual time has passed (the clock does not move past the last deadline).
 */
export async function settle(clock: VirtualClock, limitMs = 60_000): Promise<void> {
  await runDeadlines(clock, limitMs);
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

/** Bytes i*7+seed: a pattern whose shifts and truncations are easy to see. */
export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}
