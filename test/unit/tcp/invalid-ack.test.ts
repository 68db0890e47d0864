/**
 * ACKs for unacceptable segments (RFC 9293 §3.10.7.4), rate-limited as Linux's
 * tcp_invalid_ratelimit: no two ends can ACK each other's ACKs for ever.
 */
import { describe, expect, it } from 'vitest';
import { drain, established, expectOut, feed, l, r } from './helpers.ts';

describe('ACKs for unacceptable segments', () => {
  it('answers the first data-less out-of-window segment, then at most one per 500 ms', () => {
    const c = established();
    const oow = { control: 'none' as const, seq: r(1_000_000), ack: l(1) };
    feed(c, 100, oow);
    expectOut(c, 100, [{ control: 'none', seq: l(1), ack: r(1) }]);
    feed(c, 200, oow);
    feed(c, 599, oow);
    expectOut(c, 599, []);
    expect(c.stats.counters['invalid-ack-limited']).toBe(2);
    feed(c, 600, oow);
    expectOut(c, 600, [{ control: 'none', seq: l(1), ack: r(1) }]);
  });

  it('always answers an old segment that carries data: its sender needs the duplicate ACK', () => {
    const c = established();
    feed(c, 100, { control: 'none', seq: r(1_000_000), ack: l(1) });
    expectOut(c, 100, [{ ack: r(1) }]);
    feed(c, 101, { control: 'none', seq: r(-9), ack: l(1), payload: 'old data!' });
    expectOut(c, 101, [{ ack: r(1) }]);
    feed(c, 102, { control: 'none', seq: r(-9), ack: l(1), payload: 'old data!' });
    expectOut(c, 102, [{ ack: r(1) }]);
  });

  it('answers every one when the interval is 0 (the RFC as written)', () => {
    const c = established({ invalidAckIntervalMs: 0 });
    for (const at of [100, 101, 102]) {
      feed(c, at, { control: 'none', seq: r(1_000_000), ack: l(1) });
      expectOut(c, at, [{ ack: r(1) }]);
    }
  });
});

describe('segments with neither SYN, RST nor ACK in a synchronized state', () => {
  it('are dropped at once, unanswered (a scanner learns nothing, as from Linux)', () => {
    const c = established();
    feed(c, 100, { control: 'fin', seq: r(1) });
    feed(c, 101, { control: 'none', seq: r(1_000_000), payload: 'x' });
    expectOut(c, 101, []);
    expect(c.stats.drops['no-ack']).toBe(2);
    expect(c.state).toBe('ESTABLISHED');
  });
});

describe('a send the full buffer refuses', () => {
  it('changes nothing: pollAt stays at the timer, so a retried blocked write cannot spin', () => {
    const c = established({ sndBuf: 4000 });
    expect(c.send(new Uint8Array(6000))).toBe(4000);
    drain(c, 20);
    const at = c.pollAt();
    expect(at).not.toBeNull();
    expect(at as number).toBeGreaterThan(20);
    expect(c.send(new Uint8Array(100))).toBe(0);
    expect(c.pollAt()).toBe(at);
  });
});
