/**
 * What cwnd grows by when a cumulative ACK covers bytes SACKed earlier (outside recovery).
 *
 * RFC-first (rack off): RFC 5681 §3.1 grows cwnd by N, "the number of previously unacknowledged
 * bytes acknowledged in the incoming ACK", and SACKed bytes are not acknowledged (RFC 2018 §8:
 * SACK is advisory, the sender keeps them until the cumulative ACK; RFC 6675 changes cwnd only
 * on entering and leaving recovery). So an ACK that only SACKs grows nothing, and the cumulative
 * ACK counts every byte it covers, SACKed or not: each byte once. With rack, Linux's delivered
 * count: the cumulative ACK counts only what it newly delivered.
 *
 * Slow start without RFC 3465's per-ACK limit (slowStartLimit 0), so that the whole count shows.
 */
import { expect, describe as group, it } from 'vitest';
import { feed, l, r, sackFlight } from './helpers.ts';

function bulk(rack: boolean) {
  return sackFlight({ initialWindow: 10, congestion: 'reno', rack, slowStartLimit: 0 }, 10);
}

group('cwnd growth over SACKed bytes (outside recovery)', () => {
  it('RFC 6675 path: nothing on the SACK, all 3000 bytes once on the cumulative ACK', () => {
    const c = bulk(false);
    // Segments 2 and 3 arrive before segment 1 (reordering): a duplicate ACK SACKing them.
    feed(c, 30, {
      seq: r(1),
      ack: l(1),
      options: { sackBlocks: [{ left: l(1001), right: l(3001) }] },
    });
    expect(c.snapshot()).toMatchObject({ cwnd: 10_000, inRecovery: false });
    // Segment 1 arrives: the cumulative ACK covers 1000 new and 2000 SACKed bytes.
    feed(c, 31, { seq: r(1), ack: l(3001) });
    expect(c.snapshot().cwnd).toBe(13_000);
    // And the rest: 7000 more, none counted before.
    feed(c, 32, { seq: r(1), ack: l(10_001) });
    expect(c.snapshot().cwnd).toBe(20_000);
  });

  it('with RACK (Linux): the cumulative ACK counts only what it newly delivered', () => {
    const c = bulk(true);
    feed(c, 30, {
      seq: r(1),
      ack: l(1),
      options: { sackBlocks: [{ left: l(1001), right: l(3001) }] },
    });
    expect(c.snapshot().cwnd).toBe(10_000);
    feed(c, 31, { seq: r(1), ack: l(3001) });
    expect(c.snapshot().cwnd).toBe(11_000);
  });
});
