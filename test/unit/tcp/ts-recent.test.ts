/**
 * TS.Recent (RFC 7323 §4.3) is not moved by a segment that the ACK check drops (RFC 9293
 * §3.10.7.4 fifth step, RFC 5961 §5.2): else one forged ACK with a huge TSval would make PAWS
 * (RFC 7323 §5) drop every later segment of the connection.
 */
import { expect, describe as group, it } from 'vitest';
import { expectOut, feed, l, REMOTE_ISS, r, synSent, text } from './helpers.ts';

function tsEstablished() {
  const c = synSent({ timestamps: true });
  const syn = c.snapshot();
  expect(syn.state).toBe('SYN_SENT');
  feed(c, 10, {
    control: 'syn',
    seq: REMOTE_ISS,
    ack: l(1),
    options: { mss: 1000, timestamp: { tsVal: 100, tsEcr: 0 } },
  });
  expectOut(c, 10, [{ ack: r(1) }]);
  return c;
}

group('TS.Recent and the ACK check', () => {
  it('an ACK of unsent data with a huge TSval is dropped without moving TS.Recent', () => {
    const c = tsEstablished();
    feed(c, 20, { seq: r(1), ack: l(9999), options: { timestamp: { tsVal: 200_000, tsEcr: 0 } } });
    // The challenge ACK (RFC 5961 §5.2) still echoes the old TS.Recent.
    const [challenge] = expectOut(c, 20, [{ ack: r(1) }]);
    expect(challenge.options.timestamp?.tsEcr).toBe(100);
    // A good segment with the next TSval is accepted (PAWS would drop it against 200000).
    feed(c, 21, {
      seq: r(1),
      ack: l(1),
      payload: 'x',
      options: { timestamp: { tsVal: 101, tsEcr: 0 } },
    });
    expect(c.rcvNxt).toBe(r(2));
    const [ack] = expectOut(c, 61, [{ ack: r(2) }]);
    expect(ack.options.timestamp?.tsEcr).toBe(101);
  });

  it('an ACK too old for RFC 5961 §5.2 does not move it either; an acceptable one does', () => {
    const c = tsEstablished();
    feed(c, 20, {
      seq: r(1),
      ack: l(-200_000),
      options: { timestamp: { tsVal: 5_000, tsEcr: 0 } },
    });
    expect(expectOut(c, 20, [{ ack: r(1) }])[0].options.timestamp?.tsEcr).toBe(100);
    feed(c, 30, {
      seq: r(1),
      ack: l(1),
      payload: 'x',
      options: { timestamp: { tsVal: 300, tsEcr: 0 } },
    });
    expect(expectOut(c, 70, [{ ack: r(2) }])[0].options.timestamp?.tsEcr).toBe(300);
  });
});

group('timestamps on a RST', () => {
  it('an abort sends its RST with TSopt once timestamps are in use (RFC 7323 §3.2 SHOULD)', () => {
    const c = tsEstablished();
    c.abort();
    const [rst] = expectOut(c, 30, [{ control: 'rst', seq: l(1), ack: r(1) }]);
    expect(rst.options.timestamp).toEqual({ tsVal: expect.any(Number), tsEcr: 100 });
  });

  it('without timestamps the RST carries no options', () => {
    const c = synSent();
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss: 1000 } });
    expectOut(c, 10, [{ ack: r(1) }]);
    c.abort();
    const [rst] = expectOut(c, 30, [{ control: 'rst' }]);
    expect(rst.options.timestamp).toBeNull();
  });
});

group('the echoed timestamp as an RTT sample (found by npm run fuzz, seed 1)', () => {
  it('a TSecr older than the flight it acknowledges gives no sample; our own echo does', () => {
    const c = tsEstablished();
    const before = c.snapshot().srtt;
    c.send(text('hello'));
    const [data] = expectOut(c, 1000, [{ seq: l(1) }]);
    const ours = data.options.timestamp?.tsVal ?? 0;
    // Acknowledges the data, but echoes a TSval from 900 ms before it was sent (forged).
    feed(c, 1040, {
      seq: r(1),
      ack: l(6),
      options: { timestamp: { tsVal: 101, tsEcr: (ours - 900) >>> 0 } },
    });
    expect(c.snapshot().srtt).toBe(before);
    c.send(text('again'));
    const [next] = expectOut(c, 2000, [{ seq: l(6) }]);
    feed(c, 2040, {
      seq: r(1),
      ack: l(11),
      options: { timestamp: { tsVal: 102, tsEcr: next.options.timestamp?.tsVal ?? 0 } },
    });
    const after = c.snapshot().srtt ?? 0;
    expect(after).toBeGreaterThan(before ?? 0);
    expect(after).toBeLessThan(100);
  });
});
