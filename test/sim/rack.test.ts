/**
 * RACK (RFC 8985) over a seeded lossy link in virtual time: every byte arrives once and in
 * order whatever the faults, and on a short path with 5 % loss each way it needs far fewer
 * retransmission timeouts than RFC 6675's duplicate-ACK rules (the reason Linux uses it).
 */
import fc from 'fast-check';
import { expect, describe as group, it } from 'vitest';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { faultsArb, type LinkFaults, oneWayTransfer, optionsArb, runs, Sim } from './tcp-sim.ts';

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

/** A bulk sender's TCP as `tunstack up` has it (CUBIC, PRR, TLP; SACK, timestamps, scaling). */
function bulk(buffers: number): Partial<TcpConnectionOptions> {
  return {
    sack: true,
    timestamps: true,
    windowScale: true,
    congestion: 'cubic',
    tailLossProbe: true,
    prr: true,
    rcvBuf: buffers,
    sndBuf: buffers,
    maxOoo: buffers,
    timeWaitMs: 100,
  };
}

const options = optionsArb({ sack: fc.constant(true), rack: fc.constant(true) });

group('RACK over a faulty link (virtual time)', () => {
  it('loss, reordering and duplicates: every byte once, in order; both end CLOSED', () => {
    let marked = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        faultsArb({ loss: 0.2, dup: 0.05, reorder: 0.3, delayMs: 60 }),
        options,
        options,
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
    const base = bulk(1 << 20);
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

  it('against SACKs compressed as Linux does: probes in recovery and resent tail probes, far fewer timeouts', () => {
    // A Linux receiver sends three duplicate ACKs at once and compresses the rest, so the fast
    // retransmission is often the last segment of a recovery; when it or its ACK is lost, only
    // the RTO is left, unless a probe goes first (docs/loss-recovery.md).
    const faults: LinkFaults = {
      loss: 0.05,
      dup: 0,
      reorder: 0,
      delayMs: 0.05,
      compressSacks: true,
    };
    const base = { ...bulk(1 << 20), rack: true };
    let rfcTimeouts = 0;
    let timeouts = 0;
    let recoveryProbes = 0;
    let rfcProbes = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const rfc = transfer(seed, faults, base, undefined, 1_000_000).a.snapshot();
      const probes = { ...base, tlpResend: true, recoveryProbe: true };
      const ours = transfer(seed, faults, probes, base, 1_000_000).a.snapshot();
      rfcTimeouts += rfc.timeouts;
      rfcProbes += rfc.recoveryProbes;
      timeouts += ours.timeouts;
      recoveryProbes += ours.recoveryProbes;
    }
    expect(rfcProbes).toBe(0);
    expect(recoveryProbes).toBeGreaterThan(0);
    expect(timeouts * 2).toBeLessThan(rfcTimeouts);
  });

  it('the probes keep the congestion response: 5 % loss over a 40 ms path stays near the Mathis rate', () => {
    // Mathis et al.: a loss-responsive TCP moves about MSS/RTT · 1.22/√p, 1.58 Mbit/s here. A
    // probe that ended recoveries without their cwnd cut would let the window run far past it.
    const mss = 1448;
    const mathis = ((mss * 8) / 40) * (1.22 / Math.sqrt(0.05)); // bits per ms = kbit/s
    const base = { ...bulk(16 << 20), rack: true };
    for (const probes of [false, true]) {
      for (let seed = 1; seed <= 3; seed++) {
        const a = { ...base, tlpResend: probes, recoveryProbe: probes };
        // Linux's compressed SACKs hold the cumulative ACK back while data is SACKed above it.
        const faults: LinkFaults = {
          loss: 0.05,
          dup: 0,
          reorder: 0,
          delayMs: 20,
          compressSacks: true,
        };
        const sim = new Sim({ seed, faults, a, b: base });
        const total = 400_000;
        let done = 0;
        sim.onStep = (st) => {
          if (done === 0 && st.appB.received.reduce((n, c) => n + c.length, 0) >= total) {
            done = sim.now;
          }
        };
        oneWayTransfer(sim, total, `probes=${probes} seed=${seed}`, 5_000_000);
        const rate = (total * 8) / done; // kbit/s
        expect(rate, `probes=${probes} seed=${seed}`).toBeLessThan(3 * mathis);
        expect(sim.a.snapshot().fastRetransmits).toBeGreaterThan(0);
      }
    }
  });
});
