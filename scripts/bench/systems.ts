/**
 * The systems the bench measures, each reached from a 'client' namespace at 10.0.0.1 where the
 * same kernel-side C clients run; the server is always 10.0.0.2, and over IPv6 (the bulk6-*
 * rows) fd00::2, the client fd00::1.
 *
 *   kernel    client ns ──veth──► server ns: kernel TCP + tcpserve          (kernel at both ends)
 *   bridge    client ns tun ◄─► tunbridge process ◄─► tun server ns: tcpserve
 *             (kernel at both ends; each packet crosses TUN twice, one read()/write() at a time)
 *   tunstack  client ns tun ◄─► `tunstack up` process: the stack at 10.0.0.2 and its services
 *             (TUN offloads on, as `up` defaults: 64 KiB TCP segments both ways, over IPv4 and
 *             IPv6 alike: TSO4, TSO6; offload.md)
 *   tunstack-plain  the same with `up --no-offload`: one MTU-sized packet per read()/write()
 *
 * With `delayMs` (the delay rows), every packet is held that long each way: by tunbridge
 * (--delay-ms) for the bridge, by the stack's own `up --impair delay=…` for tunstack (which turns
 * the offloads off: tunstack then runs as tunstack-plain does). The kernel system has none: this
 * kernel has no netem. Windows are opened for the bandwidth-delay product on both sides.
 *
 * setup() builds the topology and starts the server; teardown() stops every process it started
 * and deletes every namespace it created, also after a failed setup.
 */
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as netns from '../../src/link/netns.ts';
import { type Daemon, startDaemon, type Tools } from './tools.ts';

export const CLIENT_ADDR = '10.0.0.1';
export const SERVER_ADDR = '10.0.0.2';
const PREFIX = 24;
/** The same over IPv6: `tunstack up`'s defaults (--host-addr6 fd00::1/64, --addr6 fd00::2). */
export const CLIENT_ADDR6 = 'fd00::1';
export const SERVER_ADDR6 = 'fd00::2';
const PREFIX6 = 64;

export type SystemName =
  | 'kernel'
  | 'bridge'
  | 'tunstack'
  | 'tunstack-plain'
  | 'relay'
  | 'slirp4netns'
  | 'pasta';
export const SYSTEM_NAMES: readonly SystemName[] = [
  'kernel',
  'bridge',
  'tunstack',
  'tunstack-plain',
  'relay',
  'slirp4netns',
  'pasta',
];
/** The systems of the main section: a server at 10.0.0.2 reached from a client namespace. */
export const MAIN_SYSTEMS: readonly SystemName[] = [
  'kernel',
  'bridge',
  'tunstack',
  'tunstack-plain',
];
/**
 * The relay section's (scripts/bench/relay.ts): the kernel directly, and three user-mode
 * networks giving a client namespace its network through kernel sockets of an egress namespace.
 */
export const RELAY_SYSTEMS: readonly SystemName[] = ['kernel', 'relay', 'slirp4netns', 'pasta'];

/** Memory of the serving process. */
export interface MemorySample {
  /** Resident set size from /proc/PID/status (VmRSS). */
  rssBytes: number;
  /** JavaScript heap in use after a full GC (tunstack only, from its stats file). */
  heapUsedBytes: number | null;
  /** Live TCP connections the stack reports (tunstack only). */
  tcpConnections: number | null;
}

export interface Endpoint {
  /** Where the clients run. */
  clientNs: string;
  /** Every namespace of the topology, client first (the loss test adjusts their devices). */
  namespaces: readonly string[];
  serverAddr: string;
  /** The server's IPv6 address (the bulk6-* rows); absent: the system has no IPv6. */
  serverAddr6?: string;
  /** Why there is no serverAddr6. */
  noIpv6?: string;
  /** The process that serves, e.g. `tcpserve (pid 1234)`. */
  server: string;
  /** Memory of the serving process now. */
  sampleMemory(): Promise<MemorySample | null>;
}

