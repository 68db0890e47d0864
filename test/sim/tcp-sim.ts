/**
 * A tiny deterministic network for two TCP cores (src/tcp) in virtual time, at the fixture's
 * client and server addresses (test/sim/fixture.ts builds whole stacks; this drives the cores alone).
 *
 * The link is a priority queue of (time, segment) with seeded loss, duplication, reordering and
 * delay. Nothing here is real: no clock, no sockets, no IP. The stack-level FaultLink works on IP
 * packets; this one works on TcpRepr records, so a failing seed points at the core alone.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { MinHeap } from '../../src/stack/heap.ts';
import { mulberry32 } from '../../src/stack/rng.ts';
import { TcpConnection } from '../../src/tcp/conn.ts';
import type { TcpEvent } from '../../src/tcp/events.ts';
import { TcpListener } from '../../src/tcp/listener.ts';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import type { TcpRepr } from '../../src/wire/tcp-repr.ts';
import { CLIENT_ADDR, SERVER_ADDR } from './fixture.ts';

/** Draws from the one seeded PRNG (src/stack/rng.ts): floats in [0, 1) and integers. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

export interface LinkFaults {
  /** Probability a segment is lost. */
  loss: number;
  /** Probability a segment is delivered twice. */
  dup: number;
  /** Probability a segment gets an extra delay of up to 3 × delayMs (and so is reordered). */
  reorder: number;
  /** One-way delay in ms. */
  delayMs: number;
  /**
   * b's ACKs thinned as a Linux receiver's look on the wire (its compressed SACKs, tcp_comp_sack):
   * three duplicate ACKs with SACK blocks go at once, later duplicates of the same cumulative ACK
   * do not. For the a → b sender's loss recovery against Linux.
   */
  compressSacks?: boolean;
}

export const NO_FAULTS: LinkFaults = { loss: 0, dup: 0, reorder: 0, delayMs: 5 };

type Side = 'a' | 'b';

interface InFlight {
  at: number;
  order: number;
  to: Side;
  seg: TcpRepr;
}

/** Segments in flight ordered by (at, order): ties keep sending order. */
function less(x: InFlight, y: InFlight): boolean {
  return x.at < y.at || (x.at === y.at && x.order < y.order);
}

const A_PORT = 40000;
const B_PORT = 80;

/** One end's application: what it was asked to send, what it received, what it was told. */
export class App {
  readonly received: Uint8Array[] = [];
  readonly events: TcpEvent[] = [];
  receivedBytes = 0;
  sentBytes = 0;
  errors: string[] = [];
  fin = false;
  closed = false;
  connected = false;
  drains = 0;
}

export interface SimOptions {
  seed: number;
  faults: LinkFaults;
  a: Partial<TcpConnectionOptions>;
  b: Partial<TcpConnectionOptions>;
  /** Both ends open actively at the same time (no listener). */
  simultaneousOpen?: boolean;
  /** ISNs; default random near 2³² so the sequence space wraps. */
  issA?: number;
  issB?: number;
}

/** Two connections over one faulty link, driven in virtual time. */
export class Sim {
  now = 0;
  readonly rng: Rng;
  readonly faults: LinkFaults;
  readonly link = new MinHeap<InFlight>(less);
  #order = 0;
  /** compressSacks: b's last cumulative ACK, and how many duplicates of it have gone. */
  #bAck: number | null = null;
  #bDups = 0;
  a: TcpConnection;
  b: TcpConnection | null = null;
  readonly listener: TcpListener | null;
  readonly appA = new App();
  readonly appB = new App();
  segments = 0;
  /** From this time on the link delivers nothing (a peer that vanished). */
  cutAt = Number.POSITIVE_INFINITY;
  /** Called after each step with the current time, for scripted actions. */
  onStep: (sim: Sim) => void = () => {};
  /** Called for every segment put on the wire, `lost` when the link drops it (for tracing). */
  onTransmit: ((to: Side, seg: TcpRepr, lost: boolean) => void) | null = null;

  constructor(readonly o: SimOptions) {
    this.rng = new Rng(o.seed);
    this.faults = o.faults;
    const issA = o.issA ?? (0xffffffff - this.rng.int(0, 100_000)) >>> 0;
    const issB = o.issB ?? (0xffffffff - this.rng.int(0, 100_000)) >>> 0;
    const tupleA = {
      localAddr: CLIENT_ADDR,
      localPort: A_PORT,
      remoteAddr: SERVER_ADDR,
      remotePort: B_PORT,
    };
    this.a = TcpConnection.connect(tupleA, issA, 0, o.a);
    if (o.simultaneousOpen) {
      const tupleB = {
        localAddr: SERVER_ADDR,
        localPort: B_PORT,
        remoteAddr: CLIENT_ADDR,
        remotePort: A_PORT,
      };
      this.b = TcpConnection.connect(tupleB, issB, 0, o.b);
      this.listener = null;
    } else {
      this.listener = new TcpListener(SERVER_ADDR, B_PORT, { next: () => issB }, { conn: o.b });
    }
  }

