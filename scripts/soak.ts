/**
 * Soak: K short HTTP connections and K raw ones through the real stack over TUN, the stack under a
 * small heap cap, its heap sampled (after a full GC) every N connections. A leak of even a few
 * hundred bytes per connection shows as a rising series, or as the stack dying of "JavaScript
 * heap out of memory" under the cap (issue 9: 4–5 KB per `Connection: close` request did).
 *
 *   node --import tsx scripts/soak.ts [--count 1000000] [--sample 50000] [--heap-mb 64]
 *        [--parallel 50] [--kinds http,raw] [--seconds 1800] [--warmup 0.2] [--slack-mb 8]
 *        [--json FILE]
 *
 *   http  wrk -t1 -c PARALLEL -H 'Connection: close' GET /bytes/100 on port 80 (node:http on the
 *         stack's sockets; the stack closes first, so its side ends in TIME_WAIT), for as long as
 *         N connections take at the last batch's rate (wrk counts time, not requests)
 *   raw   tcpcrr (scripts/bench-tools): connect, 32 bytes to echo (7), read them back, close
 *         (the client closes first)
 *
 * The script creates its own namespace (tsk-<pid>-…), runs `tunstack up` in it with
 * `--expose-gc --max-old-space-size=HEAP_MB` and `--stats-file`, runs every client inside it, and
 * removes the namespace at the end, also on failure or Ctrl-C. Bounded in count (K per kind) and
 * in time (--seconds for the whole run; each client run is killed past what is left).
 *
 * Output: one line per sample on stderr, a table on stdout, and with --json the whole result.
 * `flat` is judged after warm-up (the first `warmup` fraction of each kind, where the connection
 * table and the JIT fill up): every later sample within `slack-mb` of the first of them.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { controlPath } from '../src/cli/control.ts';
import { ownerPath } from '../src/cli/owner.ts';
import * as netns from '../src/link/netns.ts';
import { tuneClient } from './bench/systems.ts';
import { type Daemon, hasCommand, startDaemon } from './bench/tools.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const STACK_ADDR = '10.0.0.2';

export type SoakKind = 'http' | 'raw';

export interface SoakOptions {
  /** Connections per kind. */
  count: number;
  /** Connections between heap samples. */
  sample: number;
  /** The stack's --max-old-space-size, MB. */
  heapMb: number;
  /** Concurrent connections of the clients. */
  parallel: number;
  kinds: readonly SoakKind[];
  /** Bound on the whole run, seconds. */
  seconds: number;
  /** Fraction of each kind's connections counted as warm-up. */
  warmup: number;
  /** Largest rise of the heap after warm-up still called flat, MB. */
  slackMb: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

export const DEFAULT_SOAK: SoakOptions = {
  count: 1_000_000,
  sample: 50_000,
  heapMb: 64,
  parallel: 50,
  kinds: ['http', 'raw'],
  seconds: 1_800,
  warmup: 0.2,
  slackMb: 8,
};

export interface SoakSample {
  kind: SoakKind;
  /** Connections of this kind completed so far. */
  connections: number;
  /** JS heap in use after a full GC, bytes. */
  heapUsed: number;
  rss: number;
  /** Connections in the stack's table (TIME_WAIT included). */
  tcpConnections: number;
  /** Rate of the batch that ended at this sample. */
  perSecond: number;
  /** Client-side errors in the batch. */
  errors: number;
}

export interface SoakKindResult {
  kind: SoakKind;
  connections: number;
  seconds: number;
  perSecond: number;
  errors: number;
  /** Heap after warm-up: first sample, the largest, the last (bytes). */
  heapAfterWarmup: number | null;
  heapMax: number | null;
  heapLast: number | null;
  /** Largest rise over the first post-warm-up sample, bytes. */
  riseAfterWarmup: number | null;
  flat: boolean;
}

export interface SoakResult {
  options: SoakOptions;
  samples: SoakSample[];
  kinds: SoakKindResult[];
  /** The stack was still running when the clients were done (and stopped cleanly after). */
  survived: boolean;
  /** How the stack ended, if it ended on its own (out of memory…), with its last lines. */
  stackDied: string | null;
  /** The run stopped at --seconds before every connection was made. */
  timedOut: boolean;
  seconds: number;
}