export interface System {
  readonly name: SystemName;
  readonly description: string;
  setup(): Promise<Endpoint>;
  teardown(): Promise<void>;
}

export interface SystemOptions {
  tools: Tools;
  /** Every process the system starts ends by itself after this long. */
  lifetimeSeconds: number;
  /** Hold every packet this many ms each way (the bench's delay rows); 0 or absent: none. */
  delayMs?: number;
  /**
   * Kernel TCP's congestion control for tcpserve's sockets (`tcpserve --cc`); absent: the
   * namespace's default, which a new namespace takes from the machine's (bbr here). Not the
   * namespace's sysctl: a namespace may only default to what tcp_allowed_congestion_control
   * lists (here reno and bbr), while a root-owned socket may pick any.
   */
  kernelCc?: string;
}

/** Why a system has no IPv6 address for the bulk6-* rows on this machine. */
export const NO_KERNEL_IPV6 = 'this kernel has no IPv6 (no /proc/sys/net/ipv6)';

/** Why the kernel system cannot take part in the delay rows. */
export const KERNEL_NO_DELAY =
  'no delay over a veth pair: this kernel has no netem (CONFIG_NET_SCH_NETEM unset) and no fq ' +
  'qdisc for departure-time delay';

/**
 * Socket buffers allowed under a delay, bytes: the kernel ends' tcp_rmem/tcp_wmem maximum and
 * the stack's --snd-buf/--rcv-buf. 32 MiB of kernel buffer offers a window of about half that or
 * more (tcp_adv_win_scale), and 16 MiB of the stack's is a 16 MiB window: 40 ms of round trip
 * (20 ms each way) at over 3 Gbit/s, beyond what either system moves, so neither is held back by
 * its window. (A fresh namespace's tcp_wmem maximum is 4 MiB, 0.8 Gbit/s at 40 ms.)
 */
export const DELAY_KERNEL_BUFFER_BYTES = 32 * 1024 * 1024;
export const DELAY_STACK_BUFFER_BYTES = 16 * 1024 * 1024;

/** Open a namespace's TCP autotuning limits to DELAY_KERNEL_BUFFER_BYTES (per namespace). */
export async function tuneWindows(ns: string): Promise<void> {
  const max = DELAY_KERNEL_BUFFER_BYTES;
  await netns.runChecked([
    'ip',
    'netns',
    'exec',
    ns,
    'sysctl',
    '-q',
    '-w',
    `net.ipv4.tcp_rmem=4096 131072 ${max}`,
    `net.ipv4.tcp_wmem=4096 16384 ${max}`,
  ]);
}

/**
 * Packets a delayed system's TUN devices queue for their reader (txqueuelen; a TUN device's
 * default is 500). A reader that falls behind for a moment, the stack in JavaScript or tunbridge
 * while it writes a backlog of due packets, drops what overflows that queue: at 1 Gbit/s 500
 * packets are 6 ms, a small part of a 40 ms round trip's window, and a loss-based sender would
 * halve its window for every overflow in slow start. 10 000 packets (15 MB, about 120 ms at
 * 1 Gbit/s) are more than a bandwidth-delay product, as a path's bottleneck buffer is meant to be.
 */
export const DELAY_TXQUEUELEN = 10_000;

/** Set txqueuelen DELAY_TXQUEUELEN on every device but lo in `namespaces`. */
async function deepenQueues(namespaces: readonly string[]): Promise<void> {
  for (const ns of namespaces) {
    const out = await netns.ip(ns, ['-o', 'link', 'show']);
    for (const line of out.split('\n')) {
      const m = /^\d+: ([^:@]+)[@:]/.exec(line);
      if (!m || m[1] === 'lo') continue;
      await netns.ip(ns, ['link', 'set', 'dev', m[1], 'txqueuelen', String(DELAY_TXQUEUELEN)]);
    }
  }
}