  app(side: Side): App {
    return side === 'a' ? this.appA : this.appB;
  }

  conn(side: Side): TcpConnection | null {
    return side === 'a' ? this.a : this.b;
  }

  /** The earliest time anything happens, or null when the world is quiet. */
  nextTime(): number | null {
    let t: number | null = this.link.peek()?.at ?? null;
    for (const c of [this.a, this.b]) {
      const p = c?.pollAt() ?? null;
      if (p !== null && (t === null || p < t)) t = p;
    }
    return t;
  }

  /**
   * Run until quiet or `untilMs` of virtual time, or `maxSteps`. Returns true if the world went
   * quiet (no segment in flight, no deadline).
   */
  run(untilMs: number, maxSteps = 200_000): boolean {
    for (let step = 0; step < maxSteps; step++) {
      this.flush();
      this.onStep(this);
      this.flush();
      const t = this.nextTime();
      if (t === null) return true;
      if (t > untilMs) return false;
      this.now = Math.max(this.now, t);
      // Deliver every segment due now.
      for (
        let top = this.link.peek();
        top !== undefined && top.at <= this.now;
        top = this.link.peek()
      ) {
        this.link.pop();
        this.#deliver(top.to, top.seg);
      }
    }
    return false;
  }

  /** Dispatch both ends until they have nothing to send now; collect events. */
  flush(): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const side of ['a', 'b'] as const) {
        const c = this.conn(side);
        if (c === null) continue;
        let burst = 0;
        for (let s = c.dispatch(this.now); s !== null; s = c.dispatch(this.now)) {
          any = true;
          this.#transmit(side === 'a' ? 'b' : 'a', s);
          // A connection may send at most a window's worth at once; far more is a runaway loop.
          if (++burst > 100_000) {
            throw new Error(
              `${side}: dispatch never returns null: ${JSON.stringify(c.snapshot())} last=${describeSeg(s)}`,
            );
          }
        }
        this.#collect(side, c);
      }
      if (!any) return;
    }
  }

  #collect(side: Side, c: TcpConnection): void {
    const app = this.app(side);
    for (const e of c.takeEvents()) {
      app.events.push(e);
      switch (e.type) {
        case 'data':
          app.received.push(e.data);
          app.receivedBytes += e.data.length;
          break;
        case 'fin':
          app.fin = true;
          break;
        case 'error':
          app.errors.push(e.code);
          break;
        case 'closed':
          app.closed = true;
          break;
        case 'connected':
          app.connected = true;
          break;
        case 'drain':
          app.drains++;
          break;
      }
    }
  }

  #transmit(to: Side, seg: TcpRepr): void {
    this.segments++;
    const f = this.faults;
    if (to === 'a' && f.compressSacks && this.#compressed(seg)) return;
    const lost = this.rng.next() < f.loss || this.now >= this.cutAt;
    this.onTransmit?.(to, seg, lost);
    if (lost) return;
    // The payload may be a view into the sender's buffer, which it reuses: copy, as the wire does.
    const copy = { ...seg, payload: seg.payload.slice(), options: { ...seg.options } };
    const copies = this.rng.next() < f.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = f.delayMs;
      if (this.rng.next() < f.reorder) delay += this.rng.next() * 3 * f.delayMs;
      this.link.push({ at: this.now + delay, order: this.#order++, to, seg: copy });
    }
  }

  /** compressSacks: a duplicate SACK of b's beyond the third for one cumulative ACK is held back. */
  #compressed(seg: TcpRepr): boolean {
    if (seg.ack === null || seg.payload.length > 0 || seg.control !== 'none') return false;
    if (seg.ack !== this.#bAck) {
      this.#bAck = seg.ack;
      this.#bDups = 0;
      return false;
    }
    if (seg.options.sackBlocks.length === 0) return false;
    return ++this.#bDups > 3;
  }

  #deliver(to: Side, seg: TcpRepr): void {
    if (to === 'a') {
      this.a.process(this.now, seg);
      return;
    }
    if (this.b !== null) {
      this.b.process(this.now, seg);
      return;
    }
    const ln = this.listener;
    if (ln === null) return;
    const v = ln.process(this.now, CLIENT_ADDR, SERVER_ADDR, seg);
    if (v.kind === 'created') this.b = v.conn;
    else if (v.kind === 'reset') this.#transmit('a', v.seg);
  }
}

/** Deterministic bytes for a stream: byte i of stream `tag`. */
export function streamBytes(tag: number, from: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = ((from + i) * 31 + tag * 7 + ((from + i) >>> 8)) & 0xff;
  return out;
}

