/**
 * What the bench measures, and how. Each test runs the kernel-side C tools (or ping) inside the
 * client namespace against the system's server at 10.0.0.2 (the bulk6-* tests: at fd00::2, over
 * IPv6), and yields one or more metrics.
 * Every test is bounded in count and in time; a test the system cannot serve yet yields 'n/a'
 * with the reason instead of a number.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import * as netns from '../../src/link/netns.ts';
import type { Endpoint, MemorySample } from './systems.ts';
import { runTool, startDaemon, type ToolOutput, type Tools } from './tools.ts';

export type Unit = 'bit/s' | 'us' | 'ms' | 'conn/s' | 'B/conn' | 'B/100k' | '%' | 'conns';

export interface MetricDef {
  id: string;
  label: string;
  unit: Unit;
  /** Which way is better; 'none' for counts that only describe the run. */
  better: 'higher' | 'lower' | 'none';
  /**
   * 'relay': a metric of the relay section (scripts/bench/relay.ts), measured on the relay
   * section's systems and printed in a table of its own; absent: the main section.
   */
  section?: 'relay';
  /**
   * The same measurement over IPv4, for a metric measured over IPv6 (the bulk6-* rows): the
   * report prints each system's IPv6/IPv4 ratio in the same run (issue 12: within 10 %).
   */
  ipv4?: string;
}

export const METRICS = [
  { id: 'bulk-up-1', label: 'bulk kernel→server, 1 flow', unit: 'bit/s', better: 'higher' },
  { id: 'bulk-up-4', label: 'bulk kernel→server, 4 flows', unit: 'bit/s', better: 'higher' },
  { id: 'bulk-down-1', label: 'bulk server→kernel, 1 flow', unit: 'bit/s', better: 'higher' },
  { id: 'bulk-down-4', label: 'bulk server→kernel, 4 flows', unit: 'bit/s', better: 'higher' },
  {
    id: 'bulk6-up-1',
    label: 'IPv6 bulk kernel→server, 1 flow',
    unit: 'bit/s',
    better: 'higher',
    ipv4: 'bulk-up-1',
  },
  {
    id: 'bulk6-up-4',
    label: 'IPv6 bulk kernel→server, 4 flows',
    unit: 'bit/s',
    better: 'higher',
    ipv4: 'bulk-up-4',
  },
  {
    id: 'bulk6-down-1',
    label: 'IPv6 bulk server→kernel, 1 flow',
    unit: 'bit/s',
    better: 'higher',
    ipv4: 'bulk-down-1',
  },
  {
    id: 'bulk6-down-4',
    label: 'IPv6 bulk server→kernel, 4 flows',
    unit: 'bit/s',
    better: 'higher',
    ipv4: 'bulk-down-4',
  },
  { id: 'loss-up-1', label: 'bulk kernel→server, 5% loss', unit: 'bit/s', better: 'higher' },
  { id: 'loss-down-1', label: 'bulk server→kernel, 5% loss', unit: 'bit/s', better: 'higher' },
  { id: 'loss1-up-1', label: 'bulk kernel→server, 1% loss', unit: 'bit/s', better: 'higher' },
  { id: 'loss1-down-1', label: 'bulk server→kernel, 1% loss', unit: 'bit/s', better: 'higher' },
  { id: 'loss10-up-1', label: 'bulk kernel→server, 10% loss', unit: 'bit/s', better: 'higher' },
  { id: 'loss10-down-1', label: 'bulk server→kernel, 10% loss', unit: 'bit/s', better: 'higher' },
  { id: 'delay-up-1', label: 'bulk kernel→server, delay', unit: 'bit/s', better: 'higher' },
  { id: 'delay-down-1', label: 'bulk server→kernel, delay', unit: 'bit/s', better: 'higher' },
  {
    id: 'delay-loss-up-1',
    label: 'bulk kernel→server, delay, 5% loss',
    unit: 'bit/s',
    better: 'higher',
  },
  {
    id: 'delay-loss-down-1',
    label: 'bulk server→kernel, delay, 5% loss',
    unit: 'bit/s',
    better: 'higher',
  },
  { id: 'rr-p50', label: '1-byte request/response p50', unit: 'us', better: 'lower' },
  { id: 'rr-p99', label: '1-byte request/response p99', unit: 'us', better: 'lower' },
  { id: 'rr-p999', label: '1-byte request/response p99.9', unit: 'us', better: 'lower' },
  { id: 'crr', label: 'connect/request/close rate', unit: 'conn/s', better: 'higher' },
  {
    id: 'crr-heap',
    label: 'JS heap growth per 100 000 closed conns',
    unit: 'B/100k',
    better: 'lower',
  },
  { id: 'idle-opened', label: 'idle connections held', unit: 'conns', better: 'none' },
  { id: 'idle-rss', label: 'server RSS per idle connection', unit: 'B/conn', better: 'lower' },
  { id: 'idle-heap', label: 'JS heap per idle connection', unit: 'B/conn', better: 'lower' },
  {
    id: 'idle-slab',
    label: 'kernel socket slabs per idle conn',
    unit: 'B/conn',
    better: 'lower',
  },
  { id: 'idle-rr-p50', label: 'request/response p50, conns held', unit: 'us', better: 'lower' },
  { id: 'idle-rr-p99', label: 'request/response p99, conns held', unit: 'us', better: 'lower' },
  { id: 'ping-rtt', label: 'ping RTT (average)', unit: 'ms', better: 'lower' },
  { id: 'flood-loss', label: 'ping -f loss', unit: '%', better: 'lower' },
  {
    id: 'relay-down',
    label: 'relayed download (HTTP GET)',
    unit: 'bit/s',
    better: 'higher',
    section: 'relay',
  },
  {
    id: 'relay-up',
    label: 'relayed upload (to discard)',
    unit: 'bit/s',
    better: 'higher',
    section: 'relay',
  },
  {
    id: 'relay-rr-p50',
    label: 'relayed 1-byte request/response p50',
    unit: 'us',
    better: 'lower',
    section: 'relay',
  },
  {
    id: 'relay-rr-p99',
    label: 'relayed 1-byte request/response p99',
    unit: 'us',
    better: 'lower',
    section: 'relay',
  },
  {
    id: 'relay-crr',
    label: 'relayed connect/request/close rate',
    unit: 'conn/s',
    better: 'higher',
    section: 'relay',
  },
] as const satisfies readonly MetricDef[];

