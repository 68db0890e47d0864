/**
 * The ECN reduction spread by PRR (option prr), as Linux's CWR state (tcp_enter_cwr →
 * tcp_init_cwnd_reduction, tcp_cwnd_reduction on each ACK, tcp_end_cwnd_reduction once SND.UNA
 * is above the mark): exactly what goes out on each ACK after an ECE, against RFC 3168's
 * immediate cut (prr off); a loss during CWR turns it into recovery without a second cut; a
 * tail loss probe's loss still cuts at once, as Linux's tcp_process_tlp_ack.
 *
 * MSS 1000, SACK, ECN agreed (we asked, the peer agreed), initial window 10: segments 1..10 are
 * out at t=20 and 20 000 bytes are queued. Segment n (1-based) is [l(1 + 1000(n − 1)), l(1 + 1000n)).
 */
import { expect, describe as group, it } from 'vitest';
import type { TcpConnection } from '../../../src/tcp/conn.ts';
import type { TcpConnectionOptions } from '../../../src/tcp/options.ts';
import { IpEcn } from '../../../src/wire/ipv4.ts';
import { drain, expectOut, feed, l, REMOTE_ISS, r, sackFlight, synSent } from './helpers.ts';

function ecnConn(o: Partial<TcpConnectionOptions>, segments = 10): TcpConnection {
  const c = sackFlight({ ecn: 1, initialWindow: 10, congestion: 'reno', ...o }, segments, true);
  expect(c.snapshot().ecn).toBe(true);
  return c;
}

const seg = (n: number): number => l(1 + 1000 * (n - 1));

/** An ACK of everything below segment n (ECE as given); the sequence numbers sent in answer. */
function ackTo(c: TcpConnection, at: number, n: number, ece: boolean): number[] {
  feed(c, at, { seq: r(1), ack: seg(n), ece });
  return drain(c, at).map((s) => s.seq);
}

const counters = (c: TcpConnection) => c.snapshot().counters;

