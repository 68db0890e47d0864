/**
 * The bench's relay section (issue 13 item 5): the same workload through tunstack relay,
 * slirp4netns and pasta, and through the kernel directly, in one run, with ratios.
 *
 * Each system gets an egress namespace of its own (made and removed here) holding the server,
 * tcpserve on 10.9.0.1 (its loopback: echo 7, discard 9, HTTP 80), and a veth pair with a default
 * route over it (pasta insists on an interface with a default route to copy; both ends of the pair
 * are in the egress namespace, so nothing leaves it). The user-mode network runs inside the egress
 * namespace and gives a client namespace its network; the clients (the bench's C tools) run in the
 * client namespace and dial 10.9.0.1, which the user-mode network dials again from the egress side:
 *
 *   kernel        the clients run in the egress namespace itself (no user-mode network)
 *   relay         ip netns exec EGRESS tunstack relay --netns CLIENT   (TUN offloads on, its default)
 *   slirp4netns   ip netns exec EGRESS slirp4netns --configure --mtu=1500 --netns-type=path … tap0
 *   pasta         ip netns exec EGRESS pasta --config-net -m 1500 -f --runas 0 --netns …
 *
 * All at MTU 1500. slirp4netns and pasta are Debian's packages (slirp4netns, passt): the bench
 * installs nothing, and a system whose program is missing is n/a with that reason.
 *
 * Tests: relay-down (HTTP GET of N bytes, 100 MB by default), relay-up (N bytes to discard, the
 * clock stopping at the server's FIN), relay-rr (1-byte round trips on one connection),
 * relay-crr (connect, 32-byte echo, close; 4 threads).
 */
import * as netns from '../../src/link/netns.ts';
import {
  client,
  type Measurement,
  type MetricId,
  na,
  num,
  type Test,
  type TestContext,
} from './metrics.ts';
import {
  type Endpoint,
  RELAY_SYSTEMS,
  Resources,
  readRss,
  type System,
  type SystemName,
  type SystemOptions,
  startTcpserve,
  tuneClient,
} from './systems.ts';
import { type Daemon, hasCommand, startDaemon } from './tools.ts';

/** Where the servers listen in each egress namespace (its loopback). */
export const RELAY_SERVER_ADDR = '10.9.0.1';
/** The veth pair's address in the egress namespace and the default route's gateway beyond it. */
const EGRESS_VETH_ADDR = '10.8.0.1/24';
const EGRESS_GATEWAY = '10.8.0.254';

const REPO_MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Why a user-mode network is n/a when its program is not installed. */
export function notInstalled(program: string, pkg: string): string {
  return `${program} is not installed (Debian package ${pkg}; the bench installs nothing)`;
}

/** Does `ns` have a default route yet (the user-mode network configured it)? */
async function hasDefaultRoute(ns: string): Promise<boolean> {
  const r = await netns.exec(ns, ['ip', '-4', 'route', 'show', 'default'], { timeoutMs: 3_000 });
  return r.code === 0 && r.stdout.includes('default');
}

