/**
 * `tunstack up`: run the stack on a TUN device inside a network namespace until interrupted.
 *
 * Safety: the device and the host-side address always live inside a namespace (default
 * 'tunstack'); nothing in the root namespace is touched, and there is deliberately no flag to do
 * otherwise. A namespace that `up` created is removed when it exits: on SIGINT, SIGTERM or SIGHUP
 * (a closed terminal), after a second signal, and after a crash (an 'exit' hook deletes it, the
 * control socket and the owner file synchronously if the orderly shutdown did not get to run).
 * After a SIGKILL, the next `up` for the namespace reclaims them (src/cli/owner.ts).
 *
 *   root namespace: this process (the stack, 10.0.0.2)
 *   namespace NS:   tun0 10.0.0.1/24 — try `ip netns exec NS ping 10.0.0.2`
 *
 * `--in-container` is the one exception, for a container that IS the namespace (docs/docker.md):
 * the device and its host-side address go into the current namespace, so that `docker exec C
 * ping 10.0.0.2` reaches the stack with only CAP_NET_ADMIN (no CAP_SYS_ADMIN for `ip netns`). It
 * is refused unless this looks like a container (a marker file or TUNSTACK_IN_CONTAINER=1) AND the
 * namespace has no network of its own (only lo and TUN devices: `docker run --network none`), so
 * a host's root namespace — which always has a real interface — is still never touched.
 */
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { createStack } from '../api/index.ts';
import { STYLES_PORT } from '../apps/styles/index.ts';
import { FaultLink, type Impairment, parseImpair } from '../link/fault.ts';
import * as netns from '../link/netns.ts';
import { PcapLink } from '../link/pcap.ts';
import { RecorderLink } from '../link/recorder.ts';
import { TunLink } from '../link/tun.ts';
import { realClock } from '../stack/clock.ts';
import type { Link } from '../stack/link.ts';
import type { Stack } from '../stack/stack.ts';
import type { CongestionName } from '../tcp/congestion/index.ts';
import type { EcnMode, TcpConnectionOptions } from '../tcp/options.ts';
import type { SynCookieMode } from '../tcp/syncookie.ts';
import { tryParseIpv4 } from '../wire/ipv4.ts';
import {
  IPV6_MIN_MTU,
  ipv6Equal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  tryParseIpv6,
} from '../wire/ipv6.ts';
import { APPS, type AppHandle, DEFAULT_APPS, startApps } from './apps.ts';
import type { CliCommand } from './command.ts';
import { MAX_RECORD, packetsHandler } from './live-packets.ts';
import {
  createLogger,
  defaultLogFormat,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
} from './logger.ts';
import { openNetnsSession } from './netns-session.ts';
import { attachSs } from './ss.ts';

export interface UpOptions {
  netns: string;
  dev: string;
  addr: string;
  hostAddr: string;
  /**
   * The stack's IPv6 address (default fd00::2 from the command line; absent: IPv4 only, as
   * `--no-ipv6`). IPv6 needs `hostAddr6` too and an MTU of at least 1280.
   */
  addr6?: string;
  /** Kernel-side IPv6 address of the device, ADDRESS/PREFIX (default fd00::1/64). */
  hostAddr6?: string;
  mtu: number;
  batch: number;
  pcap?: string;
  impair?: string;
  /**
   * Keep the last K packets in and out in memory (RecorderLink), for `tunstack ladder --live`;
   * 0 or absent: off.
   */
  record?: number;
  apps: string[];
  logLevel: LogLevel;
  /** Pretty lines for a person, or JSON (default: pretty when stdout is a terminal). */
  logFormat?: LogFormat;
  /** On SIGUSR2, write memory and counters here as one JSON object (atomically). */
  statsFile?: string;
  /**
   * The current namespace is the stack's (a container run with `--network none`): open the
   * device here instead of in namespace `netns`, which then only names the control socket.
   */
  inContainer?: boolean;
  /** Congestion control for every connection (default CUBIC, as Linux; see below). */
  congestion?: CongestionName;
  /**
   * Tail loss probes (RFC 8985 §7), on by default on a real link as in Linux: a lost tail of a
   * small flight (or the ACKs for it) costs 2·SRTT instead of the 200 ms minimum RTO.
   */
  tlp?: boolean;
  /** RACK loss detection (RFC 8985); false: RFC 6675's duplicate-ACK rules (default true). */
  rack?: boolean;
  /**
   * Probes as RFC 8985 words them: a tail loss probe sends new data first, and none goes in
   * recovery (TcpConnectionOptions.tlpResend and recoveryProbe off). Default false: on a real
   * link both are on (docs/loss-recovery.md).
   */
  rfcProbes?: boolean;
  /**
   * IFF_VNET_HDR with checksum offload and TSO4/TSO6 (native-notes/offload.md): TCP segments of
   * up to 64 KiB both ways, over IPv4 and IPv6. Default on; falls back to a plain device (with a
   * log line) when the kernel refuses, and is off under --impair (faults are per packet).
   */
  offload?: boolean;
  /**
   * SYN cookies (RFC 4987 §3.6) as Linux's net.ipv4.tcp_syncookies: 0 never, 1 (default) when a
   * listener's SYN queue is full, 2 for every SYN.
   */
  synCookies?: SynCookieMode;
  /**
   * ECN (RFC 3168) as Linux's net.ipv4.tcp_ecn: unset keeps the core's default, 2 (accept it when
   * a peer's SYN asks, never ask: Linux's default); `--ecn` gives 1 (ask on our connects too),
   * `--no-ecn` 0 (never).
   */
  ecn?: EcnMode;
  /**
   * Send and receive buffer of every connection, bytes (default the core's 256 KiB). A path with
   * a long round trip needs a window of its bandwidth-delay product (the bench's delay rows);
   * the receive buffer also bounds the out-of-order queue, as Linux counts it against rcvbuf.
   */
  sndBuf?: number;
  rcvBuf?: number;
}