const withDelay = (description: string, delayMs: number): string =>
  delayMs > 0 ? `${description}; +${delayMs} ms each way` : description;

/** Namespaces and processes one system owns, released in reverse order. */
export class Resources {
  readonly namespaces: string[] = [];
  readonly daemons: Daemon[] = [];

  async namespace(): Promise<string> {
    const name = netns.uniqueName();
    await netns.create(name);
    this.namespaces.push(name);
    return name;
  }

  async release(): Promise<void> {
    for (const d of this.daemons.splice(0).reverse()) await d.stop().catch(() => {});
    for (const ns of this.namespaces.splice(0).reverse()) await netns.remove(ns).catch(() => {});
  }
}

/**
 * Client-namespace settings for the connection-rate and idle tests: a wide ephemeral port range
 * and reuse of TIME_WAIT ports for new outgoing connections (the client closes first, RFC 9293
 * §3.6, so TIME_WAIT lands here). Both sysctls are per namespace.
 */
export async function tuneClient(ns: string): Promise<void> {
  await netns.runChecked([
    'ip',
    'netns',
    'exec',
    ns,
    'sysctl',
    '-q',
    '-w',
    'net.ipv4.ip_local_port_range=1024 65535',
    'net.ipv4.tcp_tw_reuse=1',
  ]);
}

async function address(ns: string, dev: string, addr: string): Promise<void> {
  await netns.ip(ns, ['addr', 'add', `${addr}/${PREFIX}`, 'dev', dev]);
  await netns.ip(ns, ['link', 'set', 'dev', dev, 'up']);
}

/** Does this kernel have IPv6 (no /proc/sys/net/ipv6 with ipv6.disable=1 or without it built)? */
export async function kernelHasIpv6(): Promise<boolean> {
  return stat('/proc/sys/net/ipv6').then(
    () => true,
    () => false,
  );
}

/**
 * `addr`/64 on `dev` (up already), without duplicate address detection (nodad, accept_dad=0):
 * nobody else is on a veth pair or a TUN link, and DAD would hold the address tentative for a
 * second. The bulk6-* rows reach the server this way.
 */
async function address6(ns: string, dev: string, addr: string): Promise<void> {
  await netns.exec(ns, [
    'sysctl',
    '-qw',
    `net.ipv6.conf.${dev}.disable_ipv6=0`,
    `net.ipv6.conf.${dev}.accept_dad=0`,
  ]);
  await netns.ip(ns, ['-6', 'addr', 'add', `${addr}/${PREFIX6}`, 'dev', dev, 'nodad']);
}

export async function readRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export function startTcpserve(opts: SystemOptions, ns: string): Promise<Daemon> {
  return startDaemon(
    [
      'ip',
      'netns',
      'exec',
      ns,
      opts.tools.path('tcpserve'),
      '--max-seconds',
      String(opts.lifetimeSeconds),
      ...(opts.kernelCc !== undefined ? ['--cc', opts.kernelCc] : []),
    ],
    { ready: /^ready$/, timeoutMs: 5_000 },
  );
}

/** `ip netns exec` execs the command in place, so the daemon's pid is tcpserve's own. */
function tcpserveEndpoint(
  clientNs: string,
  serverNs: string,
  server: Daemon,
  ipv6: boolean,
  whyNoIpv6 = NO_KERNEL_IPV6,
): Endpoint {
  return {
    clientNs,
    namespaces: [clientNs, serverNs],
    serverAddr: SERVER_ADDR,
    ...(ipv6 ? { serverAddr6: SERVER_ADDR6 } : { noIpv6: whyNoIpv6 }),
    server: `tcpserve (pid ${server.pid})`,
    sampleMemory: async () => ({
      rssBytes: await readRss(server.pid),
      heapUsedBytes: null,
      tcpConnections: null,
    }),
  };
}

/**
 * Kernel TCP at both ends: a client and a server namespace joined by devices `bench0` (client
 * side) and `bench1` (server side), and tcpserve in the server namespace. Subclasses say how the
 * two devices are made.
 */
