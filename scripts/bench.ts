/**
 * `npm run bench`: tunstack measured against the Linux kernel in the same run, with the same
 * kernel-side client tools, inside network namespaces this script creates and always removes.
 *
 * Systems (scripts/bench/systems.ts): kernel (veth, kernel at both ends), bridge (kernel at both
 * ends, packets copied between two TUN devices by a small C process), tunstack (the stack serving
 * over TUN in its own process). Tests (scripts/bench/metrics.ts): bulk throughput with 1 and 4
 * flows both ways, over IPv4 and over IPv6 (the bulk6-* rows, with each system's IPv6/IPv4 ratio), 1-byte request/response latency percentiles, connections per second, memory
 * per idle connection with 10 000 held, ping RTT and flood loss, bulk throughput under 1, 5 and
 * 10 % loss each way (BPF on the client device's tcx hooks, scripts/bench-tools/tcploss.c, since
 * this kernel has no netem), and bulk throughput with 20 ms added each way, without loss and
 * with 5 % (a second instance of each system, whose packets tunbridge or the stack's --impair
 * hold back).
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
import { makeRelaySystem, RELAY_TESTS } from './bench/relay.ts';
import {
  type BenchResult,
  combineRounds,
  computeRatios,
  computeRelayRatios,
  measuredValue,
  renderSvg,
  renderTable,
  type SystemResult,
} from './bench/report.ts';
import {
  MAIN_SYSTEMS,
  makeSystem,
  RELAY_SYSTEMS,
  SYSTEM_NAMES,
  type System,
  type SystemName,
} from './bench/systems.ts';
import { buildTools, hasCommand, type Tools } from './bench/tools.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** Every test: the main section's, then the relay section's (scripts/bench/relay.ts). */
const ALL_TESTS: readonly Test[] = [...TESTS, ...RELAY_TESTS];

/** What `--tests ipv6` stands for: each IPv6 row and the IPv4 row it is compared with. */
const IPV6_TESTS: readonly string[] = TESTS.filter((t) => t.ipv6).flatMap((t) => [
  t.name.replace(/^bulk6-/, 'bulk-'),
  t.name,
]);

/** Does system `name` take part in `test`'s section? (kernel takes part in both.) */
const takesPart = (name: SystemName, test: Test): boolean =>
  (test.relay ? RELAY_SYSTEMS : MAIN_SYSTEMS).includes(name);