/**
 * The TCP defaults of a real link, beside the core's own (src/tcp/options.ts): what Linux does by
 * default, measured in native-notes/performance.md. The core's defaults stay the RFC's for the
 * drill and the simulator.
 */
export function realLinkTcp(
  o: Pick<UpOptions, 'congestion' | 'tlp' | 'rack' | 'rfcProbes' | 'sndBuf' | 'rcvBuf' | 'ecn'>,
): Partial<TcpConnectionOptions> {
  // PRR (RFC 6937), as Linux's tcp_cwnd_reduction: recovery paces its sends instead of a pause
  // then a burst. RACK (RFC 8985), as Linux: loss detected by time, lost retransmissions too.
  // Probes that a delayed-ACK receiver answers at once, also in recovery (tlpResend,
  // recoveryProbe: a lost ACK or retransmission costs a PTO rather than 40 ms or an RTO).
  const probes = !(o.rfcProbes ?? false);
  return {
    congestion: o.congestion ?? 'cubic',
    tailLossProbe: o.tlp ?? true,
    tlpResend: probes,
    recoveryProbe: probes,
    prr: true,
    rack: o.rack ?? true,
    ...(o.sndBuf !== undefined ? { sndBuf: o.sndBuf } : {}),
    ...(o.rcvBuf !== undefined ? { rcvBuf: o.rcvBuf, maxOoo: o.rcvBuf } : {}),
    ...(o.ecn !== undefined ? { ecn: o.ecn } : {}),
  };
}

/**
 * The links between the TUN device and the stack (`up` and `relay`): stack -> recorder -> fault
 * -> pcap -> tun. The pcap shows what crosses the device; the recorder, outermost, exactly what
 * the stack sends and receives (for `tunstack ladder --live`).
 */
export function stackLink(
  tun: Link,
  o: {
    pcap?: string | undefined;
    impairment?: Impairment | undefined;
    record?: number | undefined;
  },
): { link: Link; recorder: RecorderLink | undefined } {
  let link = tun;
  if (o.pcap !== undefined) link = new PcapLink(link, o.pcap);
  if (o.impairment !== undefined) link = new FaultLink(link, o.impairment, realClock);
  const record = o.record ?? 0;
  const recorder = record > 0 ? new RecorderLink(link, record, { clock: realClock }) : undefined;
  return { link: recorder ?? link, recorder };
}

/** Largest --snd-buf and --rcv-buf: 256 MiB, well within window scaling's 1 GiB (RFC 7323). */
export const MAX_CONN_BUFFER = 256 * 1024 * 1024;

