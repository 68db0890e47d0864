/**
 * options.quickAck: Linux's quick-ACK and interactive ("pingpong") ACK modes, which the drill's
 * `linux` profile turns on. RFC 9293 §3.8.6.3 allows both: an ACK may always go at once, and a
 * delayed one must go within 0.5 s.
 */
import { describe as group, it } from 'vitest';
import { established, expectOut, feed, l, r, text } from './helpers.ts';

const QUICK = { quickAck: true } as const;

group('quick-ACK mode (options.quickAck)', () => {
  it('off (the default): a lone small segment waits for the delayed-ACK timer', () => {
    const c = established();
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a' });
    expectOut(c, 20, []);
    expectOut(c, 60, [{ ack: r(2) }]);
  });

  it('the first data starts a run of 16 immediate ACKs; the 17th segment is delayed', () => {
    // rcvBuf 64000 / (2 * MSS 1000) = 32 quick ACKs, capped at Linux's 16.
    const c = established(QUICK);
    for (let i = 0; i < 16; i++) {
      feed(c, 20 + i, { seq: r(1 + i), ack: l(1), payload: 'a' });
      expectOut(c, 20 + i, [{ ack: r(2 + i) }]);
    }
    feed(c, 40, { seq: r(17), ack: l(1), payload: 'a' });
    expectOut(c, 40, []);
    expectOut(c, 80, [{ ack: r(18) }]);
  });

  it('a small receive window gives at least 2 quick ACKs', () => {
    const c = established({ ...QUICK, rcvBuf: 1500 });
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a' });
    expectOut(c, 20, [{ ack: r(2) }]);
    feed(c, 21, { seq: r(2), ack: l(1), payload: 'b' });
    expectOut(c, 21, [{ ack: r(3) }]);
    feed(c, 22, { seq: r(3), ack: l(1), payload: 'c' });
    expectOut(c, 22, []);
    expectOut(c, 62, [{ ack: r(4) }]);
  });

  it('an answer sent soon after a request makes the next request wait to ride on the answer', () => {
    const c = established(QUICK);
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'GET' });
    expectOut(c, 20, [{ ack: r(4) }]);
    c.send(text('200'));
    expectOut(c, 30, [{ seq: l(1), ack: r(4), payload: '200' }]);
    feed(c, 50, { seq: r(4), ack: l(4), payload: 'GET' });
    expectOut(c, 50, []);
    // Interactive mode: the delayed ACK fires at +40 ms and ends the mode.
    expectOut(c, 90, [{ ack: r(7) }]);
    feed(c, 200, { seq: r(7), ack: l(4), payload: 'GET' });
    expectOut(c, 200, [{ ack: r(10) }]);
  });

  it('a FIN after data is ACKed by the delayed-ACK timer; a FIN before any data at once', () => {
    const c = established(QUICK);
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a' });
    expectOut(c, 20, [{ ack: r(2) }]);
    feed(c, 30, { seq: r(2), ack: l(1), control: 'fin' });
    expectOut(c, 30, []);
    expectOut(c, 70, [{ ack: r(3) }]);

    const d = established(QUICK);
    feed(d, 30, { seq: r(1), ack: l(1), control: 'fin' });
    expectOut(d, 30, [{ ack: r(2) }]);
  });
});
