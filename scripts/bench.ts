/**
 * `npm run bench`: tunstack measured against the Linux kernel in the same run, with the same
 * kernel-side client tools, inside network namespaces this script creates and always removes.
 *
 * Systems (scripts/bench/systems.ts): kernel (veth, kernel at both ends), bridge (kernel at both
 * ends, packets copied between two TUN devices by a small C process), tunstack (the stack serving
 * over TUN in its own process). Tests (scripts/bench/metrics.ts): bulk throughput with 1 and 4
 * flows both ways, 1-byte request/response latency percentiles, connections per second, memory
 * per idle connection with 10 000 held, ping RTT and flood loss, bulk throughput under 5 % loss
 * each way (nftables `numgen random`, since this kernel has no netem).
 *
 * Output: a progress line per test on stderr; a table with ratios tunstack/kernel and
 * tunstack/bridge on stdout; bench/results/<timestamp>.json and .svg.
 *
 *   npm run bench                     # full run: 3 rounds, 5 s per bulk test, medians
 *   npm run bench -- --quick          # seconds: the smoke test in CI runs this
 *   npm run bench -- --duration 10 --systems kernel,tunstack --out /tmp/results
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type BenchOptions,
  METRICS,
  type Measurement,
  type MetricId,
  probePorts,
  TESTS,
  type Test,
  type TestContext,
} from './bench/metrics.ts';
import {
  type BenchResult,
  combineRounds,
  computeRatios,
  measuredValue,
  renderSvg,
  renderTable,
  type SystemResult,
} from './bench/report.ts';
import { makeSystem, SYSTEM_NAMES, type System, type SystemName } from './bench/systems.ts';
import { buildTools, hasCommand, type Tools } from './bench/tools.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

const USAGE = `usage: npm run bench -- [options]
  --quick              a few seconds per system (what CI runs; no 1 % and 10 % loss rows)
  --duration SECONDS   seconds per bulk-transfer test (default 5; 0.5 with --quick)
  --systems LIST       comma-separated subset of ${SYSTEM_NAMES.join(',')} (default: all)
  --source SOURCE      server→kernel bytes: http (GET /bytes/N on 80, default) or chargen (19)
  --tests LIST         comma-separated subset of
                       ${TESTS.map((t) => t.name).join(',')}
  --rounds N           run every test N times per system and report the median
                       (default 3; 1 with --quick)
  --idle COUNT         idle connections to hold (default 10000; 300 with --quick)
  --out DIR            where the JSON and SVG go (default bench/results)
  --help`;

interface Cli {
  opts: BenchOptions;
  rounds: number;
  tests: readonly Test[];
  systems: SystemName[];
  outDir: string;
}

function parseCli(argv: string[]): Cli {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      systems: { type: 'string' },
      source: { type: 'string', default: 'http' },
      idle: { type: 'string' },
      tests: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const positive = (name: string, raw: string | undefined, dflt: number, max: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || n > max) {
      throw new Error(`--${name} must be a number in (0, ${max}], got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const systems = (values.systems ?? SYSTEM_NAMES.join(',')).split(',').map((s) => s.trim());
  for (const s of systems) {
    if (!SYSTEM_NAMES.includes(s as SystemName)) throw new Error(`unknown system ${s}\n${USAGE}`);
  }
  const testNames = values.tests?.split(',').map((t) => t.trim());
  for (const t of testNames ?? []) {
    if (!TESTS.some((x) => x.name === t)) throw new Error(`unknown test ${t}\n${USAGE}`);
  }
  if (values.source !== 'http' && values.source !== 'chargen') {
    throw new Error(`--source must be http or chargen\n${USAGE}`);
  }
  return {
    systems: systems as SystemName[],
    rounds: Math.round(positive('rounds', values.rounds, quick ? 1 : 3, 20)),
    // The smoke run (--quick) leaves out the 1 % and 10 % loss rows: the same code as the 5 %
    // row, and at 10 % a half-second run can lose its SYN and move nothing.
    tests: testNames
      ? TESTS.filter((t) => testNames.includes(t.name))
      : TESTS.filter((t) => !(quick && /^loss\d+-/.test(t.name))),
    outDir: values.out ?? join(REPO, 'bench/results'),
    opts: {
      quick,
      boundSeconds: quick ? 4 : 60,
      drainSeconds: quick ? 3 : 30,
      bulkSeconds: positive('duration', values.duration, quick ? 0.5 : 5, 300),
      rrCount: quick ? 1000 : 20_000,
      crrCount: quick ? 300 : 10_000,
      crrParallel: 4,
      idleCount: Math.round(positive('idle', values.idle, quick ? 300 : 10_000, 50_000)),
      pingCount: quick ? 10 : 100,
      floodCount: quick ? 200 : 10_000,
      lossPercent: 5,
      source: values.source,
    },
  };
}

function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function hostInfo(): Record<string, string | number> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {}
  return {
    kernel: release(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    node: process.version,
    commit,
  };
}

/** One system under measurement: its results so far and, once set up, where to reach it. */
interface Subject {
  system: System;
  result: SystemResult;
  /** Null when setup failed. */
  ctx: TestContext | null;
  /** Ports that did not serve when probed, with the reason. */
  failing: Map<number, string>;
  /** Every round's measurement of each metric. */
  samples: Partial<Record<MetricId, Measurement[]>>;
}