/** A running `up`: what the signal handlers and tests need. */
export interface Running {
  readonly options: UpOptions;
  readonly logger: Logger;
  readonly stack: Stack;
  readonly tun: TunLink;
  /** The namespace was created by us (and will be removed by close()). */
  readonly createdNetns: boolean;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

function parseIntOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw Object.assign(new Error(`--${name} must be an integer in ${min}..${max}`), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
    }
    return n;
  };
}

/** Throws unless --addr and --host-addr are IPv4 addresses in one subnet (prefix 1..30). */
export function checkAddresses(o: Pick<UpOptions, 'addr' | 'hostAddr'>): void {
  const [hostText, lenText] = o.hostAddr.split('/');
  const addr = tryParseIpv4(o.addr);
  const host = tryParseIpv4(hostText);
  const len = Number(lenText);
  if (addr === null) throw new Error(`--addr: not an IPv4 address: ${o.addr}`);
  if (host === null || lenText === undefined || !Number.isInteger(len) || len < 1 || len > 30) {
    throw new Error(`--host-addr: expected ADDRESS/PREFIX, e.g. 10.0.0.1/24, got ${o.hostAddr}`);
  }
  if (host === addr) throw new Error('--addr and --host-addr must differ');
  // The kernel routes to the stack through the device's connected route: same subnet.
  const block = 2 ** (32 - len);
  if (Math.floor(host / block) !== Math.floor(addr / block)) {
    throw new Error(`--addr ${o.addr} is not inside --host-addr ${o.hostAddr}`);
  }
}

/**
 * Throws unless --addr6 and --host-addr6 are IPv6 addresses (no multicast, loopback or
 * unspecified) in one prefix (1..126, so that the kernel's connected route covers the stack).
 */
export function checkAddresses6(o: Pick<UpOptions, 'addr6' | 'hostAddr6'>): void {
  if (o.addr6 === undefined) return;
  const [hostText, lenText] = (o.hostAddr6 ?? '').split('/');
  const addr = tryParseIpv6(o.addr6);
  const host = tryParseIpv6(hostText);
  const len = Number(lenText);
  const usable = (a: Uint8Array) =>
    !isIpv6Multicast(a) && !isIpv6Unspecified(a) && !isIpv6Loopback(a);
  if (addr === null || !usable(addr))
    throw new Error(`--addr6: not a unicast IPv6 address: ${o.addr6}`);
  if (
    host === null ||
    !usable(host) ||
    lenText === undefined ||
    !Number.isInteger(len) ||
    len < 1 ||
    len > 126
  ) {
    throw new Error(`--host-addr6: expected ADDRESS/PREFIX, e.g. fd00::1/64, got ${o.hostAddr6}`);
  }
  if (ipv6Equal(addr, host)) throw new Error('--addr6 and --host-addr6 must differ');
  for (let bit = 0; bit < len; bit++) {
    const mask = 0x80 >>> (bit & 7);
    if ((addr[bit >>> 3] & mask) !== (host[bit >>> 3] & mask)) {
      throw new Error(`--addr6 ${o.addr6} is not inside --host-addr6 ${o.hostAddr6}`);
    }
  }
}

/** Files a container runtime leaves in a container's root: Docker's and Podman's. */
export const CONTAINER_MARKERS = ['/.dockerenv', '/run/.containerenv'] as const;
/** Set to 1 to say "this is a container" where the runtime leaves no marker file. */
export const IN_CONTAINER_ENV = 'TUNSTACK_IN_CONTAINER';

/** What --in-container looks at before it touches the current namespace. */
export interface ContainerFacts {
  /** Which of CONTAINER_MARKERS exist. */
  markers: readonly string[];
  /** TUNSTACK_IN_CONTAINER=1 is set. */
  envFlag: boolean;
  /** The current namespace's interfaces, `kind` from `ip -d link` (e.g. 'tun', 'veth'). */
  links: readonly { name: string; kind?: string }[];
}

/** Why --in-container must not run here, or null when it may. */
export function inContainerRefusal(f: ContainerFacts): string | null {
  if (f.markers.length === 0 && !f.envFlag) {
    return (
      `--in-container: this does not look like a container (no ${CONTAINER_MARKERS.join(' or ')}; ` +
      `set ${IN_CONTAINER_ENV}=1 if your runtime leaves none)`
    );
  }
  const own = f.links.filter((l) => l.name !== 'lo' && l.kind !== 'tun').map((l) => l.name);
  if (own.length > 0) {
    return (
      `--in-container: this namespace has a network of its own (${own.join(', ')}); ` +
      'run the container with --network none, or use --netns on a host'
    );
  }
  return null;
}

