import { expect, describe as group, it } from 'vitest';
import { established, expectOut, feed, l, r, text } from './helpers.ts';

const bytes = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill);

group('receiving', () => {
  it('delivers in-order data across the sequence wrap and delays the ACK', () => {
    const c = established();
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'hello, wrapped world' });
    expect(c.rcvNxt).toBe(r(21));
    expect(c.rcvNxt).toBeLessThan(100); // wrapped past 2³²
    const ev = c.takeEvents();
    expect(ev).toHaveLength(1);
    expect(new TextDecoder().decode((ev[0] as { data: Uint8Array }).data)).toBe(
      'hello, wrapped world',
    );
    expectOut(c, 20, []);
    expect(c.pollAt()).toBe(60); // delayed ACK, 40 ms
    expectOut(c, 59, []);
    expectOut(c, 60, [{ seq: l(1), ack: r(21) }]);
    expect(c.pollAt()).toBeNull();
  });

  it('ACKs at once every second full-sized segment', () => {
    const c = established();
    feed(c, 20, { seq: r(1), ack: l(1), payload: bytes(1000) });
    expectOut(c, 20, []);
    feed(c, 21, { seq: r(1001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 21, [{ ack: r(2001) }]);
  });

  it('ACKs out-of-order data at once and again when the hole fills', () => {
    const c = established();
    feed(c, 20, { seq: r(12), ack: l(1), payload: 'world' });
    expectOut(c, 20, [{ ack: r(1) }]);
    expect(c.takeEvents()).toEqual([]);
    feed(c, 21, { seq: r(1), ack: l(1), payload: 'hello, ... ' });
    expectOut(c, 21, [{ ack: r(17) }]);
    const data = c
      .takeEvents()
      .map((e) => (e.type === 'data' ? new TextDecoder().decode(e.data) : ''))
      .join('');
    expect(data).toBe('hello, ... world');
  });

  it('trims a segment that starts before RCV.NXT', () => {
    const c = established();
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'abc' });
    feed(c, 21, { seq: r(1), ack: l(1), payload: 'abcdef' });
    const got = c
      .takeEvents()
      .map((e) => (e.type === 'data' ? new TextDecoder().decode(e.data) : ''))
      .join('');
    expect(got).toBe('abcdef');
  });

  it('an out-of-window segment gets an ACK and is dropped', () => {
    const c = established();
    feed(c, 20, { seq: r(100000), ack: l(1), payload: 'x' });
    expectOut(c, 20, [{ seq: l(1), ack: r(1) }]);
    expect(c.snapshot().drops['out-of-window']).toBe(1);
  });

  it('paused: holds data, closes the window, reopens it with an update after recv', () => {
    const c = established({ rcvBuf: 4000 });
    c.setFlowing(false);
    for (let i = 0; i < 4; i++)
      feed(c, 20, { seq: r(1 + i * 1000), ack: l(1), payload: bytes(1000) });
    expectOut(c, 20, [{ ack: r(4001), window: 0 }]);
    expect(c.takeEvents()).toEqual([]);
    // Data beyond the zero window is not accepted, but the ACK it carries is (§3.10.7.4).
    c.send(text('reply'));
    expectOut(c, 20, [{ seq: l(1), payload: 'reply' }]);
    feed(c, 21, { seq: r(4001), ack: l(6), payload: bytes(10) });
    expect(c.sndUna).toBe(l(6));
    expect(c.rcvNxt).toBe(r(4001));
    expectOut(c, 21, [{ seq: l(6), ack: r(4001), window: 0 }]);
    // Reading a little is not worth an update (SWS avoidance); reading half is.
    expect(c.recv(500)?.length).toBe(500);
    expectOut(c, 22, []);
    expect(c.recv(2000)?.length).toBe(500);
    expect(c.recv(2000)?.length).toBe(1000);
    expectOut(c, 23, [{ ack: r(4001), window: 2000 }]);
  });
});

