/**
 * options.dsack: D-SACK (RFC 2883). A segment that repeats data already received is reported in
 * the first SACK block of the next ACK; the other blocks follow as RFC 2018 orders them.
 */
import { expect, describe as group, it } from 'vitest';
import type { TcpConnectionOptions } from '../../../src/tcp/options.ts';
import { Reassembly } from '../../../src/tcp/reassembly.ts';
import { expectOut, feed, l, REMOTE_ISS, r, synSent } from './helpers.ts';

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(0x61);

/** ESTABLISHED with SACK on both sides (MSS 1000, no timestamps: room for 4 blocks). */
function sackEstablished(o: Partial<TcpConnectionOptions> = {}) {
  const c = synSent({ sack: true, dsack: true, ...o });
  feed(c, 10, {
    control: 'syn',
    seq: REMOTE_ISS,
    ack: l(1),
    window: 64000,
    options: { mss: 1000, sackPermitted: true },
  });
  expectOut(c, 10, [{ ack: r(1) }]);
  c.takeEvents();
  return c;
}
const sack = (...b: Array<[number, number]>) => ({
  sackBlocks: b.map(([x, y]) => ({ left: r(x), right: r(y) })),
});

group('D-SACK (options.dsack)', () => {
  it('reports a segment wholly below RCV.NXT, once', () => {
    const c = sackEstablished();
    feed(c, 20, { seq: r(1), ack: l(1), payload: bytes(1000) });
    feed(c, 20, { seq: r(1001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 20, [{ ack: r(2001), options: sack() }]);
    feed(c, 30, { seq: r(1), ack: l(1), payload: bytes(1000) });
    expectOut(c, 30, [{ ack: r(2001), options: sack([1, 1001]) }]);
    feed(c, 31, { seq: r(2001), ack: l(1), payload: bytes(10) });
    expectOut(c, 71, [{ ack: r(2011), options: sack() }]);
  });

  it('reports the part of an in-order segment that repeats data held out of order, then the held blocks', () => {
    const c = sackEstablished();
    feed(c, 20, { seq: r(1001), ack: l(1), payload: bytes(2000) });
    expectOut(c, 20, [{ ack: r(1), options: sack([1001, 3001]) }]);
    feed(c, 21, { seq: r(4001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 21, [{ ack: r(1), options: sack([4001, 5001], [1001, 3001]) }]);
    feed(c, 22, { seq: r(6001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 22, [{ ack: r(1), options: sack([6001, 7001], [4001, 5001], [1001, 3001]) }]);
    // 1:4001 covers 1001:3001 (held): RCV.NXT goes to 5001; the first duplicate run is reported.
    feed(c, 23, { seq: r(1), ack: l(1), payload: bytes(4000) });
    expectOut(c, 23, [{ ack: r(5001), options: sack([1001, 3001], [6001, 7001]) }]);
  });

  it('reports an out-of-order segment that repeats held data, its block second', () => {
    const c = sackEstablished();
    feed(c, 20, { seq: r(1001), ack: l(1), payload: bytes(2000) });
    expectOut(c, 20, [{ ack: r(1), options: sack([1001, 3001]) }]);
    feed(c, 21, { seq: r(5001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 21, [{ ack: r(1), options: sack([5001, 6001], [1001, 3001]) }]);
    feed(c, 22, { seq: r(2001), ack: l(1), payload: bytes(1000) });
    expectOut(c, 22, [{ ack: r(1), options: sack([2001, 3001], [1001, 3001], [5001, 6001]) }]);
  });

  it('a FIN taken in order drops the report, as Linux; off (the default) there is none', () => {
    const c = sackEstablished();
    feed(c, 20, { seq: r(1), ack: l(1), payload: bytes(1000) });
    feed(c, 60, { seq: r(1), ack: l(1), control: 'fin', payload: bytes(1000) });
    expectOut(c, 60, [{ ack: r(1002), options: sack() }]);

    const d = sackEstablished({ dsack: false });
    feed(d, 20, { seq: r(1), ack: l(1), payload: bytes(1000) });
    feed(d, 30, { seq: r(1), ack: l(1), payload: bytes(1000) });
    expectOut(d, 30, [{ ack: r(1001), options: sack() }]);
  });
});

group('Reassembly.firstQueued', () => {
  it('finds the first queued run inside a range, joining adjacent pieces, clipped to the range', () => {
    const q = new Reassembly(100_000);
    q.insert(10, bytes(10)); // 10..20
    q.insert(20, bytes(5)); // 20..25, adjacent
    q.insert(40, bytes(10)); // 40..50
    expect(q.firstQueued(0, 10)).toBeNull();
    expect(q.firstQueued(0, 100)).toEqual([10, 25]);
    expect(q.firstQueued(15, 30)).toEqual([15, 25]);
    expect(q.firstQueued(22, 30)).toEqual([22, 25]);
    expect(q.firstQueued(25, 20)).toEqual([40, 45]);
    expect(q.firstQueued(50, 10)).toBeNull();
  });
});
