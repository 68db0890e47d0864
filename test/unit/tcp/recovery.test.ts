import { expect, describe as group, it } from 'vitest';
import { drain, expectOut, feed, l, REMOTE_ISS, r, sackFlight, synSent } from './helpers.ts';

function est(o: {
  sack: boolean;
  congestion?: 'reno' | 'cubic';
  tlp?: boolean;
  tlpResend?: boolean;
  recoveryProbe?: boolean;
  rack?: boolean;
}) {
  return sackFlight(
    {
      sack: o.sack,
      initialWindow: 10,
      congestion: o.congestion ?? 'reno',
      tailLossProbe: o.tlp ?? false,
      tlpResend: o.tlpResend ?? false,
      recoveryProbe: o.recoveryProbe ?? false,
      rack: o.rack ?? false,
    },
    10,
  );
}

group('NewReno (RFC 5681 §3.2, RFC 6582)', () => {
  it('fast retransmit on the third duplicate ACK, window inflation, partial and full ACK', () => {
    const c = est({ sack: false });
    feed(c, 30, { seq: r(1), ack: l(1) });
    feed(c, 31, { seq: r(1), ack: l(1) });
    expectOut(c, 31, []);
    feed(c, 32, { seq: r(1), ack: l(1) });
    expectOut(c, 32, [{ seq: l(1), payload: new Uint8Array(1000) }]);
    expect(c.snapshot()).toMatchObject({
      inRecovery: true,
      ssthresh: 5000,
      cwnd: 8000,
      fastRetransmits: 1,
    });
    feed(c, 33, { seq: r(1), ack: l(1) });
    expect(c.snapshot().cwnd).toBe(9000);
    // Partial ACK: segment 3 was lost too. Retransmit it, deflate by 2000 and add one SMSS.
    feed(c, 40, { seq: r(1), ack: l(2001) });
    expectOut(c, 40, [{ seq: l(2001) }]);
    expect(c.snapshot()).toMatchObject({ inRecovery: true, cwnd: 8000 });
    // Full ACK: recovery ends, cwnd = ssthresh.
    feed(c, 50, { seq: r(1), ack: l(10_001) });
    expect(c.snapshot()).toMatchObject({ inRecovery: false, cwnd: 5000 });
    expect(c.pollAt()).toBeNull();
  });

  it('two duplicate ACKs are not enough; a window change is not a duplicate', () => {
    const c = est({ sack: false });
    feed(c, 30, { seq: r(1), ack: l(1) });
    feed(c, 31, { seq: r(1), ack: l(1) });
    feed(c, 32, { seq: r(1), ack: l(1), window: 50_000 });
    expectOut(c, 32, []);
    expect(c.snapshot().inRecovery).toBe(false);
  });

  it('after an RTO: go back N with cwnd = 1 SMSS, no fast retransmit for the old data', () => {
    const c = est({ sack: false });
    const rto = c.snapshot().rto;
    expectOut(c, 20 + rto, [{ seq: l(1) }]);
    expect(c.snapshot()).toMatchObject({ cwnd: 1000, ssthresh: 5000, sndNxt: l(1001) });
    feed(c, 20 + rto + 10, { seq: r(1), ack: l(1001) });
    // Slow start again: 2 segments.
    expectOut(c, 20 + rto + 10, [{ seq: l(1001) }, { seq: l(2001) }]);
    for (let i = 0; i < 3; i++) feed(c, 300 + i, { seq: r(1), ack: l(1001) });
    expect(c.snapshot().inRecovery).toBe(false);
  });

  it('Limited Transmit (RFC 3042): one new segment on each of the first two duplicate ACKs', () => {
    const c = est({ sack: false });
    c.send(new Uint8Array(5000));
    expectOut(c, 21, []); // cwnd full
    feed(c, 30, { seq: r(1), ack: l(1) });
    expectOut(c, 30, [{ seq: l(10_001) }]);
    feed(c, 31, { seq: r(1), ack: l(1) });
    expectOut(c, 31, [{ seq: l(11_001) }]);
    expect(c.snapshot().cwnd).toBe(10_000);
    feed(c, 32, { seq: r(1), ack: l(1) });
    expectOut(c, 32, [{ seq: l(1) }]);
  });

  it('Early Retransmit (RFC 5827): three segments out and nothing new: two duplicates suffice', () => {
    const c = synSent({ sack: false });
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss: 1000 } });
    c.send(new Uint8Array(3000));
    expectOut(c, 10, [{ seq: l(1), ack: r(1) }, { seq: l(1001) }, { seq: l(2001) }]);
    feed(c, 30, { seq: r(1), ack: l(1) });
    expectOut(c, 30, []);
    feed(c, 31, { seq: r(1), ack: l(1) });
    expectOut(c, 31, [{ seq: l(1) }]);
    expect(c.snapshot().fastRetransmits).toBe(1);
  });

  it('works the same with CUBIC', () => {
    const c = est({ sack: false, congestion: 'cubic' });
    for (let i = 0; i < 3; i++) feed(c, 30 + i, { seq: r(1), ack: l(1) });
    expectOut(c, 32, [{ seq: l(1) }]);
    expect(c.snapshot().ssthresh).toBe(7000);
  });
});