group('ECN with PRR: the CWR state (Linux tcp_cwnd_reduction)', () => {
  it('Reno: one segment on the ECE ACK, then about one per two ACKs; cwnd = ssthresh past the mark', () => {
    const c = ecnConn({ prr: true });
    c.send(new Uint8Array(20_000));
    // The ACK of segment 1 with ECE: ssthresh = FlightSize / 2 = 9000 / 2 = 4500, RecoverFS 9000.
    // prr_delivered 1000, pipe 9000 > ssthresh: ⌈1000 × 4500 / 9000⌉ − prr_out 0 = 500, raised
    // to 1 SMSS while prr_out is 0 (Linux's sndcnt ≥ 1): cwnd = 9000 + 1000, segment 11 goes,
    // with CWR and ECT(0).
    feed(c, 30, { seq: r(1), ack: seg(2), ece: true });
    const [first, ...rest] = drain(c, 30);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ seq: seg(11), cwr: true, ipEcn: IpEcn.Ect0 });
    expect(c.snapshot()).toMatchObject({ ssthresh: 4500, cwnd: 10_000, inRecovery: false });
    // The receiver echoes ECE until segment 11's CWR reaches it: ignored, once per window.
    // Each ACK delivers 1000 (prr_delivered 2000, 3000, ...); while pipe > 4500 the allowance is
    // ⌈prr_delivered / 2⌉ − prr_out:
    //   ACK 3: 1000 − 1000 = 0;     ACK 4: 1500 − 1000 = 500 (less than a segment);
    //   ACK 5: 2000 − 1000 = 1000: segment 12;  ACK 6: 2500 − 2000 = 500;
    //   ACK 7: 3000 − 2000: segment 13;  ACK 8: 500;  ACK 9: 4000 − 3000: segment 14;
    //   ACK 10: 4500 − 4000 = 500 (pipe 5000, still above ssthresh).
    const sent: number[][] = [];
    for (let n = 3; n <= 10; n++) sent.push(ackTo(c, 30 + n, n, true));
    expect(sent).toEqual([[], [], [seg(12)], [], [seg(13)], [], [seg(14)], []]);
    expect(c.snapshot().cwnd).toBe(5500);
    // ACK 11 (segment 10 delivered, SND.UNA = the mark, not above it): pipe 4000 ≤ ssthresh,
    // the slow-start reduction bound: min(4500 − 4000, ...) = 500. Still CWR.
    expect(ackTo(c, 41, 11, true)).toEqual([]);
    expect(c.snapshot().cwnd).toBe(4500);
    // The ACK of segment 11 (the CWR) passes the mark: CWR ends with cwnd = ssthresh = 4500
    // (no ECE now), and congestion avoidance goes on from there: 3000 in flight, one segment.
    expect(ackTo(c, 42, 12, false)).toEqual([seg(15)]);
    expect(c.snapshot()).toMatchObject({ ssthresh: 4500, cwnd: 4500 });
    expect(counters(c)).toMatchObject({
      'ecn-ece-received': 10,
      'ecn-cwnd-reduced': 1,
      'ecn-cwr-sent': 1,
    });
    expect(c.snapshot().retransmits).toBe(0);
    // A new window: the next ECE is a new reduction.
    feed(c, 43, { seq: r(1), ack: seg(13), ece: true });
    expect(counters(c)['ecn-cwnd-reduced']).toBe(2);
  });

  it('prr off (RFC 3168 as written): cwnd = ssthresh at once, and a pause until the flight drains', () => {
    const c = ecnConn({ prr: false });
    c.send(new Uint8Array(20_000));
    expect(ackTo(c, 30, 2, true)).toEqual([]);
    expect(c.snapshot()).toMatchObject({ ssthresh: 4500, cwnd: 4500 });
    // Nothing until fewer than 3500 bytes are in flight: ACK 8 (3000 in flight).
    const sent: number[][] = [];
    for (let n = 3; n <= 8; n++) sent.push(ackTo(c, 30 + n, n, true));
    expect(sent).toEqual([[], [], [], [], [], [seg(11)]]);
  });

  it("CUBIC: the ECE ACK of one of four segments leaves cwnd 4 segments (Linux's cwnd-moderation-ecn script)", () => {
    // packetdrill's cwnd_moderation/cwnd-moderation-ecn-enter-cwr-no-moderation-700.pkt: 4
    // segments out, the first ACKed with ECE, tcpi_snd_cwnd 4 after. Here ssthresh =
    // max(0.7 × 3000, 2 SMSS) = 2100, pipe 3000 > 2100: ⌈1000 × 2100 / 3000⌉ = 700, raised to
    // 1 SMSS: cwnd = 3000 + 1000.
    const c = ecnConn({ prr: true, congestion: 'cubic' }, 4);
    c.send(new Uint8Array(10_000));
    expect(ackTo(c, 30, 2, true)).toEqual([seg(5)]);
    expect(c.snapshot()).toMatchObject({ ssthresh: 2100, cwnd: 4000 });
  });

  it('a loss during CWR turns it into recovery without a second cut; PRR counts go on', () => {
    const c = ecnConn({ prr: true });
    c.send(new Uint8Array(20_000));
    expect(ackTo(c, 30, 2, true)).toEqual([seg(11)]); // CWR: ssthresh 4500, prr_out 1000
    // Segment 2 was lost: SACKs of 3, 3..4, 3..5 (ECE still echoed).
    const sack = (right: number) => ({ sackBlocks: [{ left: seg(3), right: seg(right) }] });
    // Duplicate 1: prr_delivered 2000, pipe 9000: 1000 − 1000 = 0. No Limited Transmit in CWR.
    feed(c, 31, { seq: r(1), ack: seg(2), ece: true, options: sack(4) });
    expect(drain(c, 31)).toEqual([]);
    // Duplicate 2: prr_delivered 3000, pipe 8000: 1500 − 1000 = 500.
    feed(c, 32, { seq: r(1), ack: seg(2), ece: true, options: sack(5) });
    expect(drain(c, 32)).toEqual([]);
    // Duplicate 3: recovery. Were it a fresh one, ssthresh would be FlightSize / 2 = 5000 and
    // PRR would start over; from CWR ssthresh stays 4500 and prr_delivered is 4000: pipe
    // (segments 6..11) 6000 > 4500, ⌈4000 / 2⌉ − 1000 = 1000: cwnd 7000, the fast retransmit.
    feed(c, 33, { seq: r(1), ack: seg(2), ece: true, options: sack(6) });
    expect(drain(c, 33).map((s) => s.seq)).toEqual([seg(2)]);
    expect(c.snapshot()).toMatchObject({
      inRecovery: true,
      ssthresh: 4500,
      cwnd: 7000,
      fastRetransmits: 1,
    });
    expect(counters(c)['ecn-cwnd-reduced']).toBe(1);
    // The full ACK ends recovery: cwnd = ssthresh.
    feed(c, 40, { seq: r(1), ack: seg(12) });
    expect(c.snapshot()).toMatchObject({ inRecovery: false, ssthresh: 4500, cwnd: 4500 });
  });

  it('a timeout ends CWR: after it, slow start from one segment, not PRR over the old flight', () => {
    const c = ecnConn({ prr: true });
    c.send(new Uint8Array(20_000));
    expect(ackTo(c, 30, 2, true)).toEqual([seg(11)]);
    const rto = c.pollAt() as number;
    expectOut(c, rto, [{ seq: seg(2) }]); // go back N from SND.UNA, cwnd one segment
    expect(c.snapshot().cwnd).toBe(1000);
    // The retransmission is acknowledged: slow start, cwnd 2000, two segments (3 and 4) go. Had
    // CWR outlived the timeout, PRR would take the 9000 bytes still outstanding for pipe and
    // set cwnd above 9000.
    expect(ackTo(c, rto + 5, 3, false)).toEqual([seg(3), seg(4)]);
    expect(c.snapshot().cwnd).toBe(2000);
  });

  it('without SACK too: the ECE ACK lets one segment out, the next ones by PRR', () => {
    const c = synSent({ ecn: 1, initialWindow: 10, congestion: 'reno', prr: true });
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), ece: true, options: { mss: 1000 } });
    drain(c, 10);
    c.send(new Uint8Array(30_000));
    expect(drain(c, 20)).toHaveLength(10);
    expect(ackTo(c, 30, 2, true)).toEqual([seg(11)]);
    expect([3, 4, 5].map((n) => ackTo(c, 30 + n, n, true))).toEqual([[], [], [seg(12)]]);
  });
});

