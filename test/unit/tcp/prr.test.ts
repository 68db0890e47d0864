/**
 * Proportional Rate Reduction (RFC 6937) during SACK recovery: exactly how many bytes go out on
 * each ACK. MSS 1000, 20 segments in flight (RecoverFS 20 000); Reno gives ssthresh 10 000,
 * CUBIC 14 000. Segment n (1-based) is [l(1 + 1000(n − 1)), l(1 + 1000n)).
 */
import { expect, describe as group, it } from 'vitest';
import type { TcpConnection } from '../../../src/tcp/conn.ts';
import { drain, feed, l, r, sackFlight } from './helpers.ts';

function est(o: { prr: boolean; congestion?: 'reno' | 'cubic' }): TcpConnection {
  return sackFlight({ initialWindow: 20, congestion: o.congestion ?? 'reno', prr: o.prr }, 20);
}

/** An ACK of everything below l(ack) that SACKs [l(left), l(right)); the segments sent in answer. */
function ackSack(c: TcpConnection, at: number, ack: number, left: number, right: number) {
  feed(c, at, {
    seq: r(1),
    ack: l(ack),
    options: { sackBlocks: [{ left: l(left), right: l(right) }] },
  });
  return drain(c, at).map((s) => [s.seq, s.payload.length]);
}

const seg = (n: number): [number, number] => [l(1 + 1000 * (n - 1)), 1000];

