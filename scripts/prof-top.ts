/**
 * The top functions of a V8 CPU profile (`node --cpu-prof` writes one .cpuprofile per process):
 * self time and total time per function, summed over every node of the call tree with the same
 * function name, file and line.
 *
 *   npx tsx scripts/prof-top.ts FILE.cpuprofile [--top 25] [--total]
 *
 * --total sorts by inclusive time instead of self time. Paths are shown relative to the repo.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Row {
  name: string;
  self: number;
  total: number;
}

const REPO = fileURLToPath(new URL('../', import.meta.url));

function frameName(f: CallFrame): string {
  const fn = f.functionName || '(anonymous)';
  if (f.url === '') return fn;
  const file = f.url.replace(/^file:\/\//, '').replace(REPO, '');
  return `${fn} ${file}:${f.lineNumber + 1}`;
}

/** Self and total microseconds per function of `p`. */
export function summarise(p: Profile): { rows: Row[]; totalUs: number } {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time of each sample: the delta that follows it (V8's convention: deltas[i] precedes sample i).
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
    totalUs += dt;
  }
  const rows = new Map<string, Row>();
  const row = (name: string): Row => {
    let r = rows.get(name);
    if (r === undefined) {
      r = { name, self: 0, total: 0 };
      rows.set(name, r);
    }
    return r;
  };
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    row(frameName(node.callFrame)).self += us;
    // Inclusive time: once per distinct function on the path (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = frameName(byId.get(cur)!.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      row(name).total += us;
    }
  }
  return { rows: [...rows.values()], totalUs };
}

function main(argv: string[]): void {
  const files = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--top');
  const topIdx = argv.indexOf('--top');
  const top = topIdx >= 0 ? Number(argv[topIdx + 1]) : 25;
  const byTotal = argv.includes('--total');
  if (files.length === 0) {
    console.error('usage: tsx scripts/prof-top.ts FILE.cpuprofile [--top N] [--total]');
    process.exit(2);
  }
  for (const file of files) {
    const { rows, totalUs } = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
    const idle = rows.find((r) => r.name === '(idle)')?.self ?? 0;
    const busy = totalUs - idle;
    rows.sort((a, b) => (byTotal ? b.total - a.total : b.self - a.self));
    console.log(
      `${file}: ${(totalUs / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (${((100 * busy) / totalUs).toFixed(0)} %); % of busy time`,
    );
    console.log('  self%  total%  function');
    for (const r of rows.filter((x) => x.name !== '(idle)').slice(0, top)) {
      const pct = (us: number) => ((100 * us) / busy).toFixed(1).padStart(6);
      console.log(`${pct(r.self)} ${pct(r.total)}  ${r.name}`);
    }
  }
}

// `… | head` closes the pipe early: stop quietly instead of throwing EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
main(process.argv.slice(2));
