import { expect, describe as group, it } from 'vitest';
import { established, expectOut, feed, l, r, text } from './helpers.ts';

group('retransmission timeout (RFC 6298)', () => {
  it('measures RTT on new data and sets RTO = SRTT + 4*RTTVAR, clamped to minRto', () => {
    const c = established();
    // Handshake: R = 10 -> SRTT 10, RTTVAR 5.
    expect(c.snapshot()).toMatchObject({ srtt: 10, rttvar: 5, rto: 200 });
    c.send(text('x'));
    expectOut(c, 20, [{ payload: 'x' }]);
    feed(c, 70, { seq: r(1), ack: l(2) });
    // R = 50: RTTVAR = 3/4*5 + 1/4*|10-50| = 13.75; SRTT = 7/8*10 + 1/8*50 = 15.
    expect(c.snapshot()).toMatchObject({ srtt: 15, rttvar: 13.75, rto: 200 });
  });

  it('retransmits from SND.UNA with exponential backoff, then ETIMEDOUT after maxRetries', () => {
    const c = established({ maxRetries: 2 });
    c.send(text('abc'));
    expectOut(c, 20, [{ seq: l(1), payload: 'abc' }]);
    expect(c.pollAt()).toBe(220);
    expectOut(c, 220, [{ seq: l(1), payload: 'abc' }]);
    expect(c.snapshot()).toMatchObject({ rto: 400, cwnd: 1000, timeouts: 1, retransmits: 1 });
    expect(c.pollAt()).toBe(620);
    expectOut(c, 620, [{ seq: l(1), payload: 'abc' }]);
    expect(c.pollAt()).toBe(1420);
    expectOut(c, 1420, []);
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' }]);
    expect(c.pollAt()).toBeNull();
  });

  it("Karn's algorithm: no sample from the ACK of a retransmitted segment", () => {
    const c = established();
    c.send(text('abc'));
    expectOut(c, 20, [{ payload: 'abc' }]);
    expectOut(c, 220, [{ payload: 'abc' }]);
    feed(c, 230, { seq: r(1), ack: l(4) });
    expect(c.snapshot()).toMatchObject({ srtt: 10, rto: 400 }); // backed-off RTO kept
    expect(c.pollAt()).toBeNull();
  });

  it('restarts the timer when an ACK covers part of the data in flight', () => {
    const c = established();
    c.send(new Uint8Array(2000));
    expectOut(c, 20, [{ seq: l(1) }, { seq: l(1001) }]);
    feed(c, 100, { seq: r(1), ack: l(1001) });
    expect(c.pollAt()).toBe(100 + c.snapshot().rto);
  });
});

group('keep-alive (RFC 1122 §4.2.3.6)', () => {
  it('probes after the idle time, every interval, then ETIMEDOUT', () => {
    const c = established({ keepAliveIntervalMs: 100, keepAliveCount: 2 });
    c.setKeepAlive(true, 1000);
    // A user call only marks the timer stale: the next dispatch chooses it, with its own now.
    expect(c.pollAt()).toBe(10);
    expectOut(c, 10, []);
    expect(c.pollAt()).toBe(10 + 1000);
    expectOut(c, 1010, [{ seq: l(0), ack: r(1), payload: '' }]);
    expect(c.pollAt()).toBe(1110);
    expectOut(c, 1110, [{ seq: l(0) }]);
    expectOut(c, 1210, []);
    expect(c.takeEvents()).toEqual([{ type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' }]);
  });

  it('an answer to the probe resets the count', () => {
    const c = established({ keepAliveIntervalMs: 100, keepAliveCount: 1 });
    c.setKeepAlive(true, 1000);
    expectOut(c, 1010, [{ seq: l(0) }]);
    feed(c, 1020, { seq: r(1), ack: l(1) });
    expect(c.pollAt()).toBe(2020);
    expect(c.state).toBe('ESTABLISHED');
  });

  it('is off by default', () => {
    expect(established().pollAt()).toBeNull();
  });
});

group('TIME_WAIT length', () => {
  it('timeWaitMs is an option', async () => {
    const { timeWait } = await import('./helpers.ts');
    const c = timeWait({ timeWaitMs: 7 });
    expect(c.pollAt()).toBe(37);
  });
});

group('go-back-N and pure ACKs', () => {
  it('a pure ACK during go-back-N carries SND.MAX, not the rolled-back SND.NXT', () => {
    const c = established();
    c.send(new Uint8Array(3000));
    expectOut(c, 20, [{ seq: l(1) }, { seq: l(1001) }, { seq: l(2001) }]);
    expectOut(c, 220, [{ seq: l(1) }]); // RTO: go back to SND.UNA
    expect(c.snapshot()).toMatchObject({ sndNxt: l(1001), sndMax: l(3001) });
    feed(c, 230, { seq: r(1), ack: l(1), payload: 'x' });
    expectOut(c, 230, []);
    expectOut(c, 270, [{ seq: l(3001), ack: r(2), payload: '' }]); // delayed ACK
  });
});

group('user calls arm timers at dispatch time', () => {
  it('a write into a zero window arms persist from the dispatch, not from the last input', () => {
    const c = established();
    feed(c, 300, { seq: r(1), ack: l(1), window: 0 });
    expectOut(c, 300, []);
    c.send(text('late'));
    expectOut(c, 400, []);
    expect(c.pollAt()).toBe(400 + 200);
  });
});
