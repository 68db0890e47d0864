import { expect, describe as group, it } from 'vitest';
import type { TcpConnection } from '../../../src/tcp/conn.ts';
import {
  closeWait,
  closing,
  drain,
  established,
  expectOut,
  feed,
  finWait1,
  finWait2,
  l,
  lastAck,
  r,
  synReceived,
  synSent,
  timeWait,
} from './helpers.ts';

group('active close', () => {
  it('ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED', () => {
    const c = finWait1();
    expect(c.state).toBe('FIN_WAIT_1');
    feed(c, 20, { seq: r(1), ack: l(2) });
    expect(c.state).toBe('FIN_WAIT_2');
    feed(c, 30, { control: 'fin', seq: r(1), ack: l(2) });
    expect(c.state).toBe('TIME_WAIT');
    expect(c.takeEvents()).toEqual([{ type: 'fin' }, { type: 'closed' }]);
    expectOut(c, 30, [{ seq: l(2), ack: r(2) }]);
    expect(c.pollAt()).toBe(30 + 60_000);
    expectOut(c, 60_029, []);
    expectOut(c, 60_030, []);
    expect(c.state).toBe('CLOSED');
    expect(c.pollAt()).toBeNull();
  });

  it('FIN goes after the queued data', () => {
    const c = established();
    c.send(new Uint8Array(10));
    c.shutdown();
    expectOut(c, 20, [{ control: 'fin', seq: l(1), payload: new Uint8Array(10) }]);
    feed(c, 30, { seq: r(1), ack: l(12) });
    expect(c.state).toBe('FIN_WAIT_2');
  });

  it('half-close: FIN_WAIT_2 still receives data', () => {
    const c = finWait2();
    feed(c, 30, { seq: r(1), ack: l(2), payload: 'late' });
    expect(c.takeEvents()).toHaveLength(1);
    expect(c.rcvNxt).toBe(r(5));
  });

  it('a retransmitted FIN in TIME_WAIT is acknowledged and restarts 2MSL', () => {
    const c = timeWait();
    feed(c, 5000, { control: 'fin', seq: r(1), ack: l(2) });
    expectOut(c, 5000, [{ seq: l(2), ack: r(2) }]);
    expect(c.pollAt()).toBe(5000 + 60_000);
  });

  it('simultaneous close: FIN_WAIT_1 -> CLOSING -> TIME_WAIT', () => {
    const c = closing();
    expect(c.state).toBe('CLOSING');
    feed(c, 30, { seq: r(2), ack: l(2) });
    expect(c.state).toBe('TIME_WAIT');
  });

  it('FIN_WAIT_1 with a FIN that also ACKs ours goes straight to TIME_WAIT', () => {
    const c = finWait1();
    feed(c, 20, { control: 'fin', seq: r(1), ack: l(2) });
    expect(c.state).toBe('TIME_WAIT');
  });

  it('FIN_WAIT_2 times out after close() (finWait2Ms), not after shutdown()', () => {
    const a = finWait2({ finWait2Ms: 500 });
    expect(a.pollAt()).toBeNull();
    const b = established({ finWait2Ms: 500 });
    b.close();
    expectOut(b, 10, [{ control: 'fin' }]);
    feed(b, 20, { seq: r(1), ack: l(2) });
    expect(b.state).toBe('FIN_WAIT_2');
    expect(b.pollAt()).toBe(520);
    expectOut(b, 520, []);
    expect(b.state).toBe('CLOSED');
  });

  it('the FIN is retransmitted on RTO', () => {
    const c = finWait1();
    expect(c.pollAt()).toBe(210);
    expectOut(c, 210, [{ control: 'fin', seq: l(1) }]);
  });
});

group('passive close', () => {
  it('ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED', () => {
    const c = closeWait();
    expect(c.state).toBe('CLOSE_WAIT');
    // Sending still works in CLOSE_WAIT.
    c.send(new Uint8Array([1, 2, 3]));
    expectOut(c, 25, [{ seq: l(1), payload: new Uint8Array([1, 2, 3]) }]);
    c.shutdown();
    expect(c.state).toBe('LAST_ACK');
    feed(c, 30, { seq: r(2), ack: l(4) });
    expectOut(c, 30, [{ control: 'fin', seq: l(4), ack: r(2) }]);
    feed(c, 40, { seq: r(2), ack: l(5) });
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'closed' }]);
    expect(c.pollAt()).toBeNull();
  });

  it('LAST_ACK fixture: ACK of FIN closes', () => {
    const c = lastAck();
    feed(c, 40, { seq: r(2), ack: l(2) });
    expect(c.state).toBe('CLOSED');
  });

  it('a FIN beyond a hole is processed when the hole fills', () => {
    const c = established();
    feed(c, 20, { control: 'fin', seq: r(4), ack: l(1), payload: 'def' });
    expect(c.state).toBe('ESTABLISHED');
    expectOut(c, 20, [{ ack: r(1) }]);
    feed(c, 21, { seq: r(1), ack: l(1), payload: 'abc' });
    expect(c.state).toBe('CLOSE_WAIT');
    expectOut(c, 21, [{ ack: r(8) }]);
  });

  it('close() with unread data resets (RFC 1122 §4.2.2.13)', () => {
    const c = established();
    c.setFlowing(false);
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'unread' });
    c.close();
    expect(c.state).toBe('CLOSED');
    expectOut(c, 20, [{ control: 'rst', seq: l(1) }]);
  });

  it('data after close() resets', () => {
    const c = established();
    c.close();
    expectOut(c, 20, [{ control: 'fin' }]);
    feed(c, 21, { seq: r(1), ack: l(2), payload: 'more' });
    expect(c.state).toBe('CLOSED');
    expectOut(c, 21, [{ control: 'rst', seq: l(2) }]);
  });
});

