/**
 * RACK (RFC 8985 §6) on its own: the transmission log, loss marking by time, the reordering
 * window and timer, lost retransmissions, timeouts and pipe.
 */
import { expect, describe as group, it } from 'vitest';
import { RackLog } from '../../../src/tcp/rack.ts';

const MSS = 1000;
/** Segment n covers [n·MSS, (n+1)·MSS). */
const seg = (n: number): [number, number] => [n * MSS, (n + 1) * MSS];
const block = (from: number, to: number) => ({ left: from * MSS, right: to * MSS });

/** A log with segments 0..n-1 sent one per ms from t=0 (sndMax follows). */
function sentLog(n: number): { log: RackLog; sndMax: number } {
  const log = new RackLog(MSS);
  let sndMax = 0;
  for (let i = 0; i < n; i++) {
    const [s, e] = seg(i);
    log.sent(s, e, i, sndMax);
    sndMax = e;
  }
  return { log, sndMax };
}

group('RackLog records', () => {
  it('keeps one record per burst and splits where a SACK block cuts it', () => {
    const log = new RackLog(MSS);
    log.sent(0, 1000, 5, 0);
    log.sent(1000, 3000, 5, 1000); // same time: the same record
    log.sent(3000, 4000, 6, 3000);
    expect(log.records()).toEqual([
      [0, 3000, 'in-flight'],
      [3000, 4000, 'in-flight'],
    ]);
    expect(log.pipe).toBe(4000);
    log.onAck(7, 0, [{ left: 1000, right: 2000 }], 4000);
    expect(log.records()).toEqual([
      [0, 1000, 'in-flight'],
      [1000, 2000, 'sacked'],
      [2000, 3000, 'in-flight'],
      [3000, 4000, 'in-flight'],
    ]);
    expect(log.pipe).toBe(3000);
    expect(log.sackedBytes).toBe(1000);
  });

  it('counts only whole segments as SACKed (a SACK of the last byte delivers nothing)', () => {
    const log = new RackLog(MSS);
    log.sent(0, 4000, 0, 0); // four segments in one burst
    log.onAck(10, 0, [{ left: 3999, right: 4000 }], 4000);
    expect(log.records()).toEqual([[0, 4000, 'in-flight']]);
    expect(log.detectLoss(100, 10, false)).toBe(0);
    // A block over one segment and a half SACKs the whole one only.
    log.onAck(11, 0, [{ left: 1500, right: 3000 }], 4000);
    expect(log.records()).toEqual([
      [0, 2000, 'in-flight'],
      [2000, 3000, 'sacked'],
      [3000, 4000, 'in-flight'],
    ]);
    expect(log.delivered).toBe(1000);
  });

  it('drops what the cumulative ACK covers, cutting the record it ends in', () => {
    const { log, sndMax } = sentLog(3);
    log.onAck(10, 1500, [], sndMax);
    expect(log.records()).toEqual([
      [1500, 2000, 'in-flight'],
      [2000, 3000, 'in-flight'],
    ]);
    expect(log.pipe).toBe(1500);
  });
});

