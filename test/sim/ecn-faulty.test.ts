/**
 * ECN over a seeded faulty link in virtual time (the cores alone, test/sim/tcp-sim.ts): CE marks
 * on a share of the ECT segments, mixed with loss, duplication and reordering, with every
 * recovery the options can choose (NewReno, RFC 6675, PRR, RACK, TLP). Whatever happens, every
 * byte arrives once and in order and both ends close; and the runs did exercise ECN: marks were
 * echoed and windows cut for them.
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import { mulberry32 } from '../../src/stack/rng.ts';
import { IpEcn } from '../../src/wire/ipv4.ts';
import { faultsArb, oneWayTransfer, optionsArb, runs, Sim } from './tcp-sim.ts';

const faults = faultsArb({ loss: 0.1, dup: 0.05, reorder: 0.2, delayMs: 60 });
// The client asks; the server accepts (the default) or, now and then, refuses.
const options = optionsArb({
  ecn: fc.constantFrom(1 as const, 2 as const, 2 as const, 0 as const),
});

group('ECN over a faulty link (virtual time)', () => {
  it('CE marks with loss, duplicates and reordering: every byte once, in order; both end CLOSED', () => {
    let echoed = 0;
    let cuts = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faults,
        fc.double({ min: 0.01, max: 0.2, noNaN: true }),
        options,
        options,
        fc.integer({ min: 20_000, max: 200_000 }),
        (seed, faults, ce, oa, ob, total) => {
          const sim = new Sim({ seed, faults, a: { ...oa, ecn: 1 }, b: ob });
          // The marks draw from their own stream, so the link's own faults stay as the seed says.
          const mark = mulberry32(seed ^ 0x5bd1e995);
          sim.onTransmit = (_to, seg, lost) => {
            if (!lost && seg.ipEcn === IpEcn.Ect0 && mark() < ce) seg.ipEcn = IpEcn.Ce;
          };
          oneWayTransfer(sim, total, `seed=${seed} ce=${ce} faults=${JSON.stringify(faults)}`);
          const a = sim.a.snapshot().counters;
          const b = sim.b?.snapshot().counters ?? {};
          echoed += b['ecn-ce-received'] ?? 0;
          cuts += a['ecn-cwnd-reduced'] ?? 0;
        },
      ),
      { numRuns: runs(30) },
    );
    expect(echoed).toBeGreaterThan(0);
    expect(cuts).toBeGreaterThan(0);
  });
});