async function containerFacts(): Promise<ContainerFacts> {
  const out = await netns.runChecked(['ip', '-j', '-d', 'link', 'show']);
  const rows = JSON.parse(out) as { ifname: string; linkinfo?: { info_kind?: string } }[];
  return {
    markers: CONTAINER_MARKERS.filter((m) => existsSync(m)),
    envFlag: process.env[IN_CONTAINER_ENV] === '1',
    links: rows.map((r) => ({ name: r.ifname, kind: r.linkinfo?.info_kind })),
  };
}

/**
 * --in-container: the TUN device and its host-side address in the current namespace. IPv6 is set
 * up when `o.hostAddr6` is given and the container lets us (`ipv6` in the answer says whether).
 */
async function openInThisNamespace(
  o: UpOptions,
  logger: Logger,
): Promise<{ tun: TunLink; ipv6: boolean }> {
  const refusal = inContainerRefusal(await containerFacts());
  if (refusal !== null) {
    throw Object.assign(new Error(refusal), { code: 'ERR_TUN_ROOT_NAMESPACE' });
  }
  const tun = await TunLink.open({
    name: o.dev,
    mtu: o.mtu,
    batch: o.batch,
    allowRootNamespace: true,
    offload: o.offload,
  });
  let ipv6 = false;
  try {
    // As TunLink does in a namespace: no IPv6 towards an IPv4 stack. /proc/sys is read-only in
    // most containers (`docker run --sysctl net.ipv6.conf.default.disable_ipv6=1` does it there).
    const conf = `/proc/sys/net/ipv6/conf/${tun.name}`;
    try {
      writeFileSync(`${conf}/disable_ipv6`, o.hostAddr6 === undefined ? '1' : '0');
      if (o.hostAddr6 !== undefined) writeFileSync(`${conf}/accept_dad`, '0');
    } catch {}
    await netns.runChecked(['ip', 'addr', 'add', o.hostAddr, 'dev', tun.name]);
    if (o.hostAddr6 !== undefined) {
      try {
        await netns.runChecked(['ip', '-6', 'addr', 'add', o.hostAddr6, 'dev', tun.name, 'nodad']);
        ipv6 = true;
      } catch (err) {
        logger.warn({ err }, 'IPv6 is not available in this container: IPv4 only');
      }
    }
  } catch (err) {
    await tun.close();
    throw err;
  }
  return { tun, ipv6 };
}

/** Bring everything up; on any failure undo what was done and rethrow. */
export async function startUp(o: UpOptions, logger: Logger): Promise<Running> {
  checkAddresses(o);
  checkAddresses6(o);
  if (o.addr6 !== undefined && o.mtu < IPV6_MIN_MTU) {
    logger.info({ mtu: o.mtu }, `IPv6 off: it needs an MTU of at least ${IPV6_MIN_MTU}`);
    o = { ...o, addr6: undefined, hostAddr6: undefined };
  }
  const impairment = o.impair === undefined ? undefined : parseImpair(o.impair); // fail early
  // FaultLink offers no offload: its faults are per packet (src/link/fault.ts).
  const offload = (o.offload ?? true) && impairment === undefined;
  if ((o.offload ?? true) && !offload) logger.info('offload off: --impair works per packet');
  // The namespace's lifecycle, shared with `relay` (src/cli/netns-session.ts): the owner file
  // refuses a second `up` for a live one's namespace and reclaims what a killed run left.
  const session = await openNetnsSession(o.netns, { inContainer: o.inContainer, logger });
  const undo = { push: session.defer };
  const runUndo = () => session.close();

  try {
    let tun: TunLink;
    if (o.inContainer) {
      const opened = await openInThisNamespace({ ...o, offload }, logger);
      tun = opened.tun;
      if (!opened.ipv6) o = { ...o, addr6: undefined, hostAddr6: undefined };
    } else {
      tun = await TunLink.open({
        name: o.dev,
        netns: o.netns,
        mtu: o.mtu,
        batch: o.batch,
        hostAddress: o.hostAddr,
        hostAddress6: o.addr6 === undefined ? undefined : o.hostAddr6,
        offload,
      });
    }
    undo.push(() => tun.close());
    if (offload) {
      if (tun.offload?.tso) {
        const tso = tun.offload.tso6 ? 'TSO4, TSO6' : 'TSO4';
        logger.info({ offloads: tun.offloads }, `offload: checksum, ${tso}`);
      } else logger.info({ vnetHdr: tun.vnetHdr }, 'offload: not granted by the kernel, plain TUN');
    }
    const { link, recorder } = stackLink(tun, { pcap: o.pcap, impairment, record: o.record });
    const stack = createStack({
      link,
      address: o.addr,
      ...(o.addr6 === undefined ? {} : { address6: o.addr6 }),
      mtu: o.mtu,
      logger,
      clock: realClock,
      tcp: { conn: realLinkTcp(o), synCookies: o.synCookies ?? 1 },
    });
    undo.push(() => stack.close()); // closes the whole chain of links
    const apps: AppHandle[] = await startApps(o.apps, stack, logger);
    undo.push(async () => {
      for (const a of apps) await a.close();
    });
    // `tunstack ss` asks over a control socket; SIGUSR2 prints the table unless it is taken
    // by --stats-file.
    const ss = await attachSs(
      o.netns,
      () => stack.connections(),
      logger,
      o.statsFile === undefined,
      { packets: packetsHandler(recorder) },
    );
    const controlSocket = ss.path;
    if (controlSocket !== null) session.atExit(() => unlinkSync(controlSocket));
    undo.push(() => ss.close());

    const stats = () => ({ stack: stack.stats, tun: tun.stats });
    let closing: Promise<void> | undefined;
    return {
      options: o,
      logger,
      stack,
      tun,
      createdNetns: session.created,
      stats,
      close: () => {
        closing ??= runUndo();
        return closing;
      },
    };
  } catch (err) {
    await runUndo();
    throw err;
  }
}