group('RACK loss detection (RFC 8985 §6.2)', () => {
  it('marks lost what went out before a delivered segment, once the reordering window passes', () => {
    const { log, sndMax } = sentLog(4); // segments 0..3 at t = 0..3
    // Segment 3 SACKed at t=10 (RTT 7 ms); no reordering seen, fewer than 3 SACKed, not in
    // recovery: the window is min RTT / 4 = 1.75 ms.
    log.onAck(10, 0, [block(3, 4)], sndMax);
    // Segment 2 went out at 2: lost at 2 + 7 + 1.75 = 10.75; 0 and 1 earlier still.
    expect(log.detectLoss(10, 7, false)).toBe(2000);
    expect(log.records().map((r) => r[2])).toEqual(['lost', 'lost', 'in-flight', 'sacked']);
    expect(log.reorderAt).toBeCloseTo(10.75);
    expect(log.detectLoss(10.75, 7, false)).toBe(1000);
    expect(log.reorderAt).toBeNull();
    expect(log.lostBytes).toBe(3000);
    expect(log.pipe).toBe(0);
    expect(log.firstLost(MSS)).toEqual({ seq: 0, end: 1000 });
  });

  it('uses no reordering window in recovery until reordering has been seen', () => {
    const { log, sndMax } = sentLog(4);
    log.onAck(10, 0, [block(3, 4)], sndMax);
    expect(log.detectLoss(10, 7, true)).toBe(3000);
    expect(log.reorderAt).toBeNull();
  });

  it('never marks what went out after the most recently sent delivered segment', () => {
    const { log, sndMax } = sentLog(4);
    log.onAck(10, 0, [block(1, 2)], sndMax); // segment 1 (sent at 1) delivered
    expect(log.detectLoss(100, 9, true)).toBe(1000); // only segment 0
    expect(log.records().map((r) => r[2])).toEqual(['lost', 'sacked', 'in-flight', 'in-flight']);
  });

  it('finds a lost retransmission when a segment sent after it is delivered', () => {
    const { log, sndMax } = sentLog(4);
    log.onAck(10, 0, [block(1, 4)], sndMax);
    expect(log.detectLoss(10, 8, true)).toBe(1000); // segment 0
    log.sent(0, 1000, 11, sndMax); // retransmitted at 11
    expect(log.pipe).toBe(1000);
    log.sent(4000, 5000, 12, sndMax); // new data after it
    log.onAck(20, 0, [block(1, 5)], 5000); // the new segment is delivered, not the retransmission
    expect(log.detectLoss(20, 8, true)).toBe(1000);
    expect(log.stats.lostRetransmissions).toBe(1);
    expect(log.firstLost(MSS)).toEqual({ seq: 0, end: 1000 });
  });

  it('does not take the ACK of a first transmission for one of its retransmission', () => {
    const { log, sndMax } = sentLog(2);
    log.onAck(10, 1000, [], sndMax); // min RTT 10 from segment 0
    log.onTimeout(300, 10, 1); // segment 1 marked lost
    log.sent(1000, 2000, 300, sndMax);
    // Its ACK 1 ms later cannot be for the retransmission (shorter than any RTT seen): RACK's
    // clock does not move to 300, so nothing sent before it is judged by it.
    log.onAck(301, 2000, [], sndMax);
    expect(log.records()).toEqual([]);
    log.sent(2000, 3000, 302, sndMax);
    log.sent(3000, 4000, 303, 3000);
    expect(log.detectLoss(304, 10, false)).toBe(0);
  });

  it('learns reordering from a segment delivered below the highest delivered', () => {
    const { log, sndMax } = sentLog(6); // segments 0..5 at t = 0..5
    log.onAck(10, 0, [block(5, 6)], sndMax); // RACK.rtt 5, min RTT 5
    expect(log.reorderingSeen).toBe(false);
    log.onAck(10, 0, [block(2, 3), block(5, 6)], sndMax); // 2, never resent, arrives after 5
    expect(log.reorderingSeen).toBe(true);
    // Now even in recovery the window is min RTT / 4 = 1.25 ms. RACK.rtt is the last delivery's
    // (segment 2's 8 ms, as Linux), RACK's send time still segment 5's: segment n is lost at
    // n + 8 + 1.25, so only segment 0 is lost at 10, and the timer waits for segment 4.
    expect(log.detectLoss(10, 20, true)).toBe(1000);
    expect(log.records().map((r) => r[2])).toEqual([
      'lost',
      'in-flight',
      'sacked',
      'in-flight',
      'in-flight',
      'sacked',
    ]);
    expect(log.reorderAt).toBeCloseTo(13.25);
  });

  it('widens the reordering window on a D-SACK, once per round trip', () => {
    const a = sentLog(6);
    const b = sentLog(6);
    for (const { log, sndMax } of [a, b]) log.onAck(10, 2000, [], sndMax);
    // b hears a D-SACK (a block below the cumulative ACK): window 2 × min RTT / 4.
    b.log.onAck(10, 2000, [block(1, 2)], b.sndMax);
    expect(b.log.stats.dsacks).toBe(1);
    for (const { log, sndMax } of [a, b]) {
      log.onAck(16, 2000, [block(5, 6)], sndMax);
      log.detectLoss(16, 20, false);
    }
    // Segment 4 went out at 4; RACK.rtt 11 (segment 5 at 5, SACKed at 16); min RTT 9.
    expect(a.log.reorderAt).toBeCloseTo(4 + 11 + 9 / 4);
    expect(b.log.reorderAt).toBeCloseTo(4 + 11 + (2 * 9) / 4);
  });
});

group('RACK after a retransmission timeout (RFC 8985 §6.3)', () => {
  it('marks the first segment and those older than RACK.rtt + window lost, keeps SACKed data', () => {
    const { log, sndMax } = sentLog(5);
    log.onAck(10, 0, [block(1, 2)], sndMax); // RACK.rtt 9 from segment 1
    log.detectLoss(10, 9, false);
    log.sent(sndMax, sndMax + MSS, 200, sndMax); // segment 5 at 200
    log.onTimeout(205, 9, 1);
    // 0 lost (before), 1 SACKed, 2..4 older than 9 + window: lost; 5 (5 ms old) stays in flight.
    const states = log.records().map((r) => r[2]);
    expect(states).toEqual(['lost', 'sacked', 'lost', 'lost', 'lost', 'in-flight']);
    expect(log.pipe).toBe(1000);
    // A second timeout in a row no longer trusts the SACKed data.
    log.onTimeout(600, 9, 2);
    expect(log.records().every((r) => r[2] === 'lost')).toBe(true);
    expect(log.sackedBytes).toBe(0);
    expect(log.pipe).toBe(0);
  });
});