group('SACK loss recovery (RFC 6675)', () => {
  it('retransmits the lost segment and then the other holes, guided by the scoreboard', () => {
    const c = est({ sack: true });
    const dup = (at: number, blocks: [number, number][]) =>
      feed(c, at, {
        seq: r(1),
        ack: l(1),
        options: { sackBlocks: blocks.map(([a, b]) => ({ left: l(a), right: l(b) })) },
      });
    // Segments 1 and 3 lost; 2, 4, 5, ... arrive.
    dup(30, [[1001, 2001]]);
    dup(31, [
      [3001, 4001],
      [1001, 2001],
    ]);
    expectOut(c, 31, []);
    dup(32, [
      [3001, 5001],
      [1001, 2001],
    ]);
    expectOut(c, 32, [{ seq: l(1), payload: new Uint8Array(1000) }]);
    expect(c.snapshot()).toMatchObject({ inRecovery: true, cwnd: 5000, ssthresh: 5000 });
    // More SACKs shrink the pipe: the second hole (segment 3) is lost too and goes next.
    dup(33, [
      [3001, 7001],
      [1001, 2001],
    ]);
    expectOut(c, 33, [{ seq: l(2001) }]);
    // Everything arrives: full ACK ends recovery.
    feed(c, 40, { seq: r(1), ack: l(10_001) });
    expect(c.snapshot()).toMatchObject({ inRecovery: false, cwnd: 5000 });
  });

  it('after an RTO, go-back-N resends the holes and skips what was SACKed', () => {
    const c = est({ sack: true, tlp: true });
    const sack = (a: number, b: number) => ({ sackBlocks: [{ left: l(a), right: l(b) }] });
    feed(c, 30, { seq: r(1), ack: l(1), options: sack(2001, 4001) });
    // First the tail loss probe (2*SRTT after the flight), then the RTO.
    expectOut(c, 40, [{ seq: l(9001) }]);
    const at = c.pollAt() as number;
    expect(at).toBe(40 + c.snapshot().rto);
    expectOut(c, at, [{ seq: l(1) }]);
    expect(c.snapshot().cwnd).toBe(1000);
    feed(c, at + 5, { seq: r(1), ack: l(1001), options: sack(2001, 4001) });
    // cwnd 2000: the hole at 1001, then past the SACKed 2001..4001 to 4001.
    expectOut(c, at + 5, [{ seq: l(1001) }, { seq: l(4001) }]);
  });

  it('tail loss probe (RFC 8985 §7): the last segment again after 2*SRTT, then the RTO', () => {
    const c = est({ sack: true, tlp: true });
    expect(c.snapshot().timer).toEqual({ kind: 'tlp', at: 40 });
    expectOut(c, 40, [{ seq: l(9001), payload: new Uint8Array(1000) }]);
    expect(c.snapshot()).toMatchObject({ timer: { kind: 'retransmit' }, retransmits: 1 });
    // The probe's ACK SACKs one segment: not yet a loss (DupThresh); the full ACK ends it all.
    feed(c, 50, {
      seq: r(1),
      ack: l(1),
      options: { sackBlocks: [{ left: l(9001), right: l(10_001) }] },
    });
    expect(c.snapshot().inRecovery).toBe(false);
    feed(c, 51, { seq: r(1), ack: l(10_001) });
    expect(c.snapshot().timer.kind).toBe('idle');
  });

  it('a resent probe that repaired a loss reduces cwnd once, without recovery (RFC 8985 §7.4)', () => {
    const c = est({ sack: true, tlp: true });
    expectOut(c, 40, [{ seq: l(9001) }]); // the probe resends the last segment
    // Everything acknowledged, exactly up to TLP.end_seq: a D-SACK could still come, so nothing yet.
    feed(c, 50, { seq: r(1), ack: l(10_001) });
    expect(c.snapshot().lossProbeRecoveries).toBe(0);
    const before = c.snapshot().cwnd;
    // New data, acknowledged beyond TLP.end_seq with no D-SACK: the original was lost.
    c.send(new Uint8Array(1000));
    drain(c, 50);
    feed(c, 60, { seq: r(1), ack: l(11_001) });
    const s = c.snapshot();
    expect(s).toMatchObject({ lossProbeRecoveries: 1, inRecovery: false, fastRetransmits: 0 });
    expect(s.cwnd).toBe(s.ssthresh);
    expect(s.cwnd).toBeLessThan(before);
  });

  it('a D-SACK for the resent probe says nothing was lost: cwnd is kept (RFC 8985 §7.4)', () => {
    const c = est({ sack: true, tlp: true });
    expectOut(c, 40, [{ seq: l(9001) }]);
    feed(c, 50, { seq: r(1), ack: l(10_001) });
    const before = c.snapshot().cwnd;
    feed(c, 51, {
      seq: r(1),
      ack: l(10_001),
      options: { sackBlocks: [{ left: l(9001), right: l(10_001) }] },
    });
    c.send(new Uint8Array(1000));
    drain(c, 51);
    feed(c, 60, { seq: r(1), ack: l(11_001) });
    expect(c.snapshot().lossProbeRecoveries).toBe(0);
    expect(c.snapshot().cwnd).toBeGreaterThanOrEqual(before);
  });

  it('the probe is new data when some waits (RFC 8985 §7.3), the last segment with tlpResend', () => {
    const rfc = est({ sack: true, tlp: true });
    rfc.send(new Uint8Array(5000));
    expectOut(rfc, 40, [{ seq: l(10_001) }]);
    const resend = est({ sack: true, tlp: true, tlpResend: true });
    resend.send(new Uint8Array(5000));
    expectOut(resend, 40, [{ seq: l(9001) }]);
    expect(resend.snapshot()).toMatchObject({ tailLossProbes: 1, retransmits: 1 });
  });

  it('recoveryProbe: in recovery, the last segment again a PTO after it, before the RTO, once per SND.UNA', () => {
    for (const recoveryProbe of [false, true]) {
      const c = est({ sack: true, tlp: true, recoveryProbe });
      const dup = (at: number, ack: number, right: number) =>
        feed(c, at, {
          seq: r(1),
          ack: l(ack),
          options: { sackBlocks: [{ left: l(ack + 1000), right: l(right) }] },
        });
      dup(30, 1, 4001); // segment 1 lost: recovery, and its retransmission is the last to go
      expect(drain(c, 30).map((s) => s.seq)).toEqual([l(1)]);
      expect(c.snapshot().inRecovery).toBe(true);
      const timer = c.snapshot().timer;
      if (!recoveryProbe) {
        // RFC 8985 §7.2: no probe in recovery; nothing comes back, so only the RTO is left.
        expect(timer.kind).toBe('retransmit');
        continue;
      }
      expect(timer).toEqual({ kind: 'tlp', at: 30 + 2 * (c.snapshot().srtt as number) });
      const at = (timer as { at: number }).at;
      expectOut(c, at, [{ seq: l(9001) }]);
      expect(c.snapshot()).toMatchObject({ recoveryProbes: 1, tailLossProbes: 0 });
      expect(c.snapshot().timer.kind).toBe('retransmit');
      // An ACK that does not move SND.UNA: no second probe for it, the RTO stays.
      dup(at + 1, 1, 10_001);
      expect(c.snapshot().timer.kind).toBe('retransmit');
      // SND.UNA moves (a partial ACK: segment 2 was lost too): a probe may go again.
      dup(at + 2, 1001, 10_001);
      drain(c, at + 2);
      expect(c.snapshot().timer.kind).toBe('tlp');
    }
  });

  it('recoveryProbe with RACK: a segment marked lost that the window holds back is the probe', () => {
    const c = est({ sack: true, tlp: true, recoveryProbe: true, rack: true });
    // Segment 1 lost, 2-4 SACKed: recovery, but cwnd (ssthresh, 5 000) is full with the 6
    // segments still in flight, so the retransmission waits for an ACK that does not come.
    feed(c, 30, {
      seq: r(1),
      ack: l(1),
      options: { sackBlocks: [{ left: l(1001), right: l(4001) }] },
    });
    expect(drain(c, 30)).toEqual([]);
    expect(c.snapshot()).toMatchObject({ inRecovery: true, cwnd: 5000 });
    const timer = c.snapshot().timer;
    expect(timer.kind).toBe('tlp');
    // The probe is the lost segment, not the last one sent.
    expectOut(c, (timer as { at: number }).at, [{ seq: l(1) }]);
    expect(c.snapshot()).toMatchObject({ recoveryProbes: 1, timer: { kind: 'retransmit' } });
  });

  it('no tail loss probe without SACK, or when the option is off', () => {
    expect(est({ sack: true }).snapshot().timer.kind).toBe('retransmit');
    const c = est({ sack: false, tlp: true });
    expect(c.snapshot().timer.kind).toBe('retransmit');
  });

  it('a lost retransmission is sent again once data sent after it is SACKed', () => {
    const c = est({ sack: true });
    c.send(new Uint8Array(10_000));
    const dup = (at: number, right: number) =>
      feed(c, at, {
        seq: r(1),
        ack: l(1),
        options: { sackBlocks: [{ left: l(1001), right: l(right) }] },
      });
    dup(30, 4001); // 3 segments SACKed above the first: it IsLost, recovery starts
    const first = drain(c, 30);
    expect(first[0].seq).toBe(l(1));
    expect(c.snapshot().inRecovery).toBe(true);
    // Everything up to 10001 arrives, and new data sent during recovery too, but not l(1).
    dup(40, 10_001);
    drain(c, 40);
    dup(50, 14_001);
    const again = drain(c, 50);
    expect(again.map((s) => s.seq)).toContain(l(1));
    expect(c.snapshot().lostRetransmissions).toBe(1);
  });
});