const USAGE = `usage: npm run bench -- [options]
  --quick              a few seconds per system (what CI runs; no 1 % and 10 % loss rows,
                       no delay rows, no relay section)
  --duration SECONDS   seconds per bulk-transfer test (default 5; 0.5 with --quick)
  --systems LIST       comma-separated subset of ${SYSTEM_NAMES.join(',')}
                       (default: all; ${MAIN_SYSTEMS.join(', ')} run the main tests,
                       ${RELAY_SYSTEMS.join(', ')} the relay-* tests)
  --source SOURCE      server→kernel bytes: http (GET /bytes/N on 80, default) or chargen (19)
  --tests LIST         comma-separated subset of
                       ${ALL_TESTS.map((t) => t.name).join(',')}
                       ('relay' stands for every relay-* test; 'ipv6' for the bulk6-* tests
                       and the IPv4 bulk-* rows their IPv6/IPv4 ratios are taken over)
  --rounds N           run every test N times per system and report the median
                       (default 3; 1 with --quick)
  --idle COUNT         idle connections to hold (default 10000; 300 with --quick)
  --kernel-cc NAME     kernel TCP's congestion control on the bench's sockets (default
                       cubic, as Linux's default and the stack's; 'inherit' keeps the
                       machine's default, bbr here)
  --delay MS           the delay-* rows' delay, each way (default 20: 40 ms more round trip;
                       bridge and tunstack only, this kernel has no netem for the veth)
  --relay-mb MB        megabytes each relay-down and relay-up moves (default 100; 10 with
                       --quick)
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
      delay: { type: 'string' },
      'relay-mb': { type: 'string' },
      'kernel-cc': { type: 'string', default: 'cubic' },
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
  const testNames = values.tests
    ?.split(',')
    .map((t) => t.trim())
    .flatMap((t) =>
      t === 'relay' ? RELAY_TESTS.map((x) => x.name) : t === 'ipv6' ? IPV6_TESTS : [t],
    );
  for (const t of testNames ?? []) {
    if (!ALL_TESTS.some((x) => x.name === t)) throw new Error(`unknown test ${t}\n${USAGE}`);
  }
  const kernelCc = values['kernel-cc'];
  if (!/^[a-z0-9_]+$/.test(kernelCc)) throw new Error(`bad --kernel-cc ${kernelCc}\n${USAGE}`);
  if (values.source !== 'http' && values.source !== 'chargen') {
    throw new Error(`--source must be http or chargen\n${USAGE}`);
  }
  return {
    systems: systems as SystemName[],
    rounds: Math.round(positive('rounds', values.rounds, quick ? 1 : 3, 20)),
    // The smoke run (--quick) leaves out the 1 % and 10 % loss rows: the same code as the 5 %
    // row, and at 10 % a half-second run can lose its SYN and move nothing; and the delay rows,
    // which set every system up a second time and need seconds to open a window at 40 ms; and
    // the relay section, which sets up four more systems and moves 100 MB each way on each.
    tests: testNames
      ? ALL_TESTS.filter((t) => testNames.includes(t.name))
      : ALL_TESTS.filter((t) => !(quick && (/^loss\d+-/.test(t.name) || t.delayed || t.relay))),
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
      delayMs: positive('delay', values.delay, 20, 1000),
      kernelCc,
      source: values.source,
      relayBytes: Math.round(
        positive('relay-mb', values['relay-mb'], quick ? 10 : 100, 10_000) * 1e6,
      ),
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

/** One instance of a system (as it is, or with the delay rows' delay), set up or not. */
interface Instance {
  system: System;
  /** Null when setup failed (or was not asked for). */
  ctx: TestContext | null;
  /** Why setup failed. */
  setupError: string | null;
  /** Ports that did not serve when probed, with the reason. */
  failing: Map<number, string>;
}

/** One system under measurement: its results so far and, once set up, where to reach it. */
interface Subject {
  name: SystemName;
  result: SystemResult;
  /** The system as it is (tests without `delayed`) and delayed (the delay rows), if needed. */
  plain: Instance | null;
  delayed: Instance | null;
  /** The system in the relay section (the relay-* tests), if needed. */
  relay: Instance | null;
  /** Every round's measurement of each metric. */
  samples: Partial<Record<MetricId, Measurement[]>>;
}

/** Set a system up and probe the ports the tests need; a failed setup is recorded, not thrown. */
async function prepare(
  system: System,
  tag: string,
  tools: Tools,
  opts: BenchOptions,
  tests: readonly Test[],
): Promise<Instance> {
  const instance: Instance = { system, ctx: null, setupError: null, failing: new Map() };
  progress(`${tag}: setting up (${system.description})`);
  try {
    const ep = await system.setup();
    instance.ctx = { ep, tools, opts };
    const ports = [...new Set(tests.flatMap((t) => t.ports(opts)))].sort((a, b) => a - b);
    instance.failing = await probePorts(instance.ctx, ports);
    for (const why of instance.failing.values()) progress(`${tag}: ${why}`);
  } catch (err) {
    instance.setupError = (err as Error).message;
    progress(`${tag}: setup failed: ${instance.setupError}`);
  }
  return instance;
}

/** Run one test against one system; every outcome becomes a measurement or an n/a. */
async function runTest(subject: Subject, test: Test, tag: string): Promise<void> {
  const started = Date.now();
  const naAll = (why: string) => Object.fromEntries(test.metrics.map((id) => [id, { na: why }]));
  let got: Partial<Record<MetricId, Measurement>>;
  const instance = test.relay ? subject.relay : test.delayed ? subject.delayed : subject.plain;
  const ctx = instance?.ctx ?? null;
  const blocked = ctx
    ? test
        .ports(ctx.opts)
        .map((p) => instance?.failing.get(p))
        .find((why) => why !== undefined)
    : (instance?.setupError ?? 'setup failed');
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
  const missing = ['ip', 'ping', process.env.CC ?? 'cc'].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} (apt-get install -y iproute2 iputils-ping gcc)`);
  }
  const startedAt = new Date();
  let tools: Tools | undefined;
  const systems: System[] = [];
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
  const lifetimeSeconds = cli.opts.quick ? 300 : 3600;
  // Each system as it is for the tests that want it so, and a second instance with every packet
  // delayed for the delay rows: only the instances the selected tests need are set up.
  // The relay section's systems are set up apart (scripts/bench/relay.ts), each in an egress
  // namespace of its own; `kernel` takes part in both sections, as two instances.
  const plainTests = cli.tests.filter((t) => !t.delayed && !t.relay);
  const delayedTests = cli.tests.filter((t) => t.delayed);
  const relayTests = cli.tests.filter((t) => t.relay);

  // Every system is set up first and the tests are interleaved (test 1 on each system, then
  // test 2...), so that a change in the machine's load during the run (two cores, shared)
  // falls on all systems alike rather than on whichever ran at that time.
  const subjects: Subject[] = [];
  let step = 0;
  const runsOf = (t: Test): number => (t.once ? 1 : cli.rounds);
  const total = cli.systems.reduce(
    (n, name) => n + cli.tests.filter((t) => takesPart(name, t)).reduce((m, t) => m + runsOf(t), 0),
    0,
  );
  try {
    for (const name of cli.systems) {
      const started = Date.now();
      const instance = async (
        allTests: readonly Test[],
        delayMs: number,
        section: 'main' | 'relay' = 'main',
      ) => {
        const tests = allTests.filter((t) => takesPart(name, t));
        if (tests.length === 0) return null;
        const kernelCc = cli.opts.kernelCc === 'inherit' ? undefined : cli.opts.kernelCc;
        const options = { tools: built, lifetimeSeconds, delayMs, kernelCc };
        const system =
          section === 'relay' ? makeRelaySystem(name, options) : makeSystem(name, options);
        systems.push(system);
        const tag =
          section === 'relay'
            ? `${name} (relay section)`
            : delayMs > 0
              ? `${name} +${delayMs} ms`
              : name;
        return prepare(system, tag, built, cli.opts, tests);
      };
      const plain = await instance(plainTests, 0);
      const delayed = await instance(delayedTests, cli.opts.delayMs);
      const relay = await instance(relayTests, 0, 'relay');
      const first = plain ?? delayed ?? relay;
      // A system none of the selected tests applies to (bridge for relay-* tests, say).
      if (first === null) continue;
      subjects.push({
        name,
        plain,
        delayed,
        relay,
        samples: {},
        result: {
          name,
          description: first?.system.description ?? name,
          server: first?.ctx?.ep.server ?? null,
          // Only the undelayed instance's failure stands for the whole system: the kernel has no
          // delay, and its delay rows alone say so.
          setupError: plain?.setupError ?? (plain === null ? (relay?.setupError ?? null) : null),
          metrics: {},
          seconds: (Date.now() - started) / 1000,
        },
      });
    }
    for (let round = 1; round <= cli.rounds; round++) {
      for (const test of cli.tests.filter((t) => round <= runsOf(t))) {
        for (const subject of subjects.filter((s) => takesPart(s.name, test))) {
          step += 1;
          const r = cli.rounds > 1 ? ` (round ${round})` : '';
          await runTest(subject, test, `${step}/${total} ${subject.name} ${test.name}${r}`);
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
    relayRatios: computeRelayRatios(results),
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