/** Concatenate received chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * A writer: pushes `total` bytes of stream `tag` from `side` as fast as `send` accepts them,
 * then shuts down (or closes) once everything was accepted.
 */
export function writer(
  sim: Sim,
  side: Side,
  tag: number,
  total: number,
  end: 'shutdown' | 'close' | 'none' = 'shutdown',
): () => void {
  let done = false;
  return () => {
    const c = sim.conn(side);
    if (c === null || done) return;
    const app = sim.app(side);
    if (!app.connected && c.state !== 'ESTABLISHED') return;
    while (app.sentBytes < total) {
      const room = c.sendRoom;
      if (room === 0) return;
      const n = Math.min(room, total - app.sentBytes, 16_384);
      const accepted = c.send(streamBytes(tag, app.sentBytes, n));
      app.sentBytes += accepted;
      if (accepted < n) return;
    }
    done = true;
    if (end === 'shutdown') c.shutdown();
    else if (end === 'close') c.close();
  };
}

export function describeSeg(s: TcpRepr): string {
  const flags = `${s.control}${s.ack !== null ? '+ack' : ''}`;
  return `${flags} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length} sack=${JSON.stringify(s.options.sackBlocks)}`;
}

/** Virtual time a lossy transfer may take before a run is called stuck. */
export const HOUR = 3_600_000;

/**
 * One-way bulk transfer: `total` bytes of stream 1 from a to b (a shuts down once all are
 * accepted, b once it has the FIN), run until the world is quiet. Then what every such run must
 * show: no errors, every byte once and in order, quiet, both ends CLOSED. `label` names the run
 * in a failure (seed and faults). Returns the sim for further checks.
 */
export function oneWayTransfer(sim: Sim, total: number, label: string, maxSteps?: number): Sim {
  const write = writer(sim, 'a', 1, total);
  let bShut = false;
  const before = sim.onStep;
  sim.onStep = (s) => {
    before(s);
    write();
    if (s.appB.fin && !bShut && s.b !== null) {
      bShut = true;
      s.b.shutdown();
    }
  };
  const quiet = sim.run(4 * HOUR, maxSteps);
  expect([...sim.appA.errors, ...sim.appB.errors], label).toEqual([]);
  const got = concat(sim.appB.received);
  expect(got.length, label).toBe(total);
  const want = streamBytes(1, 0, total);
  let same = true;
  for (let i = 0; i < total && same; i++) same = got[i] === want[i];
  expect(same, `${label}: bytes equal`).toBe(true);
  expect(quiet, label).toBe(true);
  expect(sim.a.state, label).toBe('CLOSED');
  expect(sim.b?.state ?? 'CLOSED', label).toBe('CLOSED');
  return sim;
}

/** Property runs, scaled by TCP_SIM_SCALE (=20 for a long soak); the default keeps files fast. */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * Number(process.env.TCP_SIM_SCALE ?? 1)));
}

/** Seeded link faults up to the given bounds (loss from `minLoss`). */
export function faultsArb(
  max: Omit<LinkFaults, 'delayMs'> & { delayMs: number },
  minLoss = 0,
): fc.Arbitrary<LinkFaults> {
  return fc.record({
    loss: fc.double({ min: minLoss, max: max.loss, noNaN: true }),
    dup: fc.double({ min: 0, max: max.dup, noNaN: true }),
    reorder: fc.double({ min: 0, max: max.reorder, noNaN: true }),
    delayMs: fc.integer({ min: 1, max: max.delayMs }),
  });
}

type OptionArbs = { [K in keyof TcpConnectionOptions]?: fc.Arbitrary<TcpConnectionOptions[K]> };

/**
 * Connection options for the lossy-link properties: every recovery choice drawn (SACK, D-SACK,
 * Reno or CUBIC, TLP, PRR, RACK), windows from 16 KiB; `fixed` replaces or adds draws.
 */
export function optionsArb(fixed: OptionArbs = {}): fc.Arbitrary<Partial<TcpConnectionOptions>> {
  const base: OptionArbs = {
    mss: fc.integer({ min: 200, max: 1460 }),
    rcvBuf: fc.integer({ min: 16_384, max: 300_000 }),
    sndBuf: fc.integer({ min: 16_384, max: 300_000 }),
    maxOoo: fc.integer({ min: 16_384, max: 100_000 }),
    windowScale: fc.boolean(),
    timestamps: fc.boolean(),
    sack: fc.boolean(),
    dsack: fc.boolean(),
    congestion: fc.constantFrom('reno' as const, 'cubic' as const),
    tailLossProbe: fc.boolean(),
    tlpResend: fc.boolean(),
    recoveryProbe: fc.boolean(),
    prr: fc.boolean(),
    rack: fc.boolean(),
    timeWaitMs: fc.constant(100),
  };
  return fc.record({ ...base, ...fixed }) as fc.Arbitrary<Partial<TcpConnectionOptions>>;
}
