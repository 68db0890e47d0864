/**
 * RACK (RFC 8985) over a seeded lossy link in virtual time: every byte arrives once and in
 * order whatever the faults, and on a short path with 5 % loss each way it needs far fewer
 * retransmission timeouts than RFC 6675's duplicate-ACK rules (the reason Linux uses it).
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { type LinkFaults, oneWayTransfer, Sim } from './tcp-sim.ts';

const SCALE = Number(process.env.TCP_SIM_SCALE ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

/** A bulk transfer from a to b over `faults`, checked (oneWayTransfer). */
function transfer(
  seed: number,
  faults: LinkFaults,
  a: Partial<TcpConnectionOptions>,
  b = a,
  total = 300_000,
) {
  const sim = new Sim({ seed, faults, a, b });
  return oneWayTransfer(sim, total, `seed=${seed} faults=${JSON.stringify(faults)}`, 2_000_000);
}

const optionsArb: fc.Arbitrary<Partial<TcpConnectionOptions>> = fc.record({
  mss: fc.integer({ min: 200, max: 1460 }),
  rcvBuf: fc.integer({ min: 16_384, max: 300_000 }),
  sndBuf: fc.integer({ min: 16_384, max: 300_000 }),
  maxOoo: fc.integer({ min: 16_384, max: 100_000 }),
  windowScale: fc.boolean(),
  timestamps: fc.boolean(),
  sack: fc.constant(true),
  dsack: fc.boolean(),
  congestion: fc.constantFrom('reno' as const, 'cubic' as const),
  tailLossProbe: fc.boolean(),
  prr: fc.boolean(),
  rack: fc.constant(true),
  timeWaitMs: fc.constant(100),
});

group('RACK over a faulty link (virtual time)', () => {
  it('loss, reordering and duplicates: every byte once, in order; both end CLOSED', () => {
    let marked = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.record({
          loss: fc.double({ min: 0, max: 0.2, noNaN: true }),
          dup: fc.double({ min: 0, max: 0.05, noNaN: true }),
          reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
          delayMs: fc.integer({ min: 1, max: 60 }),
        }),
        optionsArb,
        optionsArb,
        fc.integer({ min: 20_000, max: 200_000 }),
        (seed, faults, oa, ob, total) => {
          const sim = transfer(seed, faults, oa, ob, total);
          marked += sim.a.snapshot().fastRetransmits;
        },
      ),
      { numRuns: runs(40) },
    );
    expect(marked).toBeGreaterThan(0);
  });

  it('a 0.1 ms path with 5 % loss each way: fewer timeouts than RFC 6675, lost retransmissions found', () => {
    const faults: LinkFaults = { loss: 0.05, dup: 0, reorder: 0, delayMs: 0.05 };
    const base: Partial<TcpConnectionOptions> = {
      sack: true,
      timestamps: true,
      windowScale: true,
      congestion: 'cubic',
      tailLossProbe: true,
      prr: true,
      rcvBuf: 1 << 20,
      sndBuf: 1 << 20,
      maxOoo: 1 << 20,
      timeWaitMs: 100,
    };
    let rackTimeouts = 0;
    let rfcTimeouts = 0;
    let lostRexmits = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const rack = transfer(seed, faults, { ...base, rack: true }, undefined, 1_000_000);
      const rfc = transfer(seed, faults, { ...base, rack: false }, undefined, 1_000_000);
      rackTimeouts += rack.a.snapshot().timeouts;
      rfcTimeouts += rfc.a.snapshot().timeouts;
      lostRexmits += rack.a.snapshot().lostRetransmissions;
    }
    expect(lostRexmits).toBeGreaterThan(0);
    expect(rackTimeouts * 2).toBeLessThan(rfcTimeouts);
  });
});