abstract class KernelServerSystem implements System {
  abstract readonly name: SystemName;
  abstract readonly description: string;
  protected readonly res = new Resources();
  constructor(protected readonly opts: SystemOptions) {}

  /** Create bench0 in `client` and bench1 in `server`, joined somehow. */
  protected abstract link(client: string, server: string): Promise<void>;

  async setup(): Promise<Endpoint> {
    const client = await this.res.namespace();
    const server = await this.res.namespace();
    await tuneClient(client);
    if ((this.opts.delayMs ?? 0) > 0) {
      await tuneWindows(client);
      await tuneWindows(server);
    }
    await this.link(client, server);
    await address(client, 'bench0', CLIENT_ADDR);
    await address(server, 'bench1', SERVER_ADDR);
    // IPv6 beside IPv4 for the bulk6-* rows (tcpserve listens on :: for both families).
    const delayed = (this.opts.delayMs ?? 0) > 0;
    const ipv6 = !delayed && (await kernelHasIpv6());
    if (ipv6) {
      await address6(client, 'bench0', CLIENT_ADDR6);
      await address6(server, 'bench1', SERVER_ADDR6);
    }
    if ((this.opts.delayMs ?? 0) > 0) await deepenQueues([client, server]);
    const d = await startTcpserve(this.opts, server);
    this.res.daemons.push(d);
    return tcpserveEndpoint(
      client,
      server,
      d,
      ipv6,
      delayed ? 'IPv6 rows have no delay' : undefined,
    );
  }

  teardown(): Promise<void> {
    return this.res.release();
  }
}

export class KernelSystem extends KernelServerSystem {
  readonly name = 'kernel';
  readonly description = 'kernel TCP at both ends over a veth pair between two namespaces';

  override setup(): Promise<Endpoint> {
    if ((this.opts.delayMs ?? 0) > 0) return Promise.reject(new Error(KERNEL_NO_DELAY));
    return super.setup();
  }

  protected async link(client: string, server: string): Promise<void> {
    await netns.ip(client, [
      'link',
      'add',
      'bench0',
      'type',
      'veth',
      'peer',
      'name',
      'bench1',
      'netns',
      server,
    ]);
  }
}

export class BridgeSystem extends KernelServerSystem {
  readonly name = 'bridge';
  readonly description = withDelay(
    'kernel TCP at both ends, packets copied TUN→TUN by a C process one read()/write() at a time',
    this.opts.delayMs ?? 0,
  );
  private bridge: Daemon | null = null;

  /** tunbridge creates each TUN inside its namespace (setns before TUNSETIFF); they go with it. */
  protected async link(client: string, server: string): Promise<void> {
    const bridge = await startDaemon(
      [
        this.opts.tools.path('tunbridge'),
        '--netns-a',
        client,
        '--dev-a',
        'bench0',
        '--netns-b',
        server,
        '--dev-b',
        'bench1',
        '--max-seconds',
        String(this.opts.lifetimeSeconds),
        ...((this.opts.delayMs ?? 0) > 0 ? ['--delay-ms', String(this.opts.delayMs)] : []),
      ],
      { ready: /^ready$/, timeoutMs: 5_000 },
    );
    this.res.daemons.push(bridge);
    this.bridge = bridge;
  }

