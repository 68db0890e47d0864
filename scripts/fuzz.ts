/**
 * npm run fuzz -- [--packets N] [--seed S] [--batch B] [--heap-every N] [--max-heap-growth-mb M]
 *                  [--strict] [--quiet]
 *
 * Drives a Stack in memory (no TUN, virtual clock) with mutated packets and checks its
 * invariants (scripts/fuzz/run.ts, docs/fuzz.md). Prints packets per second and the heap before
 * and after; on a failure, the seed, the packet index and the packet's bytes, and exits 1.
 * Without --seed a random seed is drawn and printed.
 */
import { parseArgs } from 'node:util';
import { runFuzz } from './fuzz/run.ts';

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    batch: { type: 'string', default: '32' },
    'heap-every': { type: 'string', default: '100000' },
    'max-heap-growth-mb': { type: 'string', default: '64' },
    quiet: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
  },
});

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`fuzz: --${name} wants a non-negative integer, got ${v}`);
    process.exit(2);
  }
  return n;
}

const seed = values.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : int('seed', values.seed);
const packets = int('packets', values.packets);
const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

console.log(`fuzz: seed ${seed}, ${packets} packets`);
const r = await runFuzz({
  packets,
  seed,
  batch: Math.max(1, int('batch', values.batch)),
  heapEvery: Math.max(1, int('heap-every', values['heap-every'])),
  maxHeapGrowthMb: int('max-heap-growth-mb', values['max-heap-growth-mb']),
  strict: values.strict,
  progressEvery: values.quiet ? 0 : 100_000,
  log: (line) => console.log(`fuzz: ${line}`),
});

console.log(
  `fuzz: ${r.packets} packets in ${r.seconds.toFixed(1)} s: ${r.packetsPerSecond} packets/s, ` +
    `${Math.round(r.virtualMs / 1000)} s of virtual time`,
);
console.log(
  `fuzz: heap ${mb(r.heapStartBytes)} before, ${mb(r.heapEndBytes)} after, ` +
    `${mb(r.heapMaxBytes)} at most${r.gc ? ' (after GC)' : ' (no GC available)'}`,
);
if (!values.quiet) console.log(`fuzz: reached ${JSON.stringify(r.reached)}`);
if (r.failure !== null) {
  const f = r.failure;
  console.error(`fuzz: FAILED (seed ${f.seed}, packet ${f.packetIndex}): ${f.message}`);
  if (f.packetHex !== null) console.error(`fuzz: packet ${f.packetIndex}: ${f.packetHex}`);
  for (const [i, h] of f.recentHex.entries())
    console.error(`fuzz: earlier in its batch (${i - f.recentHex.length}): ${h}`);
  console.error(
    `fuzz: reproduce with: npm run fuzz -- --seed ${f.seed} --packets ${f.packetIndex + 1 || packets}` +
      (values.strict ? '' : ' (add --strict to check every packet and name the very one)'),
  );
  process.exitCode = 1;
} else {
  console.log('fuzz: ok');
}