/** What to try once the stack is up: a command and what it shows. */
export function tryCommands(o: UpOptions): { cmd: string; what: string }[] {
  const inNs = (cmd: string) => (o.inContainer ? cmd : `ip netns exec ${o.netns} ${cmd}`);
  const out = [
    { cmd: inNs(`ping ${o.addr}`), what: 'ICMP echo' },
    ...(o.addr6 === undefined
      ? []
      : [
          {
            cmd: inNs(`ping -6 ${o.addr6}`),
            what: 'ICMPv6 echo',
          },
        ]),
    { cmd: inNs(`curl http://${o.addr}/`), what: 'the connection your request came on' },
    ...(o.addr6 === undefined
      ? []
      : [{ cmd: inNs(`curl -6 http://[${o.addr6}]/`), what: 'the same over IPv6' }]),
  ];
  if (o.apps.includes('styles')) {
    out.push({
      cmd: inNs(`chromium --no-sandbox http://${o.addr}:${STYLES_PORT}/`),
      what: 'the connection styles page (or any browser in the namespace)',
    });
  }
  out.push({
    cmd: `tunstack ss -i${o.netns === 'tunstack' ? '' : ` --netns ${o.netns}`}`,
    what: 'the connection table, live',
  });
  return out;
}

/** 'ready: stack 10.0.0.2 and fd00::2 on tun0 in netns tunstack (host side …)'. */
function readyLine(o: UpOptions, dev: string): string {
  const where = o.inContainer ? "this container's namespace" : `netns ${o.netns}`;
  if (o.addr6 === undefined) {
    return `ready: stack ${o.addr} on ${dev} in ${where} (host side ${o.hostAddr})`;
  }
  return (
    `ready: stack ${o.addr} and ${o.addr6} on ${dev} in ${where} ` +
    `(host side ${o.hostAddr}, ${o.hostAddr6})`
  );
}

/** The line that tells a person what to do next. */
export function readyMessage(o: UpOptions, dev: string): string {
  return (
    `${readyLine(o, dev)}; try: ` +
    tryCommands(o)
      .map((t) => t.cmd)
      .join(' | ')
  );
}

/** The ready line and the commands to try, one a line, as plain text for a terminal. */
export function readyText(o: UpOptions, dev: string): string {
  const cmds = tryCommands(o);
  const width = Math.max(...cmds.map((t) => t.cmd.length));
  return [
    readyLine(o, dev),
    'try, from another terminal:',
    ...cmds.map((t) => `  ${t.cmd.padEnd(width)}  # ${t.what}`),
    'Ctrl-C stops the stack and removes what it created.',
    '',
  ].join('\n');
}