  /** After the bridge has stopped: its delay queues' drop counts (printed at exit). */
  override async teardown(): Promise<void> {
    await super.teardown();
    const queues = this.bridge?.output.find((l) => l.startsWith('tunbridge: delay queues'));
    if (queues) process.stderr.write(`[bench] bridge: ${queues.replace(/^tunbridge: /, '')}\n`);
    this.bridge = null;
  }
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Is the stack answering yet? One ping from the client namespace. */
async function stackAnswers(ns: string): Promise<boolean> {
  const r = await netns.exec(ns, ['ping', '-n', '-c', '1', '-W', '1', SERVER_ADDR], {
    timeoutMs: 3_000,
  });
  return r.code === 0;
}

/**
 * The stack in its own process: `tunstack up --netns NS --stats-file F`, started with
 * `node --import tsx` (not the tsx binary, which would put a second process in between) so that
 * /proc/PID/status is the stack's. On SIGUSR2 it writes its memory and counters to the stats file
 * after a full GC (/tmp/bench-notes.md has the contract).
 */
export class TunstackSystem implements System {
  readonly name: 'tunstack' | 'tunstack-plain';
  readonly description: string;
  private readonly res = new Resources();
  /** `offload` false: `up --no-offload`, a plain TUN device (native-notes/offload.md). */
  constructor(
    private readonly opts: SystemOptions,
    private readonly offload = true,
  ) {
    this.name = offload ? 'tunstack' : 'tunstack-plain';
    const delayMs = opts.delayMs ?? 0;
    this.description =
      delayMs > 0
        ? // `up --impair` works per packet and turns the offloads off: both run alike here.
          `kernel TCP client, tunstack serving over a plain TUN device (--impair delay=${delayMs}ms: no offloads)`
        : offload
          ? 'kernel TCP client, tunstack serving over a TUN device (offloads: TSO4, TSO6, checksum)'
          : 'kernel TCP client, tunstack serving over a plain TUN device (--no-offload)';
  }

