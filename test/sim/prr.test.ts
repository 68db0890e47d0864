/**
 * PRR (RFC 6937) over a seeded faulty link in virtual time: whatever the loss, every byte arrives
 * once and in order, and both ends close. SACK is on at both ends (PRR paces SACK recovery only).
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import { faultsArb, oneWayTransfer, optionsArb, runs, Sim } from './tcp-sim.ts';

const faults = faultsArb({ loss: 0.2, dup: 0.05, reorder: 0.2, delayMs: 60 }, 0.01);
const options = optionsArb({ sack: fc.constant(true), prr: fc.constant(true) });

group('PRR over a lossy link (virtual time)', () => {
  it('one-way bulk transfer with PRR: every byte once, in order; both end CLOSED', () => {
    let recoveries = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faults,
        options,
        options,
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