/** The Debian package's version, or '' (for the description: pasta has no version of its own). */
async function packageVersion(pkg: string): Promise<string> {
  const r = await netns.run(['dpkg-query', '-W', '-f', '$' + '{Version}', pkg], {
    timeoutMs: 5_000,
  });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** One system of the relay section: its egress namespace with the server, then its network. */
abstract class RelaySectionSystem implements System {
  abstract readonly name: SystemName;
  abstract description: string;
  protected readonly res = new Resources();
  constructor(protected readonly opts: SystemOptions) {}

  /**
   * Give a client namespace its network from `egress` and return it with the process doing it;
   * null: the clients run in the egress namespace itself.
   */
  protected abstract network(egress: string): Promise<{ clientNs: string; daemon: Daemon } | null>;

  /** Throw (the system is n/a) when what it needs is missing. */
  protected check(): Promise<void> {
    return Promise.resolve();
  }

  async setup(): Promise<Endpoint> {
    await this.check();
    const egress = await this.res.namespace();
    // The upstream connections are dialled from here, and for `kernel` the clients run here too:
    // a wide port range and TIME_WAIT reuse for the connection-rate test.
    await tuneClient(egress);
    await netns.ip(egress, ['addr', 'add', `${RELAY_SERVER_ADDR}/32`, 'dev', 'lo']);
    await netns.ip(egress, ['link', 'add', 'eg0', 'type', 'veth', 'peer', 'name', 'eg1']);
    await netns.ip(egress, ['addr', 'add', EGRESS_VETH_ADDR, 'dev', 'eg0']);
    await netns.ip(egress, ['link', 'set', 'eg0', 'up']);
    await netns.ip(egress, ['link', 'set', 'eg1', 'up']);
    await netns.ip(egress, ['route', 'add', 'default', 'via', EGRESS_GATEWAY, 'dev', 'eg0']);
    const server = await startTcpserve(this.opts, egress);
    this.res.daemons.push(server);
    const net = await this.network(egress);
    const proc = net?.daemon ?? server;
    const clientNs = net?.clientNs ?? egress;
    return {
      clientNs,
      namespaces: clientNs === egress ? [egress] : [clientNs, egress],
      serverAddr: RELAY_SERVER_ADDR,
      server: net === null ? `tcpserve (pid ${server.pid})` : `${this.name} (pid ${proc.pid})`,
      // The user-mode network's process (tcpserve's for the kernel).
      sampleMemory: async () => ({
        rssBytes: await readRss(proc.pid),
        heapUsedBytes: null,
        tcpConnections: null,
      }),
    };
  }

  teardown(): Promise<void> {
    return this.res.release();
  }

  /** A client namespace of ours, tuned as the main section's clients are. */
  protected async clientNamespace(): Promise<string> {
    const ns = await this.res.namespace();
    await tuneClient(ns);
    return ns;
  }
}

class DirectKernel extends RelaySectionSystem {
  readonly name = 'kernel';
  description =
    'kernel TCP directly: the clients in the egress namespace itself, over its loopback to tcpserve';
  protected network(): Promise<null> {
    return Promise.resolve(null);
  }
}

/** `tunstack relay --netns CLIENT` inside the egress namespace, without a command: it stays up. */
class TunstackRelay extends RelaySectionSystem {
  readonly name = 'relay';
  description =
    'tunstack relay (TUN offloads on, its default), kernel sockets in the egress namespace';

  protected async network(egress: string): Promise<{ clientNs: string; daemon: Daemon }> {
    // Made by us first, so that it is visible to the clients' `ip netns exec` (a namespace the
    // relay made under `ip netns exec` would be mounted in that command's mount namespace only).
    const clientNs = await this.clientNamespace();
    const daemon = await startDaemon(
      [
        'ip',
        'netns',
        'exec',
        egress,
        process.execPath,
        // Extra node flags for the relay, e.g. BENCH_RELAY_NODE_FLAGS='--cpu-prof
        // --cpu-prof-dir=/tmp/prof' (written when the bench stops it with SIGTERM).
        ...(process.env.BENCH_RELAY_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
        '--import',
        import.meta.resolve('tsx'),
        REPO_MAIN,
        'relay',
        '--netns',
        clientNs,
        // info: its "relay ready" line is what we wait for; nothing per flow is logged above debug.
        '--log-level',
        'info',
        ...(process.env.BENCH_RELAY_ARGS ?? '').split(/\s+/).filter(Boolean),
      ],
      { ready: /relay ready/, timeoutMs: 30_000 },
    );
    this.res.daemons.push(daemon);
    return { clientNs, daemon };
  }
}

class Slirp4netns extends RelaySectionSystem {
  readonly name = 'slirp4netns';
  description = 'slirp4netns';

  protected override async check(): Promise<void> {
    if (!hasCommand('slirp4netns')) throw new Error(notInstalled('slirp4netns', 'slirp4netns'));
    const v = await packageVersion('slirp4netns');
    this.description = `slirp4netns ${v} (--mtu=1500, tap0 10.0.2.100)`;
  }

  protected async network(egress: string): Promise<{ clientNs: string; daemon: Daemon }> {
    const clientNs = await this.clientNamespace();
    const daemon = await startDaemon(
      [
        'ip',
        'netns',
        'exec',
        egress,
        'slirp4netns',
        '--configure',
        '--mtu=1500',
        '--disable-host-loopback',
        '--netns-type=path',
        netns.netnsPath(clientNs),
        'tap0',
      ],
      { isReady: () => hasDefaultRoute(clientNs), timeoutMs: 15_000 },
    );
    this.res.daemons.push(daemon);
    return { clientNs, daemon };
  }
}

class Pasta extends RelaySectionSystem {
  readonly name = 'pasta';
  description = 'pasta';

  protected override async check(): Promise<void> {
    if (!hasCommand('pasta')) throw new Error(notInstalled('pasta', 'passt'));
    const v = await packageVersion('passt');
    this.description = `pasta, passt ${v} (-m 1500, the egress side's addresses copied)`;
  }

  protected async network(egress: string): Promise<{ clientNs: string; daemon: Daemon }> {
    const clientNs = await this.clientNamespace();
    const daemon = await startDaemon(
      [
        'ip',
        'netns',
        'exec',
        egress,
        'pasta',
        '--config-net',
        '-m',
        '1500',
        '-f',
        '--runas',
        '0',
        '--netns',
        netns.netnsPath(clientNs),
      ],
      { isReady: () => hasDefaultRoute(clientNs), timeoutMs: 15_000 },
    );
    this.res.daemons.push(daemon);
    return { clientNs, daemon };
  }
}

/** A system of the relay section (RELAY_SYSTEMS). */
export function makeRelaySystem(name: SystemName, opts: SystemOptions): System {
  switch (name) {
    case 'kernel':
      return new DirectKernel(opts);
    case 'relay':
      return new TunstackRelay(opts);
    case 'slirp4netns':
      return new Slirp4netns(opts);
    case 'pasta':
      return new Pasta(opts);
    default:
      throw new Error(`${name} is not a system of the relay section (${RELAY_SYSTEMS.join(', ')})`);
  }
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

/** The bulk tests already warmed up on each system (by its endpoint). */
const warmed = new WeakMap<object, Set<MetricId>>();

/**
 * N bytes down (HTTP GET from tcpserve) or up (to discard, the clock stopping at the server's
 * FIN after ours), bounded by boundSeconds: a system slower than N bytes in that time is measured
 * on what it moved (the detail says how much).
 */
const relayBulk = (direction: 'up' | 'down'): Test => {
  const id: MetricId = direction === 'up' ? 'relay-up' : 'relay-down';
  const transfer = (ctx: TestContext) =>
    client(
      ctx,
      'tcpbulk',
      direction === 'up' ? 9 : 80,
      ctx.opts.boundSeconds,
      [
        '--mode',
        direction === 'up' ? 'send' : 'recv',
        '--bytes',
        String(ctx.opts.relayBytes),
        '--drain-seconds',
        String(ctx.opts.drainSeconds),
        ...(direction === 'down' ? ['--http'] : []),
        ...(ctx.opts.kernelCc !== 'inherit' ? ['--cc', ctx.opts.kernelCc] : []),
      ],
      ctx.opts.drainSeconds,
    );
  return {
    name: id,
    metrics: [id],
    relay: true,
    ports: () => (direction === 'up' ? [9] : [80]),
    async run(ctx) {
      const { opts } = ctx;
      // One untimed transfer first on every system: tunstack relay is JavaScript, and a cold
      // process moves half of what it moves once the JIT has compiled its data path (1.5 against
      // 2.8-4.7 Gbit/s over eight rounds); the C systems lose nothing by it.
      const warm = warmed.get(ctx.ep) ?? new Set<MetricId>();
      warmed.set(ctx.ep, warm);
      if (!warm.has(id)) {
        warm.add(id);
        await transfer(ctx);
      }
      const out = await transfer(ctx);
      let m: Measurement;
      if (!out.ok) m = na(out.why);
      else if (num(out.json, 'stalled') > 0) {
        m = na(`the server did not close after the sender's FIN within ${opts.drainSeconds} s`);
      } else if (!(num(out.json, 'bytes') > 0)) {
        m = na(`no bytes moved (${JSON.stringify(out.json)})`);
      } else if (num(out.json, 'errors') > 0 && num(out.json, 'bytes') < opts.relayBytes) {
        // A transfer cut short (pasta's upload resets here) is not a throughput.
        const mb = (n: number) => +(n / 1e6).toFixed(1);
        m = na(
          `${out.json.firstError ?? 'error'} after ${mb(num(out.json, 'bytes'))} of ` +
            `${mb(opts.relayBytes)} MB in ${num(out.json, 'seconds').toFixed(1)} s`,
        );
      } else m = { value: num(out.json, 'bitsPerSecond'), detail: out.json };
      return { [id]: m };
    },
  };
};

const relayRr: Test = {
  name: 'relay-rr',
  metrics: ['relay-rr-p50', 'relay-rr-p99'],
  relay: true,
  ports: () => [7],
  async run(ctx) {
    const { opts } = ctx;
    const out = await client(ctx, 'tcprr', 7, opts.boundSeconds, ['--count', String(opts.rrCount)]);
    if (!out.ok) return { 'relay-rr-p50': na(out.why), 'relay-rr-p99': na(out.why) };
    const j = out.json;
    const short =
      num(j, 'roundTrips') < opts.rrCount
        ? `only ${num(j, 'roundTrips')} of ${opts.rrCount} round trips in ${opts.boundSeconds} s`
        : null;
    const m = (key: string): Measurement => (short ? na(short) : { value: num(j, key), detail: j });
    return { 'relay-rr-p50': m('p50Us'), 'relay-rr-p99': m('p99Us') };
  },
};

const relayCrr: Test = {
  name: 'relay-crr',
  metrics: ['relay-crr'],
  relay: true,
  ports: () => [7],
  async run(ctx) {
    const { opts } = ctx;
    const out = await client(ctx, 'tcpcrr', 7, opts.boundSeconds, [
      '--count',
      String(opts.crrCount),
      '--parallel',
      String(opts.crrParallel),
    ]);
    if (!out.ok) return { 'relay-crr': na(out.why) };
    const j = out.json;
    if (!(num(j, 'transactions') > 0)) {
      return { 'relay-crr': na(`no transaction completed (${j.firstError})`) };
    }
    return { 'relay-crr': { value: num(j, 'perSecond'), detail: j } };
  },
};

/** The relay section's tests, in the order run. */
export const RELAY_TESTS: readonly Test[] = [relayBulk('down'), relayBulk('up'), relayRr, relayCrr];