group('sending', () => {
  it('sends queued data at once when idle, with PSH', () => {
    const c = established();
    expect(c.send(text('hello'))).toBe(5);
    expect(c.pollAt()).toBe(10);
    expectOut(c, 30, [{ seq: l(1), ack: r(1), payload: 'hello', psh: true }]);
    expect(c.pollAt()).toBe(30 + 200); // RTO: SRTT 10 from the handshake, clamped to minRto
  });

  it('Nagle: holds a small segment while data is unacknowledged', () => {
    const c = established();
    c.send(text('a'));
    expectOut(c, 20, [{ payload: 'a' }]);
    c.send(text('b'));
    c.send(text('c'));
    expectOut(c, 21, []);
    feed(c, 30, { seq: r(1), ack: l(2) });
    expectOut(c, 30, [{ seq: l(2), payload: 'bc' }]);
  });

  it('noDelay sends small segments at once', () => {
    const c = established();
    c.setNoDelay(true);
    c.send(text('a'));
    expectOut(c, 20, [{ payload: 'a' }]);
    c.send(text('b'));
    expectOut(c, 21, [{ seq: l(2), payload: 'b' }]);
  });

  it('segments by SMSS and respects the initial window', () => {
    const c = established({ initialWindow: 2 });
    c.send(bytes(5000));
    const out = expectOut(c, 20, [
      { seq: l(1), payload: bytes(1000) },
      { seq: l(1001), payload: bytes(1000) },
    ]);
    expect(out[0].psh).toBe(false);
    feed(c, 30, { seq: r(1), ack: l(1001) });
    // Slow start: cwnd 3000, 1000 in flight -> two more.
    expectOut(c, 30, [{ seq: l(2001) }, { seq: l(3001) }]);
  });

  it('bounded send buffer: accepts what fits, then drain once half is free', () => {
    const c = established({ sndBuf: 4000 });
    expect(c.send(bytes(6000))).toBe(4000);
    expect(c.send(bytes(10))).toBe(0);
    drain(c);
    feed(c, 30, { seq: r(1), ack: l(2001) });
    expect(c.takeEvents()).toEqual([{ type: 'drain' }]);
  });

  function drain(c: ReturnType<typeof established>): void {
    while (c.dispatch(20) !== null) {}
  }

  it('window update opens a closed window; zero window is probed with backoff', () => {
    const c = established();
    feed(c, 20, { seq: r(1), ack: l(1), window: 0 });
    c.send(text('data'));
    expectOut(c, 20, []);
    expect(c.snapshot().timer.kind).toBe('persist');
    // Probes every RTO (200 ms after the handshake's 10 ms sample), doubling.
    expect(c.pollAt()).toBe(220);
    expectOut(c, 220, [{ seq: l(0), payload: '' }]);
    expect(c.pollAt()).toBe(220 + 400);
    feed(c, 225, { seq: r(1), ack: l(1), window: 0 });
    expectOut(c, 620, [{ seq: l(0) }]);
    expect(c.pollAt()).toBe(620 + 800);
    // The peer opens its window.
    feed(c, 700, { seq: r(1), ack: l(1), window: 1000 });
    expectOut(c, 700, [{ seq: l(1), payload: 'data' }]);
  });

  it('sender SWS: a window smaller than the data and than half the largest is not used until the override', () => {
    const c = established();
    c.send(bytes(3000));
    expectOut(c, 20, [{ seq: l(1) }, { seq: l(1001) }, { seq: l(2001) }]);
    c.send(bytes(3000));
    feed(c, 30, { seq: r(1), ack: l(3001), window: 100 });
    expectOut(c, 30, []);
    expect(c.snapshot().timer.kind).toBe('persist');
    const at = c.pollAt() as number;
    expectOut(c, at, [{ seq: l(3001), payload: bytes(100) }]);
  });
});

group('duplicate ACKs owed (RFC 5681 §4.2)', () => {
  it('one immediate duplicate ACK per out-of-order segment, even when they arrive together', () => {
    const c = established();
    feed(c, 20, { seq: r(1001), ack: l(1), payload: bytes(1000) });
    feed(c, 20, { seq: r(2001), ack: l(1), payload: bytes(1000) });
    feed(c, 20, { seq: r(3001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 20, [{ ack: r(1) }, { ack: r(1) }, { ack: r(1) }]);
  });
});

group('paused reading and the FIN (events follow data order)', () => {
  it("holds 'fin' until the held data is taken with recv", () => {
    const c = established();
    c.setFlowing(false);
    feed(c, 20, { control: 'fin', seq: r(1), ack: l(1), payload: 'last words' });
    expect(c.state).toBe('CLOSE_WAIT');
    expect(c.takeEvents()).toEqual([]);
    expect(c.heldBytes).toBe(10);
    expect(c.recv(4)?.length).toBe(4);
    expect(c.takeEvents()).toEqual([]);
    expect(c.recv()?.length).toBe(6);
    expect(c.takeEvents()).toEqual([{ type: 'fin' }]);
  });
  it("setFlowing(true) delivers the held data, then 'fin'", () => {
    const c = established();
    c.setFlowing(false);
    feed(c, 20, { control: 'fin', seq: r(1), ack: l(1), payload: 'abc' });
    c.setFlowing(true);
    expect(c.takeEvents().map((e) => e.type)).toEqual(['data', 'fin']);
  });
});