export type MetricId = (typeof METRICS)[number]['id'];

/** A measured number with what the tool reported, or why there is no number. */
export type Measurement = { value: number; detail?: unknown } | { na: string };

export interface BenchOptions {
  quick: boolean;
  /** Bound in seconds on each count-bounded test (round trips, connections, pings). */
  boundSeconds: number;
  /** How long a sender waits for the server to close after its FIN. */
  drainSeconds: number;
  /** Seconds per bulk-transfer test. */
  bulkSeconds: number;
  rrCount: number;
  crrCount: number;
  crrParallel: number;
  idleCount: number;
  pingCount: number;
  floodCount: number;
  /** Percent of TCP packets dropped each way in the loss tests. */
  lossPercent: number;
  /** The delay tests' delay, ms each way (the round trip grows by twice this). */
  delayMs: number;
  /**
   * Kernel TCP's congestion control on the clients' and tcpserve's sockets (TCP_CONGESTION), or
   * 'inherit': the namespace's default, the machine's (bbr here).
   */
  kernelCc: string;
  /** Where server→kernel bytes come from: HTTP `GET /bytes/N` on 80, or chargen on 19. */
  source: 'http' | 'chargen';
  /** Bytes each relayed download and upload moves (the relay section; 100 MB by default). */
  relayBytes: number;
}

export interface TestContext {
  ep: Endpoint;
  tools: Tools;
  opts: BenchOptions;
}

export interface Test {
  name: string;
  metrics: readonly MetricId[];
  /** TCP ports that must accept connections for this test to mean anything. */
  ports(opts: BenchOptions): readonly number[];
  /**
   * Needs the system set up with every packet delayed by `delayMs` each way (a second instance
   * of it, beside the undelayed one).
   */
  delayed?: boolean;
  /**
   * Run in the first round only: memory growth is measured from a fresh process (a second round
   * reuses what the first one freed and shows ~0).
   */
  once?: boolean;
  /**
   * A test of the relay section: run on the relay section's systems (RELAY_SYSTEMS), each set
   * up as a client namespace given its network from an egress namespace (scripts/bench/relay.ts).
   */
  relay?: boolean;
  /** A test over IPv6 (the bulk6-* rows; `--tests ipv6` stands for them). */
  ipv6?: boolean;
  run(ctx: TestContext): Promise<Partial<Record<MetricId, Measurement>>>;
}