/** Set a system up and probe the ports the tests need; a failed setup is recorded, not thrown. */
async function prepare(
  system: System,
  tools: Tools,
  opts: BenchOptions,
  tests: readonly Test[],
): Promise<Subject> {
  const started = Date.now();
  const subject: Subject = {
    system,
    result: {
      name: system.name,
      description: system.description,
      server: null,
      setupError: null,
      metrics: {},
      seconds: 0,
    },
    ctx: null,
    failing: new Map(),
    samples: {},
  };
  progress(`${system.name}: setting up (${system.description})`);
  try {
    const ep = await system.setup();
    subject.result.server = ep.server;
    subject.ctx = { ep, tools, opts };
    const ports = [...new Set(tests.flatMap((t) => t.ports(opts)))].sort((a, b) => a - b);
    subject.failing = await probePorts(subject.ctx, ports);
    for (const why of subject.failing.values()) progress(`${system.name}: ${why}`);
  } catch (err) {
    subject.result.setupError = (err as Error).message;
    progress(`${system.name}: setup failed: ${subject.result.setupError}`);
  }
  subject.result.seconds += (Date.now() - started) / 1000;
  return subject;
}

/** Run one test against one system; every outcome becomes a measurement or an n/a. */
async function runTest(subject: Subject, test: Test, tag: string): Promise<void> {
  const started = Date.now();
  const naAll = (why: string) => Object.fromEntries(test.metrics.map((id) => [id, { na: why }]));
  let got: Partial<Record<MetricId, Measurement>>;
  const { ctx } = subject;
  const blocked = ctx
    ? test
        .ports(ctx.opts)
        .map((p) => subject.failing.get(p))
        .find((why) => why !== undefined)
    : 'setup failed';
  if (!ctx || blocked) {
    got = naAll(blocked ?? 'setup failed');
  } else {
    try {
      got = await test.run(ctx);
    } catch (err) {
      got = naAll((err as Error).message);
    }
  }
  for (const [id, m] of Object.entries(got) as [MetricId, Measurement][]) {
    const rounds = subject.samples[id] ?? [];
    rounds.push(m);
    subject.samples[id] = rounds;
  }
  subject.result.seconds += (Date.now() - started) / 1000;
  progress(`${tag}: ${summarize(got)}`);
}

function summarize(got: Partial<Record<MetricId, Measurement>>): string {
  return Object.entries(got)
    .map(([id, m]) => {
      const v = measuredValue(m);
      return `${id}=${v === null ? 'n/a' : +v.toPrecision(4)}`;
    })
    .join(' ');
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (network namespaces, TUN)');
  const missing = ['ip', 'ping', 'nft', process.env.CC ?? 'cc'].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.join(', ')} (apt-get install -y iproute2 iputils-ping nftables gcc)`,
    );
  }
  const startedAt = new Date();
  let tools: Tools | undefined;
  let systems: System[] = [];
  // Ctrl-C or a kill: tear everything down before going (each teardown is idempotent).
  const abort = (signal: NodeJS.Signals): void => {
    progress(`${signal}: removing namespaces and stopping processes`);
    void Promise.allSettled(systems.map((s) => s.teardown()))
      .then(() => tools?.remove())
      .finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  progress('building the kernel-side tools');
  tools = await buildTools();
  const built = tools;
  systems = cli.systems.map((name) =>
    makeSystem(name, { tools: built, lifetimeSeconds: cli.opts.quick ? 300 : 3600 }),
  );

  // Every system is set up first and the tests are interleaved (test 1 on each system, then
  // test 2...), so that a change in the machine's load during the run (two cores, shared)
  // falls on all systems alike rather than on whichever ran at that time.
  const subjects: Subject[] = [];
  let step = 0;
  const runsOf = (t: Test): number => (t.once ? 1 : cli.rounds);
  const total = systems.length * cli.tests.reduce((n, t) => n + runsOf(t), 0);
  try {
    for (const system of systems) subjects.push(await prepare(system, built, cli.opts, cli.tests));
    for (let round = 1; round <= cli.rounds; round++) {
      for (const test of cli.tests.filter((t) => round <= runsOf(t))) {
        for (const subject of subjects) {
          step += 1;
          const r = cli.rounds > 1 ? ` (round ${round})` : '';
          await runTest(subject, test, `${step}/${total} ${subject.system.name} ${test.name}${r}`);
        }
      }
    }
  } finally {
    for (const system of systems) await system.teardown();
    await built.remove();
  }
  for (const subject of subjects) {
    for (const [id, rounds] of Object.entries(subject.samples) as [MetricId, Measurement[]][]) {
      subject.result.metrics[id] = combineRounds(rounds);
    }
  }
  const results = subjects.map((s) => s.result);

  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: hostInfo(),
    options: {
      ...cli.opts,
      rounds: cli.rounds,
      systems: cli.systems,
      tests: cli.tests.map((t) => t.name),
    },
    metrics: METRICS,
    systems: results,
    ratios: computeRatios(results),
  };
  console.log(renderTable(result));
  await mkdir(cli.outDir, { recursive: true });
  const stamp = result.startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const jsonPath = join(cli.outDir, `${stamp}.json`);
  const svgPath = join(cli.outDir, `${stamp}.svg`);
  await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(svgPath, renderSvg(result));
  console.log(`\nresults: ${jsonPath}\nplot:    ${svgPath}`);
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