// wrk runs for a duration, not a count (a thread's stop() leaves the main thread sleeping to the
// end): each batch runs for the time the last rate says N connections take, and the series
// records the count actually made. The script only prints the summary as JSON.
const HTTP_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"errors":%d,"status":%d,"seconds":%.6f}\\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration / 1e6))
end
`;

/** Run the soak; resolves with the series, whatever happened to the stack. */
export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...DEFAULT_SOAK, ...partial };
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  for (const cmd of ['ip', process.env.CC ?? 'cc', ...(o.kinds.includes('http') ? ['wrk'] : [])]) {
    if (!hasCommand(cmd)) throw new Error(`soak: ${cmd} is not installed`);
  }
  const start = Date.now();
  const deadline = start + o.seconds * 1000;
  const dir = await mkdtemp(join(tmpdir(), 'tunstack-soak-'));
  const ns = netns.uniqueName();
  let stack: Daemon | null = null;
  const samples: SoakSample[] = [];
  const kinds: SoakKindResult[] = [];
  let stackDied: string | null = null;
  let survived = false;
  let timedOut = false;
  const onSignal = () => {
    // Ctrl-C: stop the stack; the finally below removes the namespace.
    stack?.child.kill('SIGKILL');
  };
  process.once('SIGINT', onSignal);
  try {
    const crr = join(dir, 'tcpcrr');
    await netns.runChecked(
      [
        process.env.CC ?? 'cc',
        '-O2',
        '-Wall',
        '-pthread',
        '-o',
        crr,
        join(REPO, 'scripts/bench-tools/tcpcrr.c'),
      ],
      { timeoutMs: 60_000 },
    );
    const lua = join(dir, 'soak.lua');
    await writeFile(lua, HTTP_LUA);
    await netns.create(ns);
    // The raw client closes first, so TIME_WAIT lands on the kernel's side: a wide port range
    // and reuse of TIME_WAIT ports, as the bench's crr test has.
    await tuneClient(ns);
    const statsFile = join(dir, 'stats.json');
    stack = await startDaemon(
      [
        process.execPath,
        '--expose-gc',
        `--max-old-space-size=${o.heapMb}`,
        '--import',
        'tsx',
        join(REPO, 'src/cli/main.ts'),
        'up',
        '--netns',
        ns,
        '--apps',
        'http,echo',
        '--stats-file',
        statsFile,
        '--log-level',
        'info',
      ],
      { ready: /ready: stack/, timeoutMs: 30_000, cwd: REPO },
    );
    const daemon = stack;
    let exited = false;
    void daemon.exited.then(() => {
      exited = true;
    });
    const sampleHeap = async () => {
      const s = exited ? null : await requestStats(daemon.pid, statsFile);
      return s;
    };
    const first = await sampleHeap();
    if (first !== null)
      log(`soak: stack up in ${ns}, heap ${mb(first.heapUsed)} MB after GC, cap ${o.heapMb} MB`);

    for (const kind of o.kinds) {
      let done = 0;
      let errors = 0;
      let busy = 0;
      let rate = 0;
      while (done < o.count && !exited) {
        const left = (deadline - Date.now()) / 1000;
        if (left < 2) {
          timedOut = true;
          break;
        }
        const batch = Math.min(o.sample, o.count - done);
        const r =
          kind === 'http'
            ? await httpBatch(ns, lua, rate > 0 ? batch / rate : 2, o.parallel, left)
            : await rawBatch(ns, crr, batch, Math.min(o.parallel, 32), left);
        if (exited) break;
        if (r === null || r.connections === 0) {
          stackDied = stackDied ?? `the ${kind} client made no connection`;
          break;
        }
        done += r.connections;
        errors += r.errors;
        busy += r.seconds;
        rate = r.connections / r.seconds;
        const s = await sampleHeap();
        if (s === null) break;
        const sample: SoakSample = {
          kind,
          connections: done,
          heapUsed: s.heapUsed,
          rss: s.rss,
          tcpConnections: s.tcpConnections,
          perSecond: r.connections / r.seconds,
          errors: r.errors,
        };
        samples.push(sample);
        log(
          `soak: ${kind} ${done} conns  heap ${mb(s.heapUsed)} MB  rss ${mb(s.rss)} MB  ` +
            `table ${s.tcpConnections}  ${sample.perSecond.toFixed(0)} conn/s  errors ${r.errors}`,
        );
      }
      kinds.push(judge(kind, samples, done, busy, errors, o));
      if (exited || timedOut) break;
    }
    survived = !exited;
    if (exited) stackDied = `tunstack up exited: ${daemon.output.slice(-4).join(' | ')}`;
  } finally {
    process.off('SIGINT', onSignal);
    if (stack !== null) {
      const s = stack;
      const before = s.child.exitCode;
      await s.stop(5_000);
      // A clean stop is part of surviving: exit 0 on SIGTERM.
      if (before === null && s.child.exitCode !== 0) {
        survived = false;
        stackDied =
          stackDied ?? `tunstack up stopped with ${s.child.exitCode ?? s.child.signalCode}`;
      }
    }
    await netns.remove(ns).catch(() => {});
    // A stack that died (out of heap: V8 aborts, no 'exit' hook) leaves its socket and owner
    // file behind; the namespace name is ours alone, so remove them.
    await rm(controlPath(ns), { force: true });
    await rm(ownerPath(ns), { force: true });
    await rm(dir, { recursive: true, force: true });
  }
  return {
    options: o,
    samples,
    kinds,
    survived,
    stackDied,
    timedOut,
    seconds: (Date.now() - start) / 1000,
  };
}

function judge(
  kind: SoakKind,
  samples: readonly SoakSample[],
  connections: number,
  seconds: number,
  errors: number,
  o: SoakOptions,
): SoakKindResult {
  const mine = samples.filter((s) => s.kind === kind);
  const after = mine.filter((s) => s.connections > o.warmup * o.count);
  const base = after[0]?.heapUsed ?? null;
  const max = after.length > 0 ? Math.max(...after.map((s) => s.heapUsed)) : null;
  const rise = base === null || max === null ? null : max - base;
  return {
    kind,
    connections,
    seconds,
    perSecond: seconds > 0 ? connections / seconds : 0,
    errors,
    heapAfterWarmup: base,
    heapMax: max,
    heapLast: after.at(-1)?.heapUsed ?? null,
    riseAfterWarmup: rise,
    flat:
      connections >= o.count && after.length >= 2 && rise !== null && rise <= o.slackMb * 2 ** 20,
  };
}

interface Batch {
  connections: number;
  errors: number;
  seconds: number;
}

/** wrk with Connection: close for `seconds` (whole seconds, 1..60, within what is left). */
async function httpBatch(
  ns: string,
  lua: string,
  seconds: number,
  parallel: number,
  left: number,
): Promise<Batch | null> {
  const d = Math.max(1, Math.min(60, Math.round(seconds), Math.floor(left) - 1));
  const r = await netns.exec(
    ns,
    [
      'wrk',
      '-t1',
      `-c${parallel}`,
      `-d${d}s`,
      '--timeout',
      '5s',
      '-H',
      'Connection: close',
      '-s',
      lua,
      `http://${STACK_ADDR}/bytes/100`,
    ],
    { timeoutMs: (d + 15) * 1000 },
  );
  const j = lastJson(r.stdout);
  if (j === null) return null;
  return {
    connections: Number(j.requests),
    errors: Number(j.errors) + Number(j.status),
    seconds: Number(j.seconds),
  };
}