group('RST in every state (RFC 9293 §3.10.7.4, RFC 5961 §3)', () => {
  const cases: [string, () => TcpConnection, number, string | null][] = [
    ['SYN_RECEIVED', () => synReceived(), r(1), null],
    ['ESTABLISHED', () => established(), r(1), 'ECONNRESET'],
    ['FIN_WAIT_1', () => finWait1(), r(1), 'ECONNRESET'],
    ['FIN_WAIT_2', () => finWait2(), r(1), 'ECONNRESET'],
    ['CLOSE_WAIT', () => closeWait(), r(2), 'ECONNRESET'],
    ['CLOSING', () => closing(), r(2), null],
    ['LAST_ACK', () => lastAck(), r(2), null],
    ['TIME_WAIT', () => timeWait(), r(2), null],
  ];
  for (const [state, make, rcvNxt, code] of cases) {
    it(`${state}: exact RST closes${code ? ` with ${code}` : ''}`, () => {
      const c = make();
      expect(c.state).toBe(state);
      c.takeEvents();
      feed(c, 100, { control: 'rst', seq: rcvNxt });
      expect(c.state).toBe('CLOSED');
      const ev = c.takeEvents();
      if (code !== null) expect(ev[0]).toEqual({ type: 'error', code });
      expect(c.pollAt()).toBeNull();
      expectOut(c, 100, []);
    });
    it(`${state}: in-window inexact RST gets a challenge ACK`, () => {
      const c = make();
      feed(c, 100, { control: 'rst', seq: (rcvNxt + 5) >>> 0 });
      expect(c.state).toBe(state);
      expectOut(c, 100, [{ control: 'none', ack: rcvNxt }]);
    });
  }
  it('SYN_SENT: RST closes only with an acceptable ACK', () => {
    const c = synSent();
    feed(c, 5, { control: 'rst', seq: 0, ack: l(2) });
    expect(c.state).toBe('SYN_SENT');
    feed(c, 5, { control: 'rst', seq: 0, ack: l(1) });
    expect(c.state).toBe('CLOSED');
  });
  it('out-of-window RST is dropped silently', () => {
    const c = established();
    feed(c, 100, { control: 'rst', seq: r(1_000_000) });
    expect(c.state).toBe('ESTABLISHED');
    expectOut(c, 100, []);
  });
});

group('RFC 5961 §4 and §5', () => {
  it('a SYN in ESTABLISHED gets a challenge ACK, whatever its sequence number', () => {
    const c = established();
    feed(c, 50, { control: 'syn', seq: r(100) });
    expect(c.state).toBe('ESTABLISHED');
    expectOut(c, 50, [{ control: 'none', seq: l(1), ack: r(1) }]);
  });
  it('an ACK for data never sent is answered with an ACK and dropped', () => {
    const c = established();
    feed(c, 50, { seq: r(1), ack: l(500), payload: 'x' });
    expect(c.rcvNxt).toBe(r(1));
    expectOut(c, 50, [{ ack: r(1) }]);
  });
  it('an ACK far below SND.UNA − MAX.SND.WND is answered with an ACK and dropped', () => {
    const c = established();
    feed(c, 50, { seq: r(1), ack: l(-200_000), payload: 'x' });
    expect(c.rcvNxt).toBe(r(1));
    expectOut(c, 50, [{ ack: r(1) }]);
  });
  it('abort sends RST from ESTABLISHED and closes', () => {
    const c = established();
    c.abort();
    expect(c.state).toBe('CLOSED');
    expectOut(c, 50, [{ control: 'rst', seq: l(1) }]);
    expect(c.takeEvents()).toEqual([{ type: 'closed' }]);
  });
  it('a segment to a CLOSED connection is answered with RST', () => {
    const c = established();
    c.abort();
    expectOut(c, 50, [{ control: 'rst' }]);
    feed(c, 60, { seq: r(1), ack: l(1), payload: 'x' });
    expectOut(c, 60, [{ control: 'rst', seq: l(1), ack: null }]);
  });
  it('send after shutdown is EPIPE', () => {
    const c = finWait1();
    expect(c.send(new Uint8Array(1))).toBe(0);
    expect(c.takeEvents()).toEqual([{ type: 'error', code: 'EPIPE' }]);
  });
});

group('RFC 5961 §7: challenge ACK rate limit', () => {
  it('sends at most challengeAcksPerSecond challenge ACKs per second', () => {
    const c = established({ challengeAcksPerSecond: 2 });
    for (let i = 0; i < 5; i++) {
      feed(c, 100, { control: 'rst', seq: r(10) });
      drain(c, 100);
    }
    expect(c.snapshot().counters['challenge-ack-limited']).toBe(3);
    feed(c, 1100, { control: 'rst', seq: r(10) });
    expectOut(c, 1100, [{ ack: r(1) }]);
  });
});
