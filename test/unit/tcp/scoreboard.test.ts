import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SACK_RANGES, SackScoreboard } from '../../../src/tcp/scoreboard.ts';
import { seqAdd } from '../../../src/tcp/seq.ts';

const mss = 1000;

describe('SackScoreboard (RFC 6675)', () => {
  // Ten segments in flight from 1000; the first is lost and the next three arrive.
  const una = 1000;
  const nxt = 11_000;
  const threeDupAcks = () => {
    const sb = new SackScoreboard();
    sb.update([{ left: 2000, right: 3000 }], una, nxt);
    sb.update([{ left: 2000, right: 4000 }], una, nxt);
    sb.update([{ left: 2000, right: 5000 }], una, nxt);
    return sb;
  };

  it('merges overlapping and adjacent blocks', () => {
    const sb = threeDupAcks();
    expect(sb.ranges).toBe(1);
    expect(sb.sackedBytes).toBe(3000);
    expect(sb.highestSacked).toBe(5000);
    sb.update(
      [
        { left: 7000, right: 8000 },
        { left: 5000, right: 6000 },
      ],
      una,
      nxt,
    );
    expect(sb.ranges).toBe(2);
    expect(sb.sackedBytes).toBe(5000);
    sb.update([{ left: 5500, right: 7500 }], una, nxt);
    expect(sb.ranges).toBe(1);
    expect(sb.sackedBytes).toBe(6000);
    expect(sb.isSacked(1999)).toBe(false);
    expect(sb.isSacked(2000)).toBe(true);
    expect(sb.isSacked(7999)).toBe(true);
    expect(sb.isSacked(8000)).toBe(false);
  });

  it('ignores blocks outside [SND.UNA, SND.NXT] and cuts D-SACK parts below SND.UNA', () => {
    const sb = new SackScoreboard();
    sb.update([{ left: 500, right: 1000 }], una, nxt); // all below SND.UNA (D-SACK)
    sb.update([{ left: 10_000, right: 12_000 }], una, nxt); // beyond SND.NXT
    sb.update([{ left: 3000, right: 3000 }], una, nxt); // empty
    expect(sb.ranges).toBe(0);
    expect(sb.ignored).toBe(3);
    sb.update([{ left: 500, right: 1500 }], una, nxt);
    expect(sb.sackedBytes).toBe(500);
    expect(sb.isSacked(1000)).toBe(true);
  });

  it('IsLost: more than 2*SMSS SACKed above, or 3 discontiguous ranges above', () => {
    const one = new SackScoreboard();
    one.update([{ left: 2000, right: 4000 }], una, nxt);
    expect(one.isLost(1000, mss)).toBe(false); // exactly 2*SMSS is not more than
    const sb = threeDupAcks();
    expect(sb.isLost(1000, mss)).toBe(true);
    expect(sb.isLost(5000, mss)).toBe(false);
    const spread = new SackScoreboard();
    spread.update(
      [
        { left: 2000, right: 2100 },
        { left: 3000, right: 3100 },
        { left: 4000, right: 4100 },
      ],
      una,
      nxt,
    );
    expect(spread.isLost(1000, mss)).toBe(true);
    expect(spread.isLost(2100, mss)).toBe(false);
  });

  it('SetPipe and NextSeg through a recovery episode', () => {
    const sb = threeDupAcks();
    // Ten segments out, three SACKed, one lost: six in the network.
    expect(sb.pipe(una, nxt, una, mss)).toBe(6000);
    // Rule 1: retransmit the lost segment.
    expect(sb.nextSeg(una, nxt, una, mss, 0)).toEqual({ seq: 1000, len: 1000, rule: 1 });
    // Retransmitted: it counts again (below HighRxt).
    expect(sb.pipe(una, nxt, 2000, mss)).toBe(7000);
    // Nothing lost above HighRxt: rule 2 if there is new data, else nothing.
    expect(sb.nextSeg(una, nxt, 2000, mss, 5000)).toEqual({ seq: 11_000, len: 1000, rule: 2 });
    expect(sb.nextSeg(una, nxt, 2000, mss, 300)).toEqual({ seq: 11_000, len: 300, rule: 2 });
    expect(sb.nextSeg(una, nxt, 2000, mss, 0)).toBeNull();
    // A later segment arrives: 5000..6000 is a hole below the highest SACK but not lost.
    sb.update([{ left: 6000, right: 7000 }], una, nxt);
    expect(sb.isLost(5000, mss)).toBe(false);
    expect(sb.nextSeg(una, nxt, 2000, mss, 0)).toEqual({ seq: 5000, len: 1000, rule: 3 });
    // Two more ranges above make it lost (3 discontiguous ranges above it).
    sb.update(
      [
        { left: 8000, right: 8500 },
        { left: 9000, right: 9100 },
      ],
      una,
      nxt,
    );
    expect(sb.nextSeg(una, nxt, 2000, mss, 5000)).toEqual({ seq: 5000, len: 1000, rule: 1 });
    // The hole 7000..8000 is not: only 2 ranges (600 bytes) above it.
    expect(sb.isLost(7000, mss)).toBe(false);
    // Cumulative ACK of the retransmission: everything up to 5000.
    sb.ackedUpTo(5000);
    expect(sb.sackedBytes).toBe(1000 + 500 + 100);
    // Holes 5000..6000 (lost: 3 ranges above), 7000..8000, 8500..9000 and 9100..11000 (not lost).
    expect(sb.pipe(5000, nxt, 5000, mss)).toBe(1000 + 500 + 1900);
    sb.clear();
    expect(sb.highestSacked).toBeNull();
    expect(sb.pipe(5000, nxt, 5000, mss)).toBe(6000);
  });

  it('caps NextSeg at SMSS and at the next SACKed byte', () => {
    const sb = new SackScoreboard();
    sb.update([{ left: 1300, right: 5000 }], una, nxt);
    expect(sb.nextSeg(una, nxt, una, mss, 0)).toEqual({ seq: 1000, len: 300, rule: 1 });
    expect(sb.nextSeg(una, nxt, una, 200, 0)).toEqual({ seq: 1000, len: 200, rule: 1 });
  });

  it('finds holes for callers that walk them', () => {
    const sb = threeDupAcks();
    expect(sb.nextUnsackedHole(una, nxt)).toEqual({ start: 1000, end: 2000 });
    expect(sb.nextUnsackedHole(2500, nxt)).toEqual({ start: 5000, end: 11_000 });
    expect(sb.nextUnsackedHole(2500, 4000)).toBeNull();
  });

  it('bounds the number of ranges', () => {
    const sb = new SackScoreboard();
    const blocks = Array.from({ length: MAX_SACK_RANGES + 10 }, (_, i) => ({
      left: 2 * i + 1,
      right: 2 * i + 2,
    }));
    sb.update(blocks, 0, 100_000);
    expect(sb.ranges).toBe(MAX_SACK_RANGES);
    expect(sb.ignored).toBe(10);
  });

  it('agrees with a byte-by-byte model of RFC 6675, across the sequence wrap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(
          fc.array(fc.tuple(fc.integer({ min: -20, max: 320 }), fc.nat(60)), { maxLength: 4 }),
          {
            maxLength: 12,
          },
        ),
        fc.nat(300),
        fc.nat(300),
        fc.nat(100),
        (una0, window, m, acks, highRxt0, advance, newData) => {
          const sb = new SackScoreboard();
          let una = una0;
          let base = 0; // offset of SND.UNA in the model
          const nxtOff = window;
          const sacked = new Uint8Array(window);
          for (const blocks of acks) {
            const seqBlocks = blocks.map(([l, len]) => ({
              left: seqAdd(una0, l),
              right: seqAdd(una0, l + len),
            }));
            sb.update(seqBlocks, una, seqAdd(una0, nxtOff));
            for (const [l, len] of blocks) {
              const r = l + len;
              if (r > base && r <= nxtOff && Math.max(l, base) < r)
                sacked.fill(1, Math.max(l, base), r);
            }
            check(sb, sacked, una0, base, nxtOff, m, Math.min(base + highRxt0, nxtOff), newData);
          }
          base = Math.min(base + advance, nxtOff);
          una = seqAdd(una0, base);
          sb.ackedUpTo(una);
          sacked.fill(0, 0, base);
          check(sb, sacked, una0, base, nxtOff, m, Math.min(base + highRxt0, nxtOff), newData);
        },
      ),
    );
  });
});

