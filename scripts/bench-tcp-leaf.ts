/**
 * Micro-benchmarks of the TCP core's leaf modules on their hot paths: ns per operation.
 *
 *   npx tsx scripts/bench-tcp-leaf.ts [--ms 300]
 *
 * Each case runs whole rounds until its time budget (default 300 ms) is spent, after a short
 * warm-up, and prints the mean cost per operation. Single-threaded, no I/O.
 */
import { parseArgs } from 'node:util';
import { Cubic } from '../src/tcp/congestion/cubic.ts';
import { Reno } from '../src/tcp/congestion/reno.ts';
import { IsnGenerator } from '../src/tcp/isn.ts';
import { Reassembly } from '../src/tcp/reassembly.ts';
import { RttEstimator } from '../src/tcp/rtt.ts';
import { SackScoreboard } from '../src/tcp/scoreboard.ts';
import { SendBuffer } from '../src/tcp/sendbuf.ts';
import { seqAdd } from '../src/tcp/seq.ts';
import type { SackBlock } from '../src/wire/tcp-repr.ts';

const { values } = parseArgs({ options: { ms: { type: 'string', default: '300' } } });
const budgetMs = Math.min(Math.max(Number(values.ms) || 300, 10), 5000);

/** Runs `round` (which performs `opsPerRound` operations) until the budget is spent. */
function bench(name: string, opsPerRound: number, round: () => void): void {
  const warmEnd = performance.now() + budgetMs / 5;
  while (performance.now() < warmEnd) round();
  let rounds = 0;
  const start = performance.now();
  const end = start + budgetMs;
  let now = start;
  while (now < end && rounds < 10_000_000) {
    round();
    rounds++;
    now = performance.now();
  }
  const ns = ((now - start) * 1e6) / (rounds * opsPerRound);
  console.log(`${name.padEnd(52)} ${ns.toFixed(1).padStart(9)} ns/op`);
}

const MSS = 1448;
let sink = 0;

{
  const rtt = new RttEstimator({ initialRto: 1000, minRto: 200, maxRto: 60_000 });
  let i = 0;
  bench('rtt.sample', 1000, () => {
    for (let k = 0; k < 1000; k++) rtt.sample(20 + (i++ & 7));
    sink += rtt.rto;
  });
}

for (const Cc of [Reno, Cubic]) {
  const cc = new Cc({ mss: MSS, initialWindow: 10 });
  cc.cwnd = 200 * MSS;
  cc.onFastRetransmit(200 * MSS, 0);
  cc.onRecoveryExit(0);
  let now = 0;
  bench(`${cc.name}.onAck (congestion avoidance)`, 1000, () => {
    for (let k = 0; k < 1000; k++) {
      now += 0.01;
      cc.onAck(MSS, now, cc.cwnd, 20);
    }
    if (cc.cwnd > 10_000 * MSS) {
      cc.onFastRetransmit(cc.cwnd, now);
      cc.onRecoveryExit(now);
    }
  });
}

{
  // A window of 64 segments, the first lost: 63 inserted out of order, then the hole fills.
  const r = new Reassembly(1 << 20);
  const seg = new Uint8Array(MSS);
  bench('reassembly.insert (63 ooo segs) + advance', 64, () => {
    for (let k = 1; k < 64; k++) r.insert(k * MSS, seg);
    sink += r.advance(MSS).length;
  });
  const base = 0xffff_0000;
  for (let k = 1; k < 64; k += 2) r.insert(k * MSS, seg);
  bench('reassembly.sackBlocks(4) with 32 holes', 1000, () => {
    for (let k = 0; k < 1000; k++) sink += r.sackBlocks(base, 4).length;
  });
  r.clear();
}

{
  const sb = new SendBuffer(4 << 20);
  const write = new Uint8Array(64 * 1024);
  const packet = new Uint8Array(1500);
  bench('sendbuf push 64K + 45 x copyOut(1448) + consume', 45, () => {
    sb.push(write);
    let off = 0;
    for (let k = 0; k < 45; k++, off += MSS) sb.copyOut(off, MSS, packet, 40);
    sb.consume(45 * MSS);
  });
  sb.push(write);
  bench('sendbuf.view(1448)', 1000, () => {
    for (let k = 0; k < 1000; k++) sink += sb.view((k % 40) * MSS, MSS).length;
  });
}

{
  // 100 segments out from a base near the wrap, every third one lost.
  const una = 0xffff_f000;
  const nxt = seqAdd(una, 100 * MSS);
  const blocks: SackBlock[] = [];
  for (let k = 1; k < 100; k += 3) {
    blocks.push({ left: seqAdd(una, k * MSS), right: seqAdd(una, (k + 2) * MSS) });
  }
  const sb = new SackScoreboard();
  bench('scoreboard.update (3 blocks, 33 ranges)', 33, () => {
    sb.clear();
    for (let k = 0; k < blocks.length; k += 3) sb.update(blocks.slice(k, k + 3), una, nxt);
  });
  const highRxt = seqAdd(una, 30 * MSS);
  bench('scoreboard.pipe (33 ranges)', 1000, () => {
    for (let k = 0; k < 1000; k++) sink += sb.pipe(una, nxt, highRxt, MSS);
  });
  bench('scoreboard.nextSeg (33 ranges)', 1000, () => {
    for (let k = 0; k < 1000; k++) sink += sb.nextSeg(una, nxt, highRxt, MSS, 0)?.len ?? 0;
  });
  bench('scoreboard.isLost (33 ranges)', 1000, () => {
    for (let k = 0; k < 1000; k++) sink += sb.isLost(seqAdd(una, (k % 100) * MSS), MSS) ? 1 : 0;
  });
}

{
  const isn = new IsnGenerator();
  let now = 0;
  bench('isn.next', 100, () => {
    for (let k = 0; k < 100; k++) sink += isn.next(0x0a000001, 80, 0x0a000002, k, now++);
  });
}

if (sink === 0.5) console.log(sink);
