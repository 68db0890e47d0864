/**
 * PRR (RFC 6937) over a seeded faulty link in virtual time: whatever the loss, every byte arrives
 * once and in order, and both ends close. SACK is on at both ends (PRR paces SACK recovery only).
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { type LinkFaults, oneWayTransfer, Sim } from './tcp-sim.ts';

const SCALE = Number(process.env.TCP_SIM_SCALE ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const faultsArb: fc.Arbitrary<LinkFaults> = fc.record({
  loss: fc.double({ min: 0.01, max: 0.2, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.05, noNaN: true }),
  reorder: fc.double({ min: 0, max: 0.2, noNaN: true }),
  delayMs: fc.integer({ min: 1, max: 60 }),
});

const optionsArb: fc.Arbitrary<Partial<TcpConnectionOptions>> = fc.record({
  mss: fc.integer({ min: 200, max: 1460 }),
  rcvBuf: fc.integer({ min: 16_384, max: 300_000 }),
  sndBuf: fc.integer({ min: 16_384, max: 300_000 }),
  maxOoo: fc.integer({ min: 16_384, max: 100_000 }),
  windowScale: fc.boolean(),
  timestamps: fc.boolean(),
  sack: fc.constant(true),
  congestion: fc.constantFrom('reno' as const, 'cubic' as const),
  tailLossProbe: fc.boolean(),
  dsack: fc.boolean(),
  timeWaitMs: fc.constant(100),
  prr: fc.constant(true),
});

group('PRR over a lossy link (virtual time)', () => {
  it('one-way bulk transfer with PRR: every byte once, in order; both end CLOSED', () => {
    let recoveries = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb,
        optionsArb,
        optionsArb,
        fc.integer({ min: 20_000, max: 200_000 }),
        (seed, faults, oa, ob, total) => {
          const sim = new Sim({ seed, faults, a: oa, b: ob });
          oneWayTransfer(sim, total, `seed=${seed} faults=${JSON.stringify(faults)}`);
          recoveries += sim.a.snapshot().fastRetransmits;
        },
      ),
      { numRuns: runs(40) },
    );
    // The runs did exercise PRR: fast recovery started in them.
    expect(recoveries).toBeGreaterThan(0);
  });
});