/** Compare the scoreboard with RFC 6675's definitions applied to every byte. */
function check(
  sb: SackScoreboard,
  sacked: Uint8Array,
  una0: number,
  una: number,
  nxt: number,
  m: number,
  highRxt: number,
  newData: number,
): void {
  const seq = (off: number) => seqAdd(una0, off);
  const isLost = (s: number) => {
    let runs = 0;
    let bytes = 0;
    for (let i = s + 1; i < nxt; i++) {
      if (sacked[i]) {
        bytes++;
        if (!sacked[i - 1] || i === s + 1) runs++;
      }
    }
    return runs >= 3 || bytes > 2 * m;
  };
  let count = 0;
  let top = -1;
  let pipe = 0;
  for (let i = una; i < nxt; i++) {
    expect(sb.isSacked(seq(i))).toBe(sacked[i] === 1);
    if (sacked[i]) {
      count++;
      top = i;
      continue;
    }
    const lost = isLost(i);
    expect(sb.isLost(seq(i), m)).toBe(lost);
    if (!lost) pipe++;
    if (i < highRxt) pipe++;
  }
  expect(sb.sackedBytes).toBe(count);
  expect(sb.highestSacked).toBe(top === -1 ? null : seq(top + 1));
  expect(sb.pipe(seq(una), seq(nxt), seq(highRxt), m)).toBe(pipe);

  // NextSeg rules 1-3 on the model.
  let want: { seq: number; len: number; rule: number } | null = null;
  let s = highRxt;
  while (s < nxt && sacked[s]) s++;
  const holeLen = (from: number) => {
    let e = from;
    while (e < nxt && !sacked[e] && e - from < m) e++;
    return e - from;
  };
  if (top !== -1 && s <= top && isLost(s)) want = { seq: seq(s), len: holeLen(s), rule: 1 };
  else if (newData > 0) want = { seq: seq(nxt), len: Math.min(m, newData), rule: 2 };
  else if (top !== -1 && s <= top) want = { seq: seq(s), len: holeLen(s), rule: 3 };
  expect(sb.nextSeg(seq(una), seq(nxt), seq(highRxt), m, newData)).toEqual(want);
}
