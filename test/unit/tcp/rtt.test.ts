import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../../src/tcp/rtt.ts';

const opts = { initialRto: 1000, minRto: 200, maxRto: 60_000 };

describe('RttEstimator (RFC 6298)', () => {
  it('starts at the initial RTO with no SRTT (§2.1)', () => {
    const e = new RttEstimator(opts);
    expect(e.srtt).toBeNull();
    expect(e.rttvar).toBe(0);
    expect(e.rto).toBe(1000);
  });

  it('takes the first sample as SRTT = R, RTTVAR = R/2 (§2.2)', () => {
    const e = new RttEstimator(opts);
    e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(100 + 4 * 50);
  });

  it('smooths later samples with beta = 1/4 then alpha = 1/8 (§2.3)', () => {
    const e = new RttEstimator(opts);
    e.sample(100);
    e.sample(200);
    // RTTVAR uses the old SRTT: 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5.
    expect(e.rttvar).toBe(62.5);
    expect(e.srtt).toBe(112.5);
    expect(e.rto).toBe(112.5 + 4 * 62.5);
    e.sample(112.5);
    // RTTVAR = 3/4*62.5 + 0 = 46.875; SRTT unchanged.
    expect(e.rttvar).toBe(46.875);
    expect(e.srtt).toBe(112.5);
    expect(e.rto).toBe(112.5 + 187.5);
  });

  it('rounds the RTO up to minRto (§2.4)', () => {
    const e = new RttEstimator(opts);
    e.sample(10);
    expect(e.rto).toBe(200);
  });

  it('caps the RTO at maxRto (§2.5)', () => {
    const e = new RttEstimator({ ...opts, maxRto: 2000 });
    e.sample(1000);
    expect(e.rto).toBe(2000);
  });

  it('uses the clock granularity once the variance has decayed (§2.2)', () => {
    const e = new RttEstimator({ initialRto: 1000, minRto: 0, maxRto: 60_000, granularity: 10 });
    for (let i = 0; i < 200; i++) e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBeLessThan(1);
    expect(e.rto).toBe(110);
  });

  it('doubles on backoff up to maxRto, and a new sample recomputes (§5.5, §5.7)', () => {
    const e = new RttEstimator({ ...opts, maxRto: 4000 });
    e.sample(100);
    expect(e.rto).toBe(300);
    e.backoff();
    expect(e.rto).toBe(600);
    e.backoff();
    e.backoff();
    e.backoff();
    expect(e.rto).toBe(4000);
    e.backoff();
    expect(e.rto).toBe(4000);
    e.resetBackoff();
    expect(e.rto).toBe(300);
    e.backoff();
    e.sample(100);
    // RTTVAR = 3/4*50 = 37.5; RTO = 100 + 150.
    expect(e.rto).toBe(250);
  });

  it('backs off the initial RTO and resets to it before any sample', () => {
    const e = new RttEstimator(opts);
    e.backoff();
    expect(e.rto).toBe(2000);
    e.resetBackoff();
    expect(e.rto).toBe(1000);
  });

  it('ignores negative and non-finite samples', () => {
    const e = new RttEstimator(opts);
    e.sample(-1);
    e.sample(Number.NaN);
    e.sample(Number.POSITIVE_INFINITY);
    expect(e.srtt).toBeNull();
    expect(e.rto).toBe(1000);
  });
});