export const na = (why: string): Measurement => ({ na: why });

export function num(json: Record<string, unknown>, key: string): number {
  const v = json[key];
  return typeof v === 'number' ? v : Number.NaN;
}

/**
 * Run a client tool in the client namespace against the server's `port` (at `addr`: the
 * server's IPv4 address unless given), bounded by the tool's own `--seconds` plus
 * `extraSeconds` (the driver kills it 20 s after that).
 */
export function client(
  { ep, tools }: TestContext,
  tool: 'tcpbulk' | 'tcprr' | 'tcpcrr',
  port: number,
  seconds: number,
  args: readonly string[],
  extraSeconds = 0,
  addr = ep.serverAddr,
): Promise<ToolOutput> {
  return runTool(
    ep.clientNs,
    [
      tools.path(tool),
      '--addr',
      addr,
      '--port',
      String(port),
      '--seconds',
      String(seconds),
      ...args,
    ],
    (seconds + extraSeconds + 20) * 1000,
  );
}

// ---------------------------------------------------------------------------------------------
// Bulk transfer
// ---------------------------------------------------------------------------------------------

const sourcePort = (o: BenchOptions): number => (o.source === 'http' ? 80 : 19);
const bulkPorts = (direction: 'up' | 'down', o: BenchOptions): number[] =>
  direction === 'up' ? [9] : [sourcePort(o)];

/** `addr`: where the server is (its IPv4 address unless given; bulk6Test: its IPv6 one). */
async function bulk(
  ctx: TestContext,
  direction: 'up' | 'down',
  flows: number,
  addr = ctx.ep.serverAddr,
): Promise<Measurement> {
  const { opts } = ctx;
  const drainSeconds = opts.drainSeconds;
  const port = direction === 'up' ? 9 : sourcePort(opts);
  const out = await client(
    ctx,
    'tcpbulk',
    port,
    opts.bulkSeconds,
    [
      '--flows',
      String(flows),
      '--drain-seconds',
      String(drainSeconds),
      '--mode',
      direction === 'up' ? 'send' : 'recv',
      ...(direction === 'down' && opts.source === 'http' ? ['--http'] : []),
      ...(opts.kernelCc !== 'inherit' ? ['--cc', opts.kernelCc] : []),
    ],
    drainSeconds,
    addr,
  );
  if (!out.ok) return na(out.why);
  const j = out.json;
  if (num(j, 'stalled') > 0) {
    return na(`the server did not close after the sender's FIN within ${drainSeconds} s`);
  }
  if (!(num(j, 'bytes') > 0)) return na(`no bytes moved (${JSON.stringify(j)})`);
  return { value: num(j, 'bitsPerSecond'), detail: j };
}

/**
 * Drop `percent` % of TCP packets each way on the client namespace's device (this kernel has no
 * netem), run fn, and remove the drop whatever happens. fn's measurement gets the drop counts.
 *
 * tcploss (scripts/bench-tools/tcploss.c) does it with BPF on the device's tcx hooks, where
 * neither end can tell a drop from a loss on the wire. nftables' output hook, used before, is
 * not such a place: a kernel sender whose segment it drops sees its transmit fail, keeps the
 * segment unsent and sends it again at once, with no retransmission and no loss response (a
 * bridge loss-up-1 run retransmitted 470 of 126 155 segments with 5 % dropped), so the
 * kernel→server rows measured ACK loss only.
 *
 * A kernel TCP sender hands the device GSO batches (up to 64 KiB) that are cut into segments
 * after the hook, and a veth pair passes them across whole, so a drop would be of up to 45
 * segments at once. For the loss test every device of the topology is limited to one segment per
 * batch (gso_max_segs 1) so that each drop is one wire-sized packet.
 */
async function withLoss(
  ctx: TestContext,
  percent: number,
  fn: () => Promise<Measurement>,
): Promise<Measurement> {
  const { ep, tools } = ctx;
  const dev = await clientDevice(ep.clientNs);
  const restore = await limitGso(ep.namespaces);
  try {
    const loss = await startDaemon(
      [
        tools.path('tcploss'),
        '--netns',
        ep.clientNs,
        '--dev',
        dev,
        '--percent',
        String(percent),
        '--max-seconds',
        String(ctx.opts.bulkSeconds + ctx.opts.drainSeconds + 60),
      ],
      { ready: /^ready$/, timeoutMs: 5_000 },
    );
    let m: Measurement;
    try {
      m = await fn();
    } finally {
      await loss.stop();
    }
    const counts = loss.output.map(parseJsonLine).find((j) => j !== null && 'egressTcp' in j);
    return 'value' in m ? { ...m, detail: { ...(m.detail as object), loss: counts ?? null } } : m;
  } finally {
    await restore();
  }
}

