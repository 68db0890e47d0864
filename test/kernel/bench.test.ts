/**
 * Smoke test of `npm run bench -- --quick`: it runs to the end inside its own namespaces, removes
 * them, and produces numbers for the kernel and bridge systems, a table, a JSON file and an SVG
 * plot. How big the numbers are is the bench's business, not the test's. The tunstack system must
 * be present in the results, with numbers or with a reason for each 'n/a', and every system
 * with numbers for the IPv6 rows (bulk6-*: the kernel's side over IPv6 to fd00::2).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe } from './harness.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The whole quick run must fit in this (CI budget for this file). */
const BENCH_TIMEOUT_MS = 90_000;

interface Run {
  code: number | null;
  pid: number;
  stdout: string;
  stderr: string;
}

function runBench(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(REPO, 'scripts/bench.ts'), ...args],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    // SIGTERM first: the bench removes its namespaces on SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), BENCH_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, pid: child.pid ?? -1, stdout, stderr });
    });
  });
}

type Measurement = { value: number } | { na: string };
interface SystemResult {
  name: string;
  setupError: string | null;
  metrics: Record<string, Measurement>;
}

kernelDescribe('npm run bench -- --quick', () => {
  let out: string;
  let run: Run;
  let result: { systems: SystemResult[]; ratios: Record<string, unknown> };

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'tunstack-bench-test-'));
    run = await runBench(['--quick', '--out', out]);
    const json = (await readdir(out)).find((f) => f.endsWith('.json'));
    if (json) result = JSON.parse(await readFile(join(out, json), 'utf8'));
  }, BENCH_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('exits 0 and prints a progress line per test and the table', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\[bench\] \d+\/\d+ kernel bulk-up-1: /);
    expect(run.stdout).toMatch(
      /^metric\s+kernel\s+bridge\s+tunstack\s+tunstack-plain\s+tunstack\/kernel/m,
    );
  });

  it('removes every namespace it created', async () => {
    const leftovers = (await netns.list()).filter((n) => n.startsWith(`tsk-${run.pid}-`));
    expect(leftovers).toEqual([]);
  });

  it('measures the kernel and the bridge: a number for every metric that applies', () => {
    for (const name of ['kernel', 'bridge']) {
      const s = result.systems.find((x) => x.name === name);
      expect(s, name).toBeDefined();
      expect(s!.setupError).toBeNull();
      for (const [id, m] of Object.entries(s!.metrics)) {
        // A JavaScript heap only the stack has (idle-heap, crr-heap).
        if (id.endsWith('-heap')) continue;
        // Under 5 % random loss a 0.5 s row can come out empty (a SYN or the request lost twice):
        // kernel TCP's outcome, not the bench's, so there a reason is enough, as for tunstack's
        // rows (one CI run at 4115136 had bridge loss-down-1 n/a).
        if (id.startsWith('loss') && 'na' in m) {
          expect(m.na.length, `${name} ${id}`).toBeGreaterThan(0);
          continue;
        }
        expect(m, `${name} ${id}`).toHaveProperty('value');
        expect(Number.isFinite((m as { value: number }).value), `${name} ${id}`).toBe(true);
      }
      expect(Object.keys(s!.metrics).length).toBeGreaterThanOrEqual(17);
    }
  });

  it('reports tunstack, with and without offloads, with a number or a reason for each metric', () => {
    for (const name of ['tunstack', 'tunstack-plain']) {
      const s = result.systems.find((x) => x.name === name);
      expect(s, name).toBeDefined();
      for (const [id, m] of Object.entries(s!.metrics)) {
        if ('na' in m) expect(m.na.length, `${name} ${id}`).toBeGreaterThan(0);
        else expect(Number.isFinite(m.value), `${name} ${id}`).toBe(true);
      }
    }
    expect(result.ratios).toHaveProperty('bulk-up-1');
  });

  it('measures the IPv6 rows (bulk6-*) on every main system, with v6/v4 ratios', () => {
    const ids = ['bulk6-up-1', 'bulk6-up-4', 'bulk6-down-1', 'bulk6-down-4'];
    for (const name of ['kernel', 'bridge', 'tunstack', 'tunstack-plain']) {
      const s = result.systems.find((x) => x.name === name);
      for (const id of ids) {
        const m = s?.metrics[id];
        expect(m, `${name} ${id}: ${JSON.stringify(m)}`).toHaveProperty('value');
        expect((m as { value: number }).value, `${name} ${id}`).toBeGreaterThan(0);
      }
    }
    const ratios = result.ratios as Record<string, { v6OverV4?: Record<string, number | null> }>;
    for (const id of ids) {
      expect(ratios[id]?.v6OverV4?.tunstack, id).toBeGreaterThan(0);
      expect(ratios[id]?.v6OverV4?.kernel, id).toBeGreaterThan(0);
    }
    expect(run.stdout).toMatch(/^IPv6 bulk kernel→server, 1 flow ↑ /m);
    expect(run.stdout).toMatch(/\stunstack v6\/v4\s+kernel v6\/v4$/m);
  });

  it('writes an SVG plot beside the JSON', async () => {
    const svg = (await readdir(out)).find((f) => f.endsWith('.svg'));
    expect(svg).toBeDefined();
    const text = await readFile(join(out, svg!), 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text).toContain('<rect');
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
  });
}, ['ping', 'nft', 'cc']);