/** tcpcrr: `n` connect/echo/close transactions. */
async function rawBatch(
  ns: string,
  tool: string,
  n: number,
  parallel: number,
  left: number,
): Promise<Batch | null> {
  const r = await netns.exec(
    ns,
    [
      tool,
      '--addr',
      STACK_ADDR,
      '--port',
      '7',
      '--count',
      String(n),
      '--parallel',
      String(parallel),
      '--seconds',
      String(Math.max(1, Math.floor(left))),
    ],
    { timeoutMs: Math.ceil((left + 15) * 1000) },
  );
  const j = lastJson(r.stdout);
  if (j === null) return null;
  return {
    connections: Number(j.transactions),
    errors: Number(j.errors),
    seconds: Number(j.seconds),
  };
}

function lastJson(out: string): Record<string, unknown> | null {
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

interface StatsFile {
  heapUsed: number;
  rss: number;
  tcpConnections: number;
}

/** SIGUSR2 and the --stats-file it makes `up` write (after a full GC); null if none came. */
async function requestStats(pid: number, file: string): Promise<StatsFile | null> {
  const mtime = () =>
    stat(file).then(
      (s) => s.mtimeMs,
      () => 0,
    );
  const before = await mtime();
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return null;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    if ((await mtime()) > before) {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as StatsFile;
      } catch {
        return null;
      }
    }
  }
  return null;
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** The table printed at the end. */
export function formatSoak(r: SoakResult): string {
  const lines = [
    `soak: ${r.options.count} connections per kind, heap cap ${r.options.heapMb} MB, ` +
      `${r.seconds.toFixed(0)} s; the stack ${r.survived ? 'survived' : `did not survive (${r.stackDied})`}` +
      (r.timedOut ? '; stopped at --seconds' : ''),
    'kind  connections  conn/s  errors  heap after warm-up  max     last    rise    flat',
  ];
  for (const k of r.kinds) {
    const h = (v: number | null) => (v === null ? 'n/a' : `${mb(v)} MB`).padEnd(8);
    lines.push(
      `${k.kind.padEnd(6)}${String(k.connections).padEnd(13)}${k.perSecond.toFixed(0).padEnd(8)}` +
        `${String(k.errors).padEnd(8)}${h(k.heapAfterWarmup).padEnd(20)}${h(k.heapMax)}` +
        `${h(k.heapLast)}${h(k.riseAfterWarmup)}${k.flat ? 'yes' : 'NO'}`,
    );
  }
  lines.push('', 'series (connections: heap MB after GC / table):');
  for (const kind of r.options.kinds) {
    const s = r.samples.filter((x) => x.kind === kind);
    if (s.length > 0)
      lines.push(
        `${kind}: ${s.map((x) => `${x.connections}: ${mb(x.heapUsed)}/${x.tcpConnections}`).join(', ')}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string' },
      sample: { type: 'string' },
      'heap-mb': { type: 'string' },
      parallel: { type: 'string' },
      kinds: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'slack-mb': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'node --import tsx scripts/soak.ts [--count 1000000] [--sample 50000] [--heap-mb 64] ' +
        '[--parallel 50] [--kinds http,raw] [--seconds 1800] [--warmup 0.2] [--slack-mb 8] [--json FILE]\n',
    );
    return;
  }
  const n = (v: string | undefined, d: number, min: number, max: number, name: string): number => {
    if (v === undefined) return d;
    const x = Number(v);
    if (!Number.isFinite(x) || x < min || x > max)
      throw new Error(`--${name} must be a number in ${min}..${max}`);
    return x;
  };
  const kinds = (values.kinds ?? 'http,raw').split(',').filter(Boolean);
  for (const k of kinds)
    if (k !== 'http' && k !== 'raw') throw new Error(`--kinds: unknown kind ${k} (http, raw)`);
  const d = DEFAULT_SOAK;
  const result = await runSoak({
    count: Math.floor(n(values.count, d.count, 1, 1e8, 'count')),
    sample: Math.floor(n(values.sample, d.sample, 100, 1e8, 'sample')),
    heapMb: Math.floor(n(values['heap-mb'], d.heapMb, 16, 65_536, 'heap-mb')),
    parallel: Math.floor(n(values.parallel, d.parallel, 1, 1_000, 'parallel')),
    kinds: kinds as SoakKind[],
    seconds: n(values.seconds, d.seconds, 5, 86_400, 'seconds'),
    warmup: n(values.warmup, d.warmup, 0, 0.9, 'warmup'),
    slackMb: n(values['slack-mb'], d.slackMb, 0, 65_536, 'slack-mb'),
  });
  process.stdout.write(formatSoak(result));
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 1)}\n`);
  if (!result.survived || result.kinds.some((k) => !k.flat)) process.exitCode = 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: Error) => {
    process.stderr.write(`soak: ${err.message}\n`);
    process.exitCode = 1;
  });
}