group('PRR (RFC 6937)', () => {
  it('proportional part (pipe > ssthresh): about ssthresh/RecoverFS of what is delivered goes out', () => {
    const c = est({ prr: true });
    // Segment 1 lost; segments 2, 3, 4, ... SACKed one per ACK.
    expect(ackSack(c, 30, 1, 1001, 2001)).toEqual([]);
    expect(ackSack(c, 31, 1, 1001, 3001)).toEqual([]);
    // Third duplicate: recovery. RecoverFS 20 000, ssthresh 10 000, prr_delivered 1000,
    // pipe 16 000 (segments 5..20) > ssthresh: sndcnt = ⌈1000 × 10 000 / 20 000⌉ − 0 = 500,
    // raised to 1 SMSS because prr_out is 0: the fast retransmit goes, nothing else.
    expect(ackSack(c, 32, 1, 1001, 4001)).toEqual([seg(1)]);
    expect(c.snapshot()).toMatchObject({ inRecovery: true, ssthresh: 10_000, cwnd: 17_000 });
    c.send(new Uint8Array(20_000)); // new data, for PRR to send
    // prr_out 1000. Each ACK delivers 1000 more; the allowance is ⌈prr_delivered / 2⌉ − prr_out.
    // ACK 4: prr_delivered 2000, pipe 16 000: sndcnt = 1000 − 1000 = 0.
    expect(ackSack(c, 33, 1, 1001, 5001)).toEqual([]);
    // ACK 5: prr_delivered 3000, pipe 15 000: sndcnt = 1500 − 1000 = 500, less than a segment.
    expect(ackSack(c, 34, 1, 1001, 6001)).toEqual([]);
    expect(c.snapshot().cwnd).toBe(15_500);
    // ACK 6: prr_delivered 4000, pipe 14 000: sndcnt = 2000 − 1000 = 1000: one new segment.
    expect(ackSack(c, 35, 1, 1001, 7001)).toEqual([seg(21)]);
    // ACKs 7..13: one segment on every second ACK (prr_out 2000, 3000, ...) while pipe stays
    // above ssthresh (13 000, 13 000, 12 000, 12 000, 11 000, 11 000, 10 000 before each send).
    const sent: number[] = [];
    for (let k = 7; k <= 13; k++) sent.push(ackSack(c, 30 + k, 1, 1001, 1001 + 1000 * k).length);
    expect(sent).toEqual([0, 1, 0, 1, 0, 1, 0]);
    // ACK 14: pipe = 5 original + 5 sent = 10 000, not above ssthresh: the SSRB part,
    // sndcnt = min(ssthresh − pipe = 0, ...) = 0.
    expect(ackSack(c, 44, 1, 1001, 15_001)).toEqual([]);
    // ACKs 15..19: pipe 9000 each time, sndcnt = min(1000, max(prr_delivered − prr_out, 1000)):
    // one segment per segment delivered, holding pipe at ssthresh (segments 25..29).
    for (let k = 15; k <= 19; k++) {
      expect(ackSack(c, 30 + k, 1, 1001, 1001 + 1000 * k)).toEqual([seg(10 + k)]);
    }
    // The retransmission arrives: recovery ends with cwnd = ssthresh.
    feed(c, 60, { seq: r(1), ack: l(20_001) });
    expect(c.snapshot()).toMatchObject({ inRecovery: false, cwnd: 10_000 });
  });

  it('slow-start reduction bound (pipe < ssthresh): no more than delivered, +1 SMSS as SND.UNA moves', () => {
    const c = est({ prr: true });
    // Segments 1..12 lost in a burst; 13..20 SACKed.
    expect(ackSack(c, 30, 1, 12_001, 13_001)).toEqual([]);
    expect(ackSack(c, 31, 1, 12_001, 14_001)).toEqual([]);
    // Recovery: every hole below the SACKs is lost; pipe = segments 16..20 = 5000 < ssthresh
    // 10 000. sndcnt = min(ssthresh − pipe = 5000, max(prr_delivered − prr_out = 1000,
    // DeliveredData = 1000)) = 1000 (no +1 SMSS: SND.UNA did not move).
    expect(ackSack(c, 32, 1, 12_001, 15_001)).toEqual([seg(1)]);
    expect(c.snapshot()).toMatchObject({ ssthresh: 10_000, cwnd: 6000 });
    // One delivered, one out: prr_delivered 2000, prr_out 1000, pipe 5000.
    expect(ackSack(c, 33, 1, 12_001, 16_001)).toEqual([seg(2)]);
    // An ACK that SACKs three segments at once: DeliveredData 3000, prr_delivered 5000,
    // prr_out 2000, pipe 3000: sndcnt = min(7000, max(3000, 3000)) = 3000, slow start's pace.
    expect(ackSack(c, 34, 1, 12_001, 19_001)).toEqual([seg(3), seg(4), seg(5)]);
    // The first retransmission is ACKed (SND.UNA advances, DeliveredData 1000): prr_delivered
    // 6000, prr_out 5000, pipe 5000 (segment 20 and the retransmissions of 2..5):
    // sndcnt = min(5000, max(1000, 1000) + 1000) = 2000.
    expect(ackSack(c, 35, 1001, 12_001, 19_001)).toEqual([seg(6), seg(7)]);
    // An ACK that delivers nothing new sends nothing (cwnd is left as it was).
    expect(ackSack(c, 36, 1001, 12_001, 19_001)).toEqual([]);
    expect(c.snapshot()).toMatchObject({ inRecovery: true, cwnd: 7000 });
  });

  it('off (RFC 6675 as written): cwnd = ssthresh at once, a burst into the emptied pipe', () => {
    const c = est({ prr: false });
    expect(ackSack(c, 30, 1, 12_001, 13_001)).toEqual([]);
    expect(ackSack(c, 31, 1, 12_001, 14_001)).toEqual([]);
    // pipe 5000, cwnd 10 000: the fast retransmit and four more at once.
    expect(ackSack(c, 32, 1, 12_001, 15_001)).toEqual([1, 2, 3, 4, 5].map(seg));
  });

  it('CUBIC: ssthresh 0.7 × RecoverFS sets the proportion', () => {
    const c = est({ prr: true, congestion: 'cubic' });
    expect(ackSack(c, 30, 1, 1001, 2001)).toEqual([]);
    expect(ackSack(c, 31, 1, 1001, 3001)).toEqual([]);
    expect(ackSack(c, 32, 1, 1001, 4001)).toEqual([seg(1)]);
    expect(c.snapshot()).toMatchObject({ ssthresh: 14_000, cwnd: 17_000 });
    c.send(new Uint8Array(20_000));
    // While pipe > 14 000, sndcnt = ⌈prr_delivered × 14 000 / 20 000⌉ − prr_out:
    // ACK 4: pipe 16 000, ⌈2000 × 0.7⌉ − 1000 = 400: nothing;
    // ACK 5: pipe 15 000, 2100 − 1000 = 1100: one segment (prr_out 2000);
    // ACK 6: pipe 15 000, 2800 − 2000 = 800: nothing.
    // Then pipe reaches ssthresh and the SSRB part holds it there:
    // ACK 7: pipe 14 000, min(14 000 − 14 000, ...) = 0 (the proportional part would give 1500);
    // ACKs 8, 9: pipe 13 000, min(1000, max(prr_delivered − prr_out, 1000)) = 1000: one each.
    const sent: number[] = [];
    for (let k = 4; k <= 9; k++) sent.push(ackSack(c, 30 + k, 1, 1001, 1001 + 1000 * k).length);
    expect(sent).toEqual([0, 1, 0, 0, 1, 1]);
  });
});
