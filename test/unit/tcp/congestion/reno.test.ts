import { describe, expect, it } from 'vitest';
import { createCongestionControl, INITIAL_SSTHRESH } from '../../../../src/tcp/congestion/index.ts';

const mss = 1000;
const reno = () => createCongestionControl('reno', { mss, initialWindow: 10 });

describe('Reno (RFC 5681 §3.1, RFC 3465)', () => {
  it('starts at IW = initialWindow*SMSS with an unbounded ssthresh', () => {
    const cc = reno();
    expect(cc.name).toBe('reno');
    expect(cc.cwnd).toBe(10_000);
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('grows by min(N, SMSS) per ACK in slow start', () => {
    const cc = reno();
    cc.onAck(2000, 0, 10_000);
    expect(cc.cwnd).toBe(11_000);
    cc.onAck(500, 0, 10_000);
    expect(cc.cwnd).toBe(11_500);
  });

  it('grows by one SMSS per cwnd of acknowledged bytes in congestion avoidance', () => {
    const cc = reno();
    cc.cwnd = 20_000;
    cc.onFastRetransmit(20_000, 0);
    cc.onRecoveryExit(0);
    expect(cc.cwnd).toBe(10_000);
    expect(cc.ssthresh).toBe(10_000);
    for (let i = 0; i < 9; i++) cc.onAck(1000, 0, 10_000);
    expect(cc.cwnd).toBe(10_000);
    cc.onAck(1000, 0, 10_000);
    expect(cc.cwnd).toBe(11_000);
    // The remainder carries: 11 000 more bytes for the next increase.
    for (let i = 0; i < 10; i++) cc.onAck(1000, 0, 11_000);
    expect(cc.cwnd).toBe(11_000);
    cc.onAck(1000, 0, 11_000);
    expect(cc.cwnd).toBe(12_000);
  });

  it('sets ssthresh = max(FlightSize/2, 2*SMSS) on fast retransmit and deflates on exit', () => {
    const cc = reno();
    cc.cwnd = 30_000;
    cc.onFastRetransmit(30_000, 0);
    expect(cc.ssthresh).toBe(15_000);
    expect(cc.cwnd).toBe(15_000);
    // The connection inflates; the controller ignores ACKs during recovery.
    cc.cwnd += 3 * mss;
    cc.onAck(5000, 1, 30_000);
    expect(cc.cwnd).toBe(18_000);
    cc.onRecoveryExit(2);
    expect(cc.cwnd).toBe(15_000);
    const small = reno();
    small.onFastRetransmit(3000, 0);
    expect(small.ssthresh).toBe(2000);
  });

  it('a flight beyond cwnd (SACKed data above a hole) never raises the window: ssthresh from cwnd', () => {
    for (const name of ['reno', 'cubic'] as const) {
      const cc = createCongestionControl(name, { mss, initialWindow: 10 });
      // Megabytes SACKed above a hole the receiver has not acknowledged yet.
      cc.onFastRetransmit(2_000_000, 0);
      expect(cc.ssthresh, name).toBeLessThanOrEqual(10_000);
      expect(cc.cwnd, name).toBeLessThanOrEqual(10_000);
      const t = createCongestionControl(name, { mss, initialWindow: 10 });
      t.onTimeout(2_000_000, 0);
      expect(t.ssthresh, name).toBeLessThanOrEqual(10_000);
    }
    // Application-limited (less in flight than cwnd): FlightSize, as RFC 5681 says.
    const app = reno();
    app.onFastRetransmit(6000, 0);
    expect(app.ssthresh).toBe(3000);
  });

  it('collapses to the loss window on timeout and holds ssthresh on repeated timeouts', () => {
    const cc = reno();
    cc.cwnd = 40_000;
    cc.onTimeout(40_000, 0);
    expect(cc.ssthresh).toBe(20_000);
    expect(cc.cwnd).toBe(1000);
    cc.onTimeout(1000, 1000);
    expect(cc.ssthresh).toBe(20_000);
    cc.onAck(1000, 2000, 1000);
    expect(cc.cwnd).toBe(2000);
    cc.onTimeout(2000, 3000);
    expect(cc.ssthresh).toBe(2000);
  });

  it('does not grow while less than half the window is in use (RFC 7661)', () => {
    const cc = reno();
    cc.onAck(1000, 0, 0);
    expect(cc.cwnd).toBe(10_000);
    cc.onAck(1000, 0, 4000);
    expect(cc.cwnd).toBe(11_000);
  });

  it('ignores empty and invalid ACK counts', () => {
    const cc = reno();
    cc.onAck(0, 0, 10_000);
    cc.onAck(Number.NaN, 0, 10_000);
    cc.onAck(-5, 0, 10_000);
    expect(cc.cwnd).toBe(10_000);
  });
});