function parseJsonLine(line: string): Record<string, unknown> | null {
  try {
    const j = JSON.parse(line) as unknown;
    return typeof j === 'object' && j !== null ? (j as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The client namespace's one device besides lo (bench0, or the stack's TUN device). */
async function clientDevice(ns: string): Promise<string> {
  const out = await netns.ip(ns, ['-o', 'link', 'show']);
  const devs = out
    .split('\n')
    .map((line) => /^\d+: ([^:@]+)[@:]/.exec(line)?.[1])
    .filter((d): d is string => d !== undefined && d !== 'lo');
  if (devs.length !== 1) {
    throw new Error(`expected one device besides lo in ${ns}, found ${devs.join(', ') || 'none'}`);
  }
  return devs[0];
}

/** Set gso_max_segs 1 on every device but lo in `namespaces`; returns how to undo it. */
async function limitGso(namespaces: readonly string[]): Promise<() => Promise<void>> {
  const undo: { ns: string; dev: string; segs: string }[] = [];
  for (const ns of namespaces) {
    const out = await netns.ip(ns, ['-d', '-o', 'link', 'show']);
    for (const line of out.split('\n')) {
      const m = /^\d+: ([^:@]+)[@:].*?gso_max_segs (\d+)/.exec(line);
      if (!m || m[1] === 'lo') continue;
      await netns.ip(ns, ['link', 'set', 'dev', m[1], 'gso_max_segs', '1']);
      undo.push({ ns, dev: m[1], segs: m[2] });
    }
  }
  return async () => {
    for (const u of undo) {
      await netns.ip(u.ns, ['link', 'set', 'dev', u.dev, 'gso_max_segs', u.segs]).catch(() => {});
    }
  };
}

const bulkTest = (direction: 'up' | 'down', flows: 1 | 4): Test => ({
  name: `bulk-${direction}-${flows}`,
  metrics: [`bulk-${direction}-${flows}`],
  ports: (o) => bulkPorts(direction, o),
  run: async (ctx) => ({ [`bulk-${direction}-${flows}`]: await bulk(ctx, direction, flows) }),
});

/**
 * The same bulk transfer over IPv6, to the server's IPv6 address (fd00::2: the kernel systems'
 * veth or TUN devices carry fd00::1/64 and fd00::2/64 beside the IPv4 addresses; `tunstack up`
 * is dual-stack by default). Run right after its IPv4 row, so both see the same load.
 */
const bulk6Test = (direction: 'up' | 'down', flows: 1 | 4): Test => ({
  name: `bulk6-${direction}-${flows}`,
  metrics: [`bulk6-${direction}-${flows}`],
  ipv6: true,
  ports: (o) => bulkPorts(direction, o),
  run: async (ctx) => {
    const addr = ctx.ep.serverAddr6;
    return {
      [`bulk6-${direction}-${flows}`]:
        addr === undefined
          ? na(`no IPv6: ${ctx.ep.noIpv6 ?? 'the system has no IPv6 address'}`)
          : await bulk(ctx, direction, flows, addr),
    };
  },
});

const lossTest = (direction: 'up' | 'down'): Test => ({
  name: `loss-${direction}-1`,
  metrics: [`loss-${direction}-1`],
  ports: (o) => bulkPorts(direction, o),
  run: async (ctx) => ({
    [`loss-${direction}-1`]: await withLoss(ctx, ctx.opts.lossPercent, () =>
      bulk(ctx, direction, 1),
    ),
  }),
});

/** The same at a fixed 1 % or 10 % (issue 11: a sender is judged at more than one loss rate). */
const lossAtTest = (direction: 'up' | 'down', percent: 1 | 10): Test => ({
  name: `loss${percent}-${direction}-1`,
  metrics: [`loss${percent}-${direction}-1`],
  ports: (o) => bulkPorts(direction, o),
  run: async (ctx) => ({
    [`loss${percent}-${direction}-1`]: await withLoss(ctx, percent, () => bulk(ctx, direction, 1)),
  }),
});

/**
 * Bulk over a path with a round trip of 2 × delayMs more (issue 11: real paths are far longer
 * than a veth's 15 µs), without loss or with lossPercent each way as the loss rows.
 */
const delayTest = (direction: 'up' | 'down', lossy: boolean): Test => {
  const id = `delay${lossy ? '-loss' : ''}-${direction}-1` as MetricId;
  return {
    name: id,
    metrics: [id],
    delayed: true,
    ports: (o) => bulkPorts(direction, o),
    run: async (ctx) => ({
      [id]: lossy
        ? await withLoss(ctx, ctx.opts.lossPercent, () => bulk(ctx, direction, 1))
        : await bulk(ctx, direction, 1),
    }),
  };
};

// ---------------------------------------------------------------------------------------------
// Latency and connection rate
// ---------------------------------------------------------------------------------------------

const rrTest: Test = {
  name: 'rr',
  metrics: ['rr-p50', 'rr-p99', 'rr-p999'],
  ports: () => [7],
  async run(ctx) {
    const { opts } = ctx;
    const seconds = opts.boundSeconds;
    const out = await client(ctx, 'tcprr', 7, seconds, ['--count', String(opts.rrCount)]);
    if (!out.ok) return { 'rr-p50': na(out.why), 'rr-p99': na(out.why), 'rr-p999': na(out.why) };
    const j = out.json;
    const short =
      num(j, 'roundTrips') < opts.rrCount
        ? `only ${num(j, 'roundTrips')} of ${opts.rrCount} round trips in ${seconds} s`
        : null;
    const m = (key: string): Measurement => (short ? na(short) : { value: num(j, key), detail: j });
    return { 'rr-p50': m('p50Us'), 'rr-p99': m('p99Us'), 'rr-p999': m('p999Us') };
  },
};

const crrTest: Test = {
  name: 'crr',
  metrics: ['crr', 'crr-heap'],
  ports: () => [7],
  async run(ctx) {
    const { opts } = ctx;
    const seconds = opts.boundSeconds;
    // The server's heap after a full GC before and after: what closed connections leave behind
    // (issue 9: a leak showed as kilobytes per connection). Only tunstack reports a heap.
    const before = await ctx.ep.sampleMemory();
    const out = await client(ctx, 'tcpcrr', 7, seconds, [
      '--count',
      String(opts.crrCount),
      '--parallel',
      String(opts.crrParallel),
    ]);
    if (!out.ok) return { crr: na(out.why), 'crr-heap': na(out.why) };
    const j = out.json;
    const n = num(j, 'transactions');
    if (!(n > 0)) {
      const why = na(`no transaction completed (${j.firstError})`);
      return { crr: why, 'crr-heap': why };
    }
    const after = await ctx.ep.sampleMemory();
    const h0 = before?.heapUsedBytes ?? null;
    const h1 = after?.heapUsedBytes ?? null;
    return {
      crr: { value: num(j, 'perSecond'), detail: j },
      'crr-heap':
        h0 === null || h1 === null
          ? na('the server reports no JS heap')
          : {
              value: ((h1 - h0) / n) * 100_000,
              detail: {
                heapBefore: h0,
                heapAfter: h1,
                closed: n,
                tcpConnectionsAfter: after?.tcpConnections ?? null,
              },
            },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Memory per connection
// ---------------------------------------------------------------------------------------------

/**
 * The slab caches that grow with each open TCP socket: the socket itself (struct tcp_sock),
 * its inode, its struct file and its epoll item. Dentries are left out: every socket has one, but
 * file-system activity elsewhere on the machine moves that cache far more than 10 000 sockets do.
 */
const SOCKET_SLABS = ['TCP', 'sock_inode_cache', 'filp', 'eventpoll_epi'];

/**
 * Bytes in use in SOCKET_SLABS (active objects × object size, /proc/slabinfo). Global, not per
 * namespace: it counts the kernel end of every connection (both ends for kernel and bridge, the
 * client end for tunstack) and any other socket opened meanwhile.
 */
export async function socketSlabBytes(slabinfo?: string): Promise<number> {
  const text = slabinfo ?? (await readFile('/proc/slabinfo', 'utf8'));
  let total = 0;
  for (const line of text.split('\n')) {
    // name <active_objs> <num_objs> <objsize> ...
    const f = line.trim().split(/\s+/);
    if (SOCKET_SLABS.includes(f[0])) total += Number(f[1]) * Number(f[3]);
  }
  return total;
}

/**
 * socketSlabBytes() once it stops moving (two readings 250 ms apart within 64 KiB, at most 5 s):
 * sockets closed by the previous test are freed in the background (FIN exchange, RCU), and a
 * baseline taken meanwhile would charge their freeing to this test.
 */
async function settledSocketSlabBytes(): Promise<number> {
  let last = await socketSlabBytes();
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await socketSlabBytes();
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return last;
}

/**
 * Run tcpidle: it opens the connections, measures a round trip meanwhile, prints its JSON line and
 * holds the connections until we write a line to its stdin. We sample the server's memory while
 * they are held.
 */
async function holdIdle(ctx: TestContext, whileHeld: () => Promise<void>): Promise<ToolOutput> {
  const { ep, tools, opts } = ctx;
  const openSeconds = opts.boundSeconds;
  const holdSeconds = 30;
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ep.clientNs,
      tools.path('tcpidle'),
      '--addr',
      ep.serverAddr,
      '--port',
      '9',
      '--rr-port',
      '7',
      '--count',
      String(opts.idleCount),
      '--seconds',
      String(openSeconds),
      '--rr-count',
      String(opts.quick ? 200 : 1000),
      '--rr-warmup',
      String(opts.quick ? 300 : 3000),
      '--rr-seconds',
      String(openSeconds),
      '--hold-seconds',
      String(holdSeconds),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const killer = setTimeout(
    () => child.kill('SIGKILL'),
    (2 * openSeconds + holdSeconds + 20) * 1000,
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string | null>((resolve) => {
      lines.once('line', resolve);
      lines.once('close', () => resolve(null));
    });
    if (first === null) {
      const code = await exited;
      return { ok: false, why: `tcpidle exited ${code}: ${stderr.trim()}` };
    }
    const json = JSON.parse(first) as Record<string, unknown>;
    if (typeof json.error === 'string') return { ok: false, why: json.error };
    await whileHeld();
    return { ok: true, json };
  } finally {
    child.stdin.end('\n');
    await exited;
    clearTimeout(killer);
  }
}

const perConn = (held: number | null, base: number | null, n: number): Measurement =>
  held === null || base === null || !Number.isFinite(held - base)
    ? na('not reported by the server')
    : { value: (held - base) / n, detail: { before: base, held, connections: n } };

const idleTest: Test = {
  name: 'idle',
  metrics: ['idle-opened', 'idle-rss', 'idle-heap', 'idle-slab', 'idle-rr-p50', 'idle-rr-p99'],
  ports: () => [7, 9],
  once: true,
  async run(ctx) {
    const base: MemorySample | null = await ctx.ep.sampleMemory();
    const slab0 = await settledSocketSlabBytes();
    let held: MemorySample | null = null;
    let slab1 = Number.NaN;
    const out = await holdIdle(ctx, async () => {
      await new Promise((r) => setTimeout(r, 500)); // let the last handshakes settle
      held = await ctx.ep.sampleMemory();
      slab1 = await settledSocketSlabBytes();
    });
    if (!out.ok) {
      const m = na(out.why);
      return {
        'idle-opened': m,
        'idle-rss': m,
        'idle-heap': m,
        'idle-slab': m,
        'idle-rr-p50': m,
        'idle-rr-p99': m,
      };
    }
    const j = out.json;
    const opened = num(j, 'opened');
    const h = held as MemorySample | null;
    const rr = (j.rr ?? {}) as Record<string, unknown>;
    const rrOk = typeof j.rrError !== 'string' && num(rr, 'samples') > 0;
    const rrM = (key: string): Measurement =>
      rrOk ? { value: num(rr, key), detail: rr } : na(String(j.rrError ?? 'no round trip'));
    const noConns = na(`no idle connection opened (${j.firstError ?? 'unknown'})`);
    return {
      'idle-opened': { value: opened, detail: j },
      'idle-rss':
        opened > 0 ? perConn(h?.rssBytes ?? null, base?.rssBytes ?? null, opened) : noConns,
      'idle-heap':
        opened > 0
          ? perConn(h?.heapUsedBytes ?? null, base?.heapUsedBytes ?? null, opened)
          : noConns,
      'idle-slab': opened > 0 ? perConn(slab1, slab0, opened) : noConns,
      'idle-rr-p50': rrM('p50Us'),
      'idle-rr-p99': rrM('p99Us'),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// ICMP
// ---------------------------------------------------------------------------------------------

interface PingSummary {
  lossPercent: number | null;
  avgMs: number | null;
  /** The last two lines of ping's output (counts, rtt), kept as the measurement's detail. */
  tail: string[];
  stderr: string;
}

/** Run `ping -n -q ARGS -w DEADLINE addr` in the client namespace and parse its summary. */
async function ping(ep: Endpoint, args: readonly string[], deadline: number): Promise<PingSummary> {
  const r = await netns.exec(
    ep.clientNs,
    ['ping', '-n', '-q', ...args, '-w', String(deadline), ep.serverAddr],
    { timeoutMs: (deadline + 5) * 1000 },
  );
  const loss = /([\d.]+)% packet loss/.exec(r.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(r.stdout);
  return {
    lossPercent: loss ? Number(loss[1]) : null,
    avgMs: rtt ? Number(rtt[1]) : null,
    tail: r.stdout.trim().split('\n').slice(-2),
    stderr: r.stderr.trim(),
  };
}

const pingTest: Test = {
  name: 'ping',
  metrics: ['ping-rtt', 'flood-loss'],
  ports: () => [],
  async run({ ep, opts }) {
    const p = await ping(
      ep,
      ['-c', String(opts.pingCount), '-i', '0.01'],
      Math.ceil(opts.pingCount * 0.01 + 3),
    );
    const f = await ping(ep, ['-f', '-c', String(opts.floodCount)], opts.boundSeconds);
    return {
      'ping-rtt':
        p.avgMs !== null
          ? { value: p.avgMs, detail: p.tail }
          : na(`no reply (${p.tail.join(' ')})`),
      'flood-loss':
        p.avgMs === null
          ? na('no ping reply')
          : f.lossPercent !== null
            ? { value: f.lossPercent, detail: f.tail }
            : na(`ping -f printed no summary: ${f.stderr}`),
    };
  },
};

/** Every test, in the order run: ICMP first (it works before TCP does), then TCP. */
export const TESTS: readonly Test[] = [
  pingTest,
  // Each IPv6 row right after its IPv4 row: the pair sees the same load (the ratio is the point).
  bulkTest('up', 1),
  bulk6Test('up', 1),
  bulkTest('up', 4),
  bulk6Test('up', 4),
  bulkTest('down', 1),
  bulk6Test('down', 1),
  bulkTest('down', 4),
  bulk6Test('down', 4),
  rrTest,
  crrTest,
  idleTest,
  lossTest('up'),
  lossTest('down'),
  lossAtTest('up', 1),
  lossAtTest('down', 1),
  lossAtTest('up', 10),
  lossAtTest('down', 10),
  delayTest('up', false),
  delayTest('down', false),
  delayTest('up', true),
  delayTest('down', true),
];

/**
 * Does each port accept a connection and serve? A cheap probe run once per system, so a system
 * that cannot serve TCP yet costs seconds, not a timeout per test. Returns why a port fails.
 */
export async function probePorts(
  ctx: TestContext,
  ports: readonly number[],
): Promise<Map<number, string>> {
  const failing = new Map<number, string>();
  const probe = async (port: number): Promise<void> => {
    const oneByte = ['--bytes', '1', '--drain-seconds', '3'];
    const out =
      port === 7
        ? await client(ctx, 'tcprr', port, 3, ['--count', '1', '--warmup', '0'])
        : port === 9
          ? await client(ctx, 'tcpbulk', port, 3, ['--mode', 'send', ...oneByte], 3)
          : await client(ctx, 'tcpbulk', port, 3, [
              '--mode',
              'recv',
              ...oneByte,
              ...(ctx.opts.source === 'http' ? ['--http'] : []),
            ]);
    if (!out.ok) failing.set(port, `port ${port}: ${out.why}`);
    else if (port === 9 && num(out.json, 'stalled') > 0)
      failing.set(port, 'port 9: the discard server does not close when the client does');
    else if (port !== 7 && port !== 9 && !(num(out.json, 'bytes') > 0))
      failing.set(port, `port ${port}: no bytes served`);
  };
  await Promise.all(ports.map(probe));
  return failing;
}