  async setup(): Promise<Endpoint> {
    // Absolute paths, so that neither depends on the working directory.
    const cli = [
      process.execPath,
      '--expose-gc',
      // Extra node flags for the stack only, e.g. `BENCH_STACK_NODE_FLAGS='--cpu-prof
      // --cpu-prof-dir=/tmp/prof'` (node refuses --cpu-prof in NODE_OPTIONS);
      // native-notes/performance.md profiles the bench's workloads this way.
      ...(process.env.BENCH_STACK_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
      '--import',
      import.meta.resolve('tsx'),
      `${REPO}src/cli/main.ts`,
      'up',
    ];
    const help = await netns.run([...cli, '--help'], { timeoutMs: 20_000 });
    if (help.code !== 0) {
      const lines = (help.stderr.trim() || help.stdout.trim()).split('\n');
      const why = lines.find((l) => /error/i.test(l)) ?? lines[0];
      throw new Error(`\`tunstack up\` is not available: ${why}`);
    }
    const hasStats = help.stdout.includes('--stats-file');
    const client = await this.res.namespace();
    await tuneClient(client);
    const delayMs = this.opts.delayMs ?? 0;
    if (delayMs > 0) await tuneWindows(client);
    const statsFile = `${this.opts.tools.dir}/tunstack-stats-${client}.json`;
    const stack = await startDaemon(
      [
        ...cli,
        '--netns',
        client,
        ...upFlags(help.stdout),
        ...(!this.offload && help.stdout.includes('--no-offload') ? ['--no-offload'] : []),
        ...(hasStats ? ['--stats-file', statsFile] : []),
        ...(delayMs > 0 ? delayFlags(help.stdout, delayMs) : []),
        // Extra `up` flags for a diagnosis, e.g. `BENCH_STACK_ARGS='--pcap /tmp/stack.pcap'`.
        ...(process.env.BENCH_STACK_ARGS ?? '').split(/\s+/).filter(Boolean),
      ],
      { isReady: () => stackAnswers(client), timeoutMs: 15_000, cwd: REPO },
    );
    this.res.daemons.push(stack);
    if (delayMs > 0) await deepenQueues([client]);
    return {
      clientNs: client,
      namespaces: [client],
      serverAddr: SERVER_ADDR,
      ...(await stackIpv6(help.stdout, client)),
      server: `tunstack up (pid ${stack.pid})`,
      sampleMemory: async () => {
        const rssBytes = await readRss(stack.pid);
        // Without --stats-file the stack has no SIGUSR2 handler, and SIGUSR2 would end it.
        const stats = hasStats ? await requestStats(stack.pid, statsFile) : null;
        return {
          rssBytes,
          heapUsedBytes: typeof stats?.heapUsed === 'number' ? stats.heapUsed : null,
          tcpConnections: typeof stats?.tcpConnections === 'number' ? stats.tcpConnections : null,
        };
      },
    };
  }

  teardown(): Promise<void> {
    return this.res.release();
  }
}

/**
 * The stack's IPv6 address for the bulk6-* rows: `up` is dual-stack by default (fd00::2, the
 * device fd00::1/64) when its help offers --addr6 and the kernel has IPv6; `up` itself turns IPv6
 * off where the device cannot have it, so the device is asked.
 */
async function stackIpv6(
  help: string,
  ns: string,
): Promise<{ serverAddr6: string } | { noIpv6: string }> {
  if (!/--addr6\b/.test(help)) return { noIpv6: '`tunstack up` has no --addr6' };
  if (!(await kernelHasIpv6())) return { noIpv6: NO_KERNEL_IPV6 };
  const addrs = await netns.ip(ns, ['-6', '-o', 'addr', 'show', 'scope', 'global']);
  return addrs.includes(`${CLIENT_ADDR6}/${PREFIX6}`)
    ? { serverAddr6: SERVER_ADDR6 }
    : { noIpv6: `the device has no ${CLIENT_ADDR6}/${PREFIX6} (\`up\` started IPv4 only)` };
}

/** The services the bench talks to, by the names `up --apps` may know them by. */
const BENCH_APPS = ['echo', 'discard', 'http', 'chargen'];

/**
 * Flags for `tunstack up`, from what its --help offers: the bench's services if it has
 * `--apps` (help lists the names in parentheses), and quiet logs if it has `--log-level`.
 */
export function upFlags(help: string): string[] {
  const flags: string[] = [];
  const apps = /--apps\b[^(]*\(([^)]*)\)/.exec(help);
  if (apps) {
    const known = apps[1].split(/[,\s]+/).filter(Boolean);
    const wanted = BENCH_APPS.filter((a) => known.includes(a));
    if (wanted.length > 0) flags.push('--apps', wanted.join(','));
  }
  if (/--log-level\b/.test(help)) flags.push('--log-level', 'warn');
  return flags;
}

/**
 * Flags for the delay rows: `--impair delay=Nms` (each way, as tunbridge's --delay-ms) and, if
 * `up` has them, buffers for the bandwidth-delay product. Without --impair there is no delay to
 * add, and the rows could not be compared: refuse.
 */
export function delayFlags(help: string, delayMs: number): string[] {
  if (!/--impair\b/.test(help)) throw new Error('`tunstack up` has no --impair: no delay');
  const flags = ['--impair', `delay=${delayMs}ms`];
  const buf = String(DELAY_STACK_BUFFER_BYTES);
  if (/--snd-buf\b/.test(help)) flags.push('--snd-buf', buf);
  if (/--rcv-buf\b/.test(help)) flags.push('--rcv-buf', buf);
  return flags;
}

/** SIGUSR2 the stack and wait (up to 3 s) for a fresh stats file; null if none comes. */
async function requestStats(pid: number, file: string): Promise<Record<string, unknown> | null> {
  const before = await stat(file).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const mtime = await stat(file).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (mtime > before) {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** A system of the main section (MAIN_SYSTEMS). */
export function makeSystem(name: SystemName, opts: SystemOptions): System {
  switch (name) {
    case 'kernel':
      return new KernelSystem(opts);
    case 'bridge':
      return new BridgeSystem(opts);
    case 'tunstack':
      return new TunstackSystem(opts);
    case 'tunstack-plain':
      return new TunstackSystem(opts, false);
    default:
      throw new Error(`${name} takes part in the relay section only (scripts/bench/relay.ts)`);
  }
}
