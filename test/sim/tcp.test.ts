/**
 * Two TCP cores over a seeded faulty link in virtual time (test/sim/tcp-sim.ts), with fast-check
 * choosing seeds, faults and options. Each failure message starts with the seed; rerun one case with
 * `fc.assert(..., { seed, path })` as printed by fast-check, or build `new Sim({ seed, ... })`.
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { concat, type LinkFaults, NO_FAULTS, runs, Sim, streamBytes, writer } from './tcp-sim.ts';

const HOUR = 3_600_000;

const faultsArb: fc.Arbitrary<LinkFaults> = fc.record({
  loss: fc.double({ min: 0, max: 0.25, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.1, noNaN: true }),
  reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
  delayMs: fc.integer({ min: 1, max: 80 }),
});

const optionsArb: fc.Arbitrary<Partial<TcpConnectionOptions>> = fc.record({
  mss: fc.integer({ min: 64, max: 1460 }),
  rcvBuf: fc.integer({ min: 2048, max: 300_000 }),
  sndBuf: fc.integer({ min: 2048, max: 300_000 }),
  // Without an out-of-order queue, heavy loss and no timestamps, Karn's algorithm keeps the RTO
  // backed off (correctly) for hours of virtual time; every real receiver queues out of order.
  maxOoo: fc.integer({ min: 4096, max: 100_000 }),
  windowScale: fc.boolean(),
  timestamps: fc.boolean(),
  sack: fc.boolean(),
  congestion: fc.constantFrom('reno' as const, 'cubic' as const),
  noDelay: fc.boolean(),
  timeWaitMs: fc.constant(100),
  tailLossProbe: fc.boolean(),
  prr: fc.boolean(),
  rack: fc.boolean(),
});

/** Run one case; on failure the message names the seed and the faults. */
function check(label: string, seed: number, faults: LinkFaults, body: () => void): void {
  try {
    body();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${label}: seed=${seed} faults=${JSON.stringify(faults)}\n${msg}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * No error at all: with at most 25 % loss, 15 retries (a 2⁻³⁰ chance per segment of losing every
 * copy) make ETIMEDOUT a sign of a stall, not of bad luck.
 */
function expectNoErrors(sim: Sim): void {
  expect([...sim.appA.errors, ...sim.appB.errors], 'errors').toEqual([]);
}

/** Two streams (a -> b tagged 1, b -> a tagged 2) arrived whole, without error, and both closed. */
function expectBothWays(sim: Sim, quiet: boolean, totalA: number, totalB: number): void {
  expectNoErrors(sim);
  expectStream(sim, sim.appB.received, 1, totalA);
  expectStream(sim, sim.appA.received, 2, totalB);
  expectAllClosed(sim, quiet);
}

/** What every run must end with: quiet, both CLOSED, each told `closed` exactly once. */
function expectAllClosed(sim: Sim, quiet: boolean): void {
  expect(quiet, `not quiet at t=${sim.now}: a=${sim.a.state} b=${sim.b?.state}`).toBe(true);
  expect(sim.a.state).toBe('CLOSED');
  expect(sim.b?.state ?? 'CLOSED').toBe('CLOSED');
  expect(sim.a.pollAt()).toBeNull();
  expect(sim.b?.pollAt() ?? null).toBeNull();
  expect(sim.appA.events.filter((e) => e.type === 'closed')).toHaveLength(1);
  if (sim.b !== null) expect(sim.appB.events.filter((e) => e.type === 'closed')).toHaveLength(1);
}

/** Every byte written arrives once and in order, or an error was reported and what came is a prefix. */
function expectStream(sim: Sim, received: Uint8Array[], tag: number, total: number): void {
  const got = concat(received);
  const errors = [...sim.appA.errors, ...sim.appB.errors];
  if (errors.length === 0) {
    expect(got.length, 'bytes received').toBe(total);
    expect(equalBytes(got, streamBytes(tag, 0, total)), 'bytes equal').toBe(true);
  } else {
    expect(got.length).toBeLessThanOrEqual(total);
    expect(equalBytes(got, streamBytes(tag, 0, got.length)), 'prefix equal').toBe(true);
  }
}

group('TCP core over a faulty link (virtual time)', () => {
  it('one-way bulk transfer then close: every byte once, in order; both end CLOSED', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        optionsArb,
        optionsArb,
        fc.integer({ min: 0, max: 150_000 }),
        (seed, faults, oa, ob, total) => {
          const sim = new Sim({ seed, faults, a: oa, b: ob });
          const write = writer(sim, 'a', 1, total);
          let bShut = false;
          sim.onStep = (s) => {
            write();
            if (s.appB.fin && !bShut && s.b !== null) {
              bShut = true;
              s.b.shutdown();
            }
          };
          const quiet = sim.run(4 * HOUR);
          check('bulk', seed, faults, () => {
            expectNoErrors(sim);
            expectStream(sim, sim.appB.received, 1, total);
            expectAllClosed(sim, quiet);
            if (sim.appA.errors.length === 0) expect(sim.appB.fin).toBe(true);
          });
        },
      ),
      { numRuns: runs(60) },
    );
  });

  it('both directions at once, then simultaneous close', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        optionsArb,
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (seed, faults, o, totalA, totalB) => {
          const sim = new Sim({ seed, faults, a: o, b: o });
          const wa = writer(sim, 'a', 1, totalA);
          const wb = writer(sim, 'b', 2, totalB);
          sim.onStep = () => {
            wa();
            wb();
          };
          const quiet = sim.run(4 * HOUR);
          check('bidirectional', seed, faults, () => {
            expectBothWays(sim, quiet, totalA, totalB);
          });
        },
      ),
      { numRuns: runs(40) },
    );
  });

  it('simultaneous open, data, close', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        optionsArb,
        (seed, faults, o) => {
          const sim = new Sim({ seed, faults, a: o, b: o, simultaneousOpen: true });
          const wa = writer(sim, 'a', 1, 5000);
          const wb = writer(sim, 'b', 2, 7000);
          sim.onStep = () => {
            wa();
            wb();
          };
          const quiet = sim.run(4 * HOUR);
          check('simultaneous open', seed, faults, () => {
            expect(sim.appA.connected && sim.appB.connected).toBe(true);
            expectBothWays(sim, quiet, 5000, 7000);
          });
        },
      ),
      { numRuns: runs(30) },
    );
  });

  it('zero window: a paused reader stalls the writer (persist probes), then resumes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        fc.integer({ min: 1000, max: 60_000 }),
        (seed, faults, pauseMs) => {
          const o = { rcvBuf: 4096, sndBuf: 8192, mss: 536, timeWaitMs: 100 };
          const sim = new Sim({ seed, faults, a: o, b: o });
          const total = 40_000;
          const write = writer(sim, 'a', 1, total);
          let paused = false;
          let resumed = false;
          let bShut = false;
          let sawZeroWindow = false;
          sim.onStep = (s) => {
            write();
            const b = s.b;
            if (b === null) return;
            if (!paused) {
              paused = true;
              b.setFlowing(false);
            }
            if (s.a.snapshot().sndWnd === 0) sawZeroWindow = true;
            if (!resumed && s.now >= pauseMs) {
              resumed = true;
              const held: Uint8Array[] = [];
              for (let d = b.recv(); d !== null; d = b.recv()) held.push(d);
              s.appB.received.push(...held);
              b.setFlowing(true);
            }
            if (s.appB.fin && !bShut) {
              bShut = true;
              b.shutdown();
            }
          };
          const quiet = sim.run(4 * HOUR);
          check('zero window', seed, faults, () => {
            expectNoErrors(sim);
            expectStream(sim, sim.appB.received, 1, total);
            expectAllClosed(sim, quiet);
            if (faults.loss === 0) expect(sawZeroWindow).toBe(true);
          });
        },
      ),
      { numRuns: runs(25) },
    );
  });

  it('abort (RST) at a random moment: both ends reach CLOSED, data is a prefix', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        fc.constantFrom('a' as const, 'b' as const),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 50_000 }),
        (seed, faults, who, atMs, total) => {
          // An idle peer learns of a lost RST only by sending: keep-alive makes it send.
          const o = {
            timeWaitMs: 100,
            maxRetries: 6,
            synRetries: 3,
            keepAlive: true,
            keepAliveIdleMs: 5000,
            keepAliveIntervalMs: 1000,
            keepAliveCount: 3,
          };
          const sim = new Sim({ seed, faults, a: o, b: o });
          const write = writer(sim, 'a', 1, total);
          let bShut = false;
          let aborted = false;
          sim.onStep = (s) => {
            write();
            if (s.appB.fin && !bShut && s.b !== null) {
              bShut = true;
              s.b.shutdown();
            }
            const c = s.conn(who);
            if (!aborted && c !== null && s.now >= atMs) {
              aborted = true;
              c.abort();
            }
          };
          const quiet = sim.run(4 * HOUR);
          check(`abort by ${who} at ${atMs}`, seed, faults, () => {
            const got = concat(sim.appB.received);
            expect(equalBytes(got, streamBytes(1, 0, got.length))).toBe(true);
            expectAllClosed(sim, quiet);
          });
        },
      ),
      { numRuns: runs(50) },
    );
  });

  it('both directions with readers that pause and resume at random (zero windows both ways)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        optionsArb,
        fc.integer({ min: 0, max: 40_000 }),
        fc.integer({ min: 0, max: 40_000 }),
        (seed, faults, o, totalA, totalB) => {
          const opts = { ...o, rcvBuf: Math.min(o.rcvBuf ?? 4096, 8192) };
          const sim = new Sim({ seed, faults, a: opts, b: opts });
          const wa = writer(sim, 'a', 1, totalA);
          const wb = writer(sim, 'b', 2, totalB);
          const toggleAt = { a: 0, b: 0 };
          sim.onStep = (s) => {
            wa();
            wb();
            for (const side of ['a', 'b'] as const) {
              const c = s.conn(side);
              if (c === null || s.now < toggleAt[side]) continue;
              toggleAt[side] = s.now + s.rng.int(50, 3000);
              const pause = s.rng.next() < 0.5;
              if (!pause) {
                for (let d = c.recv(); d !== null; d = c.recv()) s.app(side).received.push(d);
              }
              c.setFlowing(!pause);
            }
          };
          // Then both readers take what they hold and flow for good.
          sim.run(30_000);
          sim.onStep = (s) => {
            wa();
            wb();
            for (const side of ['a', 'b'] as const) {
              const c = s.conn(side);
              if (c === null) continue;
              for (let d = c.recv(); d !== null; d = c.recv()) s.app(side).received.push(d);
              c.setFlowing(true);
            }
          };
          const quiet = sim.run(4 * HOUR);
          check('bidirectional with pauses', seed, faults, () => {
            expectBothWays(sim, quiet, totalA, totalB);
          });
        },
      ),
      { numRuns: runs(25) },
    );
  });

  it('the link goes dead at a random moment: every timer gives up, both ends reach CLOSED', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.boolean(),
        fc.boolean(),
        (seed, faults, cutAt, total, pauseReader, fullClose) => {
          // Small limits so that giving up takes minutes of virtual time, not hours.
          const o = {
            timeWaitMs: 100,
            maxRetries: 4,
            synRetries: 2,
            maxRto: 5000,
            finWait2Ms: 2000,
            keepAlive: true,
            keepAliveIdleMs: 3000,
            keepAliveIntervalMs: 500,
            keepAliveCount: 3,
            rcvBuf: 8192,
          };
          const sim = new Sim({ seed, faults, a: o, b: o });
          sim.cutAt = cutAt;
          const write = writer(sim, 'a', 1, total, fullClose ? 'close' : 'shutdown');
          let bShut = false;
          sim.onStep = (s) => {
            write();
            if (s.b === null) return;
            if (pauseReader) s.b.setFlowing(false);
            if (s.appB.fin && !bShut) {
              bShut = true;
              s.b.shutdown();
            }
          };
          const quiet = sim.run(4 * HOUR);
          check(`link cut at ${cutAt}`, seed, faults, () => {
            const got = concat(sim.appB.received);
            expect(equalBytes(got, streamBytes(1, 0, got.length))).toBe(true);
            expectAllClosed(sim, quiet);
          });
        },
      ),
      { numRuns: runs(40) },
    );
  });

  it('a clean link moves 1 MB with few retransmissions', () => {
    const sim = new Sim({
      seed: 1,
      faults: NO_FAULTS,
      a: { timeWaitMs: 100 },
      b: { timeWaitMs: 100 },
    });
    const total = 1_000_000;
    const write = writer(sim, 'a', 1, total);
    let bShut = false;
    sim.onStep = (s) => {
      write();
      if (s.appB.fin && !bShut && s.b !== null) {
        bShut = true;
        s.b.shutdown();
      }
    };
    const quiet = sim.run(HOUR);
    expectStream(sim, sim.appB.received, 1, total);
    expectAllClosed(sim, quiet);
    expect(sim.a.snapshot().retransmits).toBe(0);
    expect(sim.a.snapshot().bytesOut).toBe(total);
  });
});