group('the tail loss probe with PRR (Linux tcp_process_tlp_ack)', () => {
  const tlp = { prr: true, tailLossProbe: true };

  it('a loss the probe repaired cuts cwnd at once, not by PRR', () => {
    const c = ecnConn(tlp);
    expectOut(c, 40, [{ seq: seg(10) }]); // the probe resends the last segment
    feed(c, 50, { seq: r(1), ack: seg(11) });
    c.send(new Uint8Array(1000));
    drain(c, 50);
    feed(c, 60, { seq: r(1), ack: seg(12) });
    const s = c.snapshot();
    expect(s).toMatchObject({ lossProbeRecoveries: 1, inRecovery: false });
    expect(s.cwnd).toBe(s.ssthresh);
  });

  it('an ECN reduction after the probe ends its episode (tcp_init_cwnd_reduction clears it)', () => {
    const c = ecnConn(tlp);
    expectOut(c, 40, [{ seq: seg(10) }]);
    feed(c, 50, { seq: r(1), ack: seg(11), ece: true }); // CWR begins
    expect(counters(c)['ecn-cwnd-reduced']).toBe(1);
    c.send(new Uint8Array(1000));
    drain(c, 50);
    // Beyond TLP.end_seq without a D-SACK: with the probe's episode still open this would be
    // a second cut (lossProbeRecoveries 1).
    feed(c, 60, { seq: r(1), ack: seg(12) });
    expect(c.snapshot().lossProbeRecoveries).toBe(0);
  });
});