/**
 * The --stats-file contract (scripts/bench): after a full GC when node runs with --expose-gc,
 * one JSON object with process memory, live TCP connections (listeners not counted) and all
 * counters; written to PATH.tmp and renamed, so a reader never sees half a file.
 */
function writeStatsFile(file: string, running: Running): void {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const stats = running.stats();
  const body = {
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    tcpConnections: running.stack.connections().filter((c) => c.state !== 'LISTEN').length,
    stats,
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(body)}\n`);
  renameSync(`${file}.tmp`, file);
}

async function upAction(raw: Record<string, unknown>): Promise<void> {
  const o: UpOptions = {
    netns: raw.netns as string,
    dev: raw.dev as string,
    addr: raw.addr as string,
    hostAddr: raw.hostAddr as string,
    addr6: raw.ipv6 === false ? undefined : (raw.addr6 as string),
    hostAddr6: raw.ipv6 === false ? undefined : (raw.hostAddr6 as string),
    mtu: raw.mtu as number,
    batch: raw.batch as number,
    pcap: raw.pcap as string | undefined,
    impair: raw.impair as string | undefined,
    record: raw.record as number,
    apps: (raw.apps as string[] | undefined) ?? [...DEFAULT_APPS],
    logLevel: raw.logLevel as LogLevel,
    logFormat: (raw.logFormat as LogFormat | undefined) ?? defaultLogFormat(),
    statsFile: raw.statsFile as string | undefined,
    inContainer: raw.inContainer === true,
    congestion: raw.congestion as CongestionName,
    tlp: raw.tlp !== false,
    rack: raw.rack !== false,
    rfcProbes: raw.rfcProbes === true,
    offload: raw.offload !== false,
    synCookies: Number(raw.synCookies ?? 1) as SynCookieMode,
    sndBuf: raw.sndBuf as number | undefined,
    rcvBuf: raw.rcvBuf as number | undefined,
    ecn: raw.ecn === true ? 1 : raw.ecn === false ? 0 : undefined,
  };
  const logger = createLogger(o.logLevel, o.logFormat);
  if (process.getuid?.() !== 0)
    logger.warn('not root: creating namespaces and TUN devices will fail');
  const running = await startUp(o, logger);
  const ro = running.options; // IPv6 may have been turned off (MTU, container)
  // A person at a terminal reads the ready line plain; a pipe gets it as one JSON record.
  if (o.logFormat === 'pretty') process.stdout.write(readyText(ro, running.tun.name));
  else
    logger.info(
      {
        address: o.addr,
        address6: ro.addr6,
        dev: running.tun.name,
        netns: o.netns,
        hostAddress: o.hostAddr,
        hostAddress6: ro.hostAddr6,
        mtu: o.mtu,
        apps: o.apps,
        pcap: o.pcap,
        impair: o.impair,
        inContainer: o.inContainer,
        try: tryCommands(ro).map((t) => t.cmd),
      },
      readyMessage(ro, running.tun.name),
    );

  const onUsr1 = () => logger.info({ stats: running.stats() }, 'stats');
  const onUsr2 = () => {
    if (o.statsFile === undefined) return;
    try {
      writeStatsFile(o.statsFile, running);
    } catch (err) {
      logger.error({ err, file: o.statsFile }, 'writing the stats file');
    }
  };
  // SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal went away) all stop the stack in order:
  // apps, stack, device, control socket, then the namespace it created. A second one exits at
  // once; the 'exit' hook of startUp still removes the namespace, the socket and the owner file.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const final = running.stats();
    // Bounded: a stuck close must not keep the process alive forever.
    const timer = setTimeout(() => {
      logger.error('shutdown timed out after 2 s');
      process.exit(1);
    }, 2_000);
    running
      .close()
      .then(() => {
        clearTimeout(timer);
        logger.info({ stats: final }, 'stopped');
        process.off('SIGUSR1', onUsr1);
        process.off('SIGUSR2', onUsr2);
        for (const sig of STOP_SIGNALS) process.off(sig, stop);
        logger.flush();
        process.exitCode = 0;
      })
      .catch((err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGUSR1', onUsr1);
  if (o.statsFile !== undefined) process.on('SIGUSR2', onUsr2);
  for (const sig of STOP_SIGNALS) process.on(sig, stop);
}

/** The signals `up` shuts down on, in order (the first) or at once (a second one). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export const upCommand: CliCommand = {
  name: 'up',
  register(program: Command): void {
    program
      .command('up')
      .description('run the stack on a TUN device inside a network namespace')
      .option('--netns <name>', 'network namespace for the device (created if missing)', 'tunstack')
      .option('--dev <name>', 'TUN interface name inside the namespace', 'tun0')
      .option('--addr <ip>', "the stack's IPv4 address", '10.0.0.2')
      .option('--host-addr <cidr>', 'kernel-side address of the device', '10.0.0.1/24')
      .option('--addr6 <ip>', "the stack's IPv6 address (docs/ipv6.md)", 'fd00::2')
      .option('--host-addr6 <cidr>', 'kernel-side IPv6 address of the device', 'fd00::1/64')
      .option('--no-ipv6', 'IPv4 only: IPv6 disabled on the device, no IPv6 address for the stack')
      .option('--mtu <bytes>', 'device MTU', parseIntOption('mtu', 576, 65535), 1500)
      .option('--batch <n>', 'packets per read/write batch', parseIntOption('batch', 1, 4096), 64)
      .option('--pcap <file>', 'record every packet crossing the device to a pcap file')
      .option(
        '--impair <spec>',
        'fault injection, e.g. loss=1%,delay=20ms,seed=7 (src/link/fault.ts)',
      )
      .option(
        '--record <k>',
        'keep the last K packets in memory for `tunstack ladder --live` (0: off)',
        parseIntOption('record', 0, MAX_RECORD),
        0,
      )
      .option(
        '--apps <names>',
        // Keep the names alone in the parentheses: scripts/bench reads them from --help.
        `apps to start, comma-separated (${Object.keys(APPS).join(', ')}); default: ${
          DEFAULT_APPS.join(',') || 'none'
        }`,
        (v: string) => v.split(',').filter(Boolean),
      )
      .option('--stats-file <file>', 'on SIGUSR2 write memory use and counters to this JSON file')
      .addOption(
        new Option('--congestion <name>', 'congestion control of every TCP connection')
          .choices(['reno', 'cubic'])
          .default('cubic'),
      )
      .option('--no-tlp', 'no tail loss probes (RFC 8985 §7): losses at the tail wait for the RTO')
      .option('--no-rack', "no RACK (RFC 8985 §6): RFC 6675's duplicate-ACK loss detection")
      .option(
        '--rfc-probes',
        'tail loss probes as RFC 8985 §7: new data first, none in recovery (default: the last ' +
          'segment again, also in recovery)',
      )
      .option(
        '--offload',
        'IFF_VNET_HDR + TSO4/TSO6: 64 KiB TCP segments to and from the kernel (default, when it can)',
      )
      .option('--no-offload', 'plain TUN, one MTU-sized packet per read/write (for comparison)')
      .option(
        '--ecn',
        "ECN (RFC 3168): ask for it on our connects too (Linux's tcp_ecn=1); by default it is " +
          'accepted when a peer asks (tcp_ecn=2)',
      )
      .option('--no-ecn', 'no ECN at all, not even when a peer asks (tcp_ecn=0)')
      .option(
        '--snd-buf <bytes>',
        'send buffer of every TCP connection (default 256 KiB)',
        parseIntOption('snd-buf', 4096, MAX_CONN_BUFFER),
      )
      .option(
        '--rcv-buf <bytes>',
        'receive buffer (largest window offered) of every TCP connection (default 256 KiB)',
        parseIntOption('rcv-buf', 4096, MAX_CONN_BUFFER),
      )
      .addOption(
        new Option(
          '--syn-cookies <mode>',
          "SYN cookies, as Linux's tcp_syncookies: 0 never, 1 when a SYN queue is full, 2 always",
        )
          .choices(['0', '1', '2'])
          .default('1'),
      )
      .addOption(
        new Option(
          '--in-container',
          'the container is the namespace: put the device in this one (only in a container ' +
            `run with --network none; ${IN_CONTAINER_ENV}=1 where no /.dockerenv); docs/docker.md`,
        ).conflicts('netns'),
      )
      .addOption(
        new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default('info'),
      )
      .addOption(
        new Option(
          '--log-format <format>',
          'pretty lines for a person or JSON lines (default: pretty on a terminal, else json)',
        ).choices(LOG_FORMATS),
      )
      .action(upAction);
  },
};
