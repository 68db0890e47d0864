import { describe, expect, it } from 'vitest';
import { CUBIC_ALPHA, Cubic } from '../../../../src/tcp/congestion/cubic.ts';
import { createCongestionControl } from '../../../../src/tcp/congestion/index.ts';
import type { CongestionControl } from '../../../../src/tcp/congestion/types.ts';

const mss = 1000;

/** One round trip of ACK clocking: every segment of the window acknowledged at `now`. */
function round(cc: CongestionControl, now: number, rtt: number): void {
  const n = Math.floor(cc.cwnd / mss);
  for (let i = 0; i < n; i++) cc.onAck(mss, now, cc.cwnd, rtt);
}

/** A CUBIC sender that has just recovered from a loss at a window of 100 segments. */
function afterLossAt100(): Cubic {
  const cc = new Cubic({ mss, initialWindow: 10 });
  cc.cwnd = 100 * mss;
  cc.onFastRetransmit(100 * mss, 0);
  cc.onRecoveryExit(0);
  return cc;
}

describe('CUBIC (RFC 9438)', () => {
  it('is created by name and slow-starts like Reno', () => {
    const cc = createCongestionControl('cubic', { mss, initialWindow: 10 });
    expect(cc.name).toBe('cubic');
    expect(cc.cwnd).toBe(10_000);
    cc.onAck(3000, 0, 10_000);
    expect(cc.cwnd).toBe(11_000);
  });

  it('reduces by beta = 0.7 and remembers W_max (§4.6)', () => {
    const cc = afterLossAt100();
    expect(cc.ssthresh).toBe(70_000);
    expect(cc.cwnd).toBe(70_000);
    expect(cc.wMax).toBe(100_000);
    cc.onAck(mss, 0, 70_000);
    // §4.2 eq. 2: K = ∛((100 − 70) / 0.4) seconds.
    expect(cc.k).toBeCloseTo(Math.cbrt(75), 12);
  });

  it('follows the cubic curve: concave up to W_max at t = K, convex after (§4.4, §4.5)', () => {
    const cc = afterLossAt100();
    const rtt = 100;
    const k = Math.cbrt(30 / 0.4);
    const w = (t: number) => (0.4 * (t - k) ** 3 + 100) * mss;
    let reno = 70; // segments: the Reno-friendly bound of §4.3, one round at a time
    const history: number[] = [];
    for (let now = 0; now <= 9000; now += rtt) {
      round(cc, now, rtt);
      reno += reno < 100 ? CUBIC_ALPHA : 1;
      history.push(cc.cwnd);
      const t = now / 1000;
      // After the round at t the window sits between W_cubic(t) and W_cubic(t + RTT), unless the
      // Reno-friendly estimate is higher (from about t = 6 s at this RTT).
      expect(cc.cwnd).toBeGreaterThanOrEqual(w(t) - 2 * mss);
      expect(cc.cwnd).toBeLessThanOrEqual(Math.max(w(t + rtt / 1000), reno * mss) + 2 * mss);
    }
    // Plateau: near W_max around t = K.
    const atK = history[Math.round((k * 1000) / rtt)];
    expect(Math.abs(atK - 100 * mss)).toBeLessThan(2 * mss);
    // Concave before K (increments shrink), convex after (increments grow).
    const step = (i: number) => history[i + 5] - history[i];
    expect(step(2)).toBeGreaterThan(step(20));
    expect(step(55)).toBeGreaterThan(step(45));
    // The Reno-friendly region took over around t = 7 s: one segment per round.
    expect(history[75] - history[70]).toBeGreaterThanOrEqual(4 * mss);
    expect(history[75] - history[70]).toBeLessThanOrEqual(5.5 * mss);
  });

  it('grows like Reno with alpha_cubic, then 1, in the Reno-friendly region (§4.3)', () => {
    const cc = afterLossAt100();
    const rtt = 1;
    let reno = 70; // segments, the model of §4.3 one round at a time
    for (let now = 0; now < 200; now += rtt) {
      round(cc, now, rtt);
      reno += reno < 100 ? CUBIC_ALPHA : 1;
    }
    expect(cc.wCubic(0.2)).toBeLessThan(80 * mss);
    expect(cc.cwnd / mss).toBeGreaterThan(reno * 0.95);
    expect(cc.cwnd / mss).toBeLessThan(reno * 1.02);
  });

  it('applies fast convergence when the window shrank since the last loss (§4.7)', () => {
    const cc = afterLossAt100();
    cc.cwnd = 90 * mss;
    cc.onFastRetransmit(90 * mss, 1000);
    expect(cc.wMax).toBe((90 * mss * 1.7) / 2);
    expect(cc.ssthresh).toBe(63_000);
  });

  it('after a timeout restarts from one segment and uses K = 0 at the next stage (§4.8)', () => {
    const cc = afterLossAt100();
    cc.cwnd = 100 * mss;
    cc.onTimeout(100 * mss, 0);
    expect(cc.cwnd).toBe(mss);
    expect(cc.ssthresh).toBe(70_000);
    cc.onTimeout(mss, 1000);
    expect(cc.ssthresh).toBe(70_000);
    // Slow start back to ssthresh one ACK at a time; the next ACK starts congestion avoidance.
    let now = 1000;
    while (cc.cwnd < cc.ssthresh) {
      now += 10;
      cc.onAck(mss, now, cc.cwnd, 100);
    }
    const start = cc.cwnd;
    now += 10;
    cc.onAck(mss, now, cc.cwnd, 100);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(start);
    // The curve is convex from its start: W_cubic(t) = C*t³ + W_max.
    expect(cc.wCubic(1) - start).toBeCloseTo(0.4 * mss, 6);
    expect(cc.wCubic(2) - start).toBeCloseTo(3.2 * mss, 6);
    // After 6 s the window has followed it beyond what Reno's rate alone could reach (≈ 50 segs).
    for (const epoch = now; now < epoch + 6000; ) {
      now += 100;
      round(cc, now, 100);
    }
    expect(cc.cwnd).toBeGreaterThanOrEqual(cc.wCubic(6) - 2 * mss);
    expect(cc.cwnd - start).toBeGreaterThan(80 * mss);
  });

  it('keeps cwnd a whole number of bytes and ignores ACKs during recovery', () => {
    const cc = afterLossAt100();
    cc.onFastRetransmit(70 * mss, 10);
    const during = cc.cwnd;
    cc.onAck(5 * mss, 20, 70 * mss, 100);
    expect(cc.cwnd).toBe(during);
    cc.onRecoveryExit(30);
    for (let i = 0; i < 50; i++) cc.onAck(137, 40 + i, cc.cwnd, 100);
    expect(Number.isInteger(cc.cwnd)).toBe(true);
  });

  it('does not count application-limited or idle time in t (§5.8)', () => {
    const steady = afterLossAt100();
    const limited = afterLossAt100();
    const idle = afterLossAt100();
    let now = 0;
    for (; now <= 2000; now += 100) for (const cc of [steady, limited, idle]) round(cc, now, 100);
    // 10 s in which `limited` sends little (flight 0) and `idle` hears nothing at all.
    for (let t = 100; t <= 10_000; t += 100) limited.onAck(mss, now + t, 0, 100);
    for (const cc of [limited, idle]) round(cc, now + 10_100, 100);
    round(steady, now, 100);
    expect(Math.abs(limited.cwnd - steady.cwnd)).toBeLessThan(mss);
    expect(Math.abs(idle.cwnd - steady.cwnd)).toBeLessThan(mss);
    // Without the rule, W_cubic(12 s) would have taken cwnd to the 1.5x cap in that round.
    expect(limited.cwnd).toBeLessThan(steady.wCubic(12) / 2);
  });
});
