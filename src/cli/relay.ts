/**
 * `tunstack relay [--netns NAME] [-- COMMAND ARGS…]`: give a namespace its network through
 * tunstack, as slirp4netns and pasta do, and see every connection it makes.
 *
 *   this process (the egress side: whatever namespace it was started in)
 *     stack 10.0.2.2, a wildcard listener (src/stack/held-syn.ts) ──► node:net / node:dgram
 *   namespace NAME (the client): lo, and tun0 10.0.2.100/24, default route via 10.0.2.2,
 *     resolv.conf → 10.0.2.3 (queries relayed to the egress side's resolver)
 *
 * Every flow that enters the device is carried on by an ordinary kernel socket opened here
 * (src/relay). With a COMMAND, it runs inside the client namespace (`ip netns exec`), and when it
 * exits everything is torn down and the relay exits with its status, after a summary of the flows
 * it made on stderr. Without one, it stays up like `tunstack up` until a signal.
 *
 * Safety: the relay dials from the namespace it runs in. Tests and benches run it inside an
 * egress namespace of their own (`ip netns exec EGRESS tunstack relay …`); nothing in CI relays
 * from the root namespace.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { createStack } from '../api/index.ts';
import * as netns from '../link/netns.ts';
import { TunLink } from '../link/tun.ts';
import { type EchoRelayStats, IcmpEchoRelay } from '../relay/icmp.ts';
import { type TcpFlowRow, TcpRelay, type TcpRelayStats } from '../relay/tcp.ts';
import { type UdpFlowRow, UdpRelay, type UdpRelayStats } from '../relay/udp.ts';
import { realClock } from '../stack/clock.ts';
import type { Stack } from '../stack/stack.ts';
import { IpProtocol, tryParseIpv4 } from '../wire/ipv4.ts';
import { IPV6_MIN_MTU, Ipv6Next } from '../wire/ipv6.ts';
import type { CliCommand } from './command.ts';
import { MAX_RECORD, packetsHandler } from './live-packets.ts';
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
} from './logger.ts';
import { openNetnsSession } from './netns-session.ts';
import { attachSs } from './ss.ts';
import { checkAddresses6, realLinkTcp, stackLink } from './up.ts';

export interface RelayOptions {
  /** The client namespace (created if missing, removed at exit if created). */
  netns: string;
  dev: string;
  /** The stack's own address: the client's gateway. */
  addr: string;
  /** The client's address on the device, with its prefix. */
  clientAddr: string;
  /**
   * The stack's IPv6 address (the client's IPv6 gateway) and the client's, with its prefix;
   * undefined: IPv4 only (--no-ipv6, or an MTU below 1280).
   */
  addr6?: string;
  clientAddr6?: string;
  /** The DNS address the client's resolv.conf names (relayed to `dns`). */
  dnsAddr: string;
  /** The egress resolver; default: the first nameserver of this side's /etc/resolv.conf. */
  dns?: string;
  mtu: number;
  batch: number;
  offload: boolean;
  pcap?: string;
  record?: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxFlows: number;
  udpIdleMs: number;
  maxUdpFlows: number;
  maxPings: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Print the flow summary at exit (on stderr). */
  summary: boolean;
  /**
   * After the command exits, wait up to this long for its TCP flows to finish (the bytes its
   * kernel still had to send when it exited) before tearing down.
   */
  lingerMs: number;
  /** The command to run in the client namespace; empty: stay up until a signal. */
  command: string[];
}

export const RELAY_DEFAULTS = {
  netns: 'tunstack-relay',
  dev: 'tun0',
  addr: '10.0.2.2',
  clientAddr: '10.0.2.100/24',
  dnsAddr: '10.0.2.3',
  addr6: 'fd00:2::2',
  clientAddr6: 'fd00:2::100/64',
} as const;

/** The first IPv4 nameserver of a resolv.conf text, or null. */
export function firstNameserver(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null && tryParseIpv4(m[1]) !== null) return m[1];
  }
  return null;
}

/** A running relay: what the command runner, the signal handlers and tests need. */
export interface RunningRelay {
  readonly options: RelayOptions;
  readonly stack: Stack;
  readonly tcp: TcpRelay;
  readonly udp: UdpRelay;
  readonly icmp: IcmpEchoRelay;
  readonly tun: TunLink;
  stats(): RelayStats;
  close(): Promise<void>;
}

export interface RelayStats {
  tcp: TcpRelayStats;
  udp: UdpRelayStats;
  icmp: EchoRelayStats;
  stack: Stack['stats'];
}

/** Bring the client namespace, the device, the stack and the relays up; undo on failure. */
export async function startRelay(o: RelayOptions, logger: Logger): Promise<RunningRelay> {
  const addr = tryParseIpv4(o.addr);
  const [clientText, lenText] = o.clientAddr.split('/');
  if (addr === null) throw new Error(`--addr: not an IPv4 address: ${o.addr}`);
  if (tryParseIpv4(clientText) === null || lenText === undefined) {
    throw new Error(`--client-addr: expected ADDRESS/PREFIX, e.g. 10.0.2.100/24: ${o.clientAddr}`);
  }
  if (tryParseIpv4(o.dnsAddr) === null) throw new Error(`--dns-addr: not IPv4: ${o.dnsAddr}`);
  if (o.addr6 !== undefined && o.mtu < IPV6_MIN_MTU) {
    logger.warn({ mtu: o.mtu }, `IPv6 needs an MTU of at least ${IPV6_MIN_MTU}: IPv4 only`);
    o = { ...o, addr6: undefined, clientAddr6: undefined };
  }
  if (o.addr6 !== undefined && !existsSync('/proc/sys/net/ipv6')) {
    // A kernel booted with ipv6.disable=1: no namespace can have IPv6.
    logger.warn('this kernel has no IPv6 (no /proc/sys/net/ipv6): IPv4 only');
    o = { ...o, addr6: undefined, clientAddr6: undefined };
  }
  try {
    checkAddresses6({ addr6: o.addr6, hostAddr6: o.clientAddr6 });
  } catch (err) {
    throw new Error((err as Error).message.replaceAll('--host-addr6', '--client-addr6'));
  }
  let dns = o.dns ?? null;
  if (dns === null) {
    try {
      dns = firstNameserver(readFileSync('/etc/resolv.conf', 'utf8'));
    } catch {}
  }
  if (dns !== null && tryParseIpv4(dns) === null) throw new Error(`--dns: not IPv4: ${dns}`);
  if (dns === null) logger.warn('no IPv4 nameserver on this side: DNS through the relay is off');

  // The namespace's lifecycle, shared with `up` (src/cli/netns-session.ts).
  const session = await openNetnsSession(o.netns, { logger });
  const undo = { push: session.defer };
  const runUndo = () => session.close();

  try {
    const tun = await TunLink.open({
      name: o.dev,
      netns: o.netns,
      mtu: o.mtu,
      batch: o.batch,
      hostAddress: o.clientAddr,
      hostAddress6: o.addr6 === undefined ? undefined : o.clientAddr6,
      offload: o.offload,
    });
    undo.push(() => tun.close());
    // Everything the client sends goes through the device, to the stack as its gateway.
    await netns.ip(o.netns, ['route', 'replace', 'default', 'via', o.addr, 'dev', tun.name]);
    if (o.addr6 !== undefined) {
      await netns.ip(o.netns, [
        '-6',
        'route',
        'replace',
        'default',
        'via',
        o.addr6,
        'dev',
        tun.name,
      ]);
    }
    if (dns !== null) {
      const conf = writeResolvConf(o.netns, o.dnsAddr);
      if (conf !== null) {
        session.atExit(() => {
          unlinkSync(conf.file);
          if (conf.dir !== null) rmdirSync(conf.dir);
        });
      }
    }

    const { link, recorder } = stackLink(tun, { pcap: o.pcap, record: o.record });
    const stack = createStack({
      link,
      address: o.addr,
      ...(o.addr6 === undefined ? {} : { address6: o.addr6 }),
      mtu: o.mtu,
      logger,
      clock: realClock,
      tcp: { conn: realLinkTcp({}), maxConnections: Math.max(16_384, o.maxFlows * 2) },
    });
    undo.push(() => stack.close());
    const dnsUpstream = dns === null ? null : { host: dns, port: 53 };
    const tcp = new TcpRelay(stack, logger, {
      connectTimeoutMs: o.connectTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      maxFlows: o.maxFlows,
      // TCP DNS (a truncated answer's retry) to the DNS address goes to the resolver too.
      redirect: (a, port) => (a === o.dnsAddr && port === 53 ? dnsUpstream : null),
    });
    undo.push(() => tcp.close());
    const udp = new UdpRelay(stack, logger, {
      idleMs: o.udpIdleMs,
      maxFlows: o.maxUdpFlows,
      dnsAddr: o.dnsAddr,
      dnsUpstream,
    });
    undo.push(() => udp.close());
    const icmp = new IcmpEchoRelay(stack, logger, { maxInFlight: o.maxPings });
    undo.push(() => icmp.close());
    stack.acceptAnyDestination({
      datagram: (d) => {
        if (d.protocol === IpProtocol.Udp) udp.input(d);
        else if (d.protocol === IpProtocol.Icmp) icmp.input(d);
        else icmp.stats.otherProtocols++;
      },
      datagram6: (d) => {
        if (d.protocol === Ipv6Next.Udp) udp.input6(d);
        else if (d.protocol === Ipv6Next.Icmpv6) icmp.input6(d);
        else icmp.stats.otherProtocols++;
      },
    });
    const ss = await attachSs(o.netns, () => stack.connections(), logger, true, {
      packets: packetsHandler(recorder),
      relay: () => ({
        tcp: tcp.flows(),
        udp: udp.flows(),
        stats: { tcp: tcp.stats, udp: udp.stats, icmp: icmp.stats },
        memory: process.memoryUsage(),
      }),
    });
    const controlSocket = ss.path;
    if (controlSocket !== null) session.atExit(() => unlinkSync(controlSocket));
    undo.push(() => ss.close());
    logger.info(
      {
        netns: o.netns,
        dev: tun.name,
        gateway: o.addr,
        client: o.clientAddr,
        gateway6: o.addr6 ?? null,
        client6: o.addr6 === undefined ? null : o.clientAddr6,
        dns: dns === null ? null : `${o.dnsAddr} -> ${dns}`,
      },
      `relay ready: namespace ${o.netns} routes through ${tun.name} to ${o.addr}`,
    );
    let closing: Promise<void> | undefined;
    return {
      options: o,
      stack,
      tcp,
      udp,
      icmp,
      tun,
      stats: () => ({ tcp: tcp.stats, udp: udp.stats, icmp: icmp.stats, stack: stack.stats }),
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

/**
 * /etc/netns/NAME/resolv.conf, which `ip netns exec NAME` bind-mounts over /etc/resolv.conf:
 * the client resolves through the relay's DNS address. Left alone when one exists already.
 */
function writeResolvConf(ns: string, dnsAddr: string): { file: string; dir: string | null } | null {
  netns.checkNetnsName(ns);
  const dir = `/etc/netns/${ns}`;
  const file = `${dir}/resolv.conf`;
  if (existsSync(file)) return null;
  const made = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    file,
    `# tunstack relay: queries go to the egress side's resolver\nnameserver ${dnsAddr}\n`,
  );
  return { file, dir: made ? dir : null };
}

function human(n: number): string {
  if (n < 10_000) return `${n} B`;
  if (n < 10_000_000) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/**
 * The one-screen summary of the flows a command made: per TCP flow (or per destination when
 * there are many) the destination, bytes each way, duration and retransmissions; UDP by
 * destination.
 */
export function formatSummary(
  tcp: readonly TcpFlowRow[],
  udp: readonly UdpFlowRow[],
  stats: Pick<RelayStats, 'tcp' | 'udp' | 'icmp'>,
  maxLines = 20,
): string {
  const now = Date.now();
  const lines: string[] = [];
  const t = stats.tcp;
  lines.push(
    `relay: ${t.dials} TCP dials (${t.connected} connected, ${t.refused} refused, ` +
      `${t.unreachable} unreachable), ${stats.udp.flowsOpened} UDP flows ` +
      `(${stats.udp.dnsQueries} DNS queries), ${stats.icmp.requests} pings; ` +
      `up ${human(t.bytesUp + stats.udp.bytesUp)}, down ${human(t.bytesDown + stats.udp.bytesDown)}`,
  );
  type Agg = {
    flows: number;
    up: number;
    down: number;
    ms: number;
    retrans: number;
    states: Set<string>;
  };
  const by = new Map<string, Agg>();
  for (const r of tcp) {
    const key = tcp.length <= maxLines ? `${r.dst} ${r.client}` : r.dst;
    const a = by.get(key) ?? { flows: 0, up: 0, down: 0, ms: 0, retrans: 0, states: new Set() };
    a.flows++;
    a.up += r.bytesUp;
    a.down += r.bytesDown;
    a.ms = Math.max(a.ms, (r.endedAt ?? now) - r.startedAt);
    a.retrans += r.retransmits;
    a.states.add(r.state);
    by.set(key, a);
  }
  const rows = [...by.entries()].sort((a, b) => b[1].up + b[1].down - (a[1].up + a[1].down));
  const head = ['proto', 'destination', 'flows', 'up', 'down', 'duration', 'retrans', 'end'];
  const cells: string[][] = [];
  for (const [key, a] of rows.slice(0, maxLines)) {
    const [dst, client] = key.split(' ');
    cells.push([
      'tcp',
      client === undefined ? dst : `${dst} (from ${client})`,
      String(a.flows),
      human(a.up),
      human(a.down),
      `${(a.ms / 1000).toFixed(2)} s`,
      String(a.retrans),
      [...a.states].join(','),
    ]);
  }
  if (rows.length > maxLines)
    cells.push(['tcp', `… ${rows.length - maxLines} more`, '', '', '', '', '', '']);
  const udpBy = new Map<string, { flows: number; up: number; down: number }>();
  for (const r of udp) {
    const key = r.dst === r.upstream ? r.dst : `${r.dst} → ${r.upstream}`;
    const a = udpBy.get(key) ?? { flows: 0, up: 0, down: 0 };
    a.flows++;
    a.up += r.bytesUp;
    a.down += r.bytesDown;
    udpBy.set(key, a);
  }
  for (const [key, a] of [...udpBy.entries()].slice(0, maxLines)) {
    cells.push(['udp', key, String(a.flows), human(a.up), human(a.down), '', '', '']);
  }
  if (cells.length > 0) {
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: readonly string[]) =>
      c
        .map((x, i) => (i >= 2 && i <= 6 ? x.padStart(widths[i]) : x.padEnd(widths[i])))
        .join('  ')
        .trimEnd();
    lines.push(line(head), ...cells.map(line));
  }
  return `${lines.join('\n')}\n`;
}

/** 128 + the signal's number, as a shell reports a command killed by a signal. */
function signalStatus(signal: NodeJS.Signals): number {
  const n = (
    { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 } as Record<
      string,
      number
    >
  )[signal];
  return 128 + (n ?? 1);
}

async function relayAction(command: string[], raw: Record<string, unknown>): Promise<void> {
  const withCommand = command.length > 0;
  const o: RelayOptions = {
    netns: raw.netns as string,
    dev: raw.dev as string,
    addr: raw.addr as string,
    clientAddr: raw.clientAddr as string,
    addr6: raw.ipv6 === false ? undefined : (raw.addr6 as string),
    clientAddr6: raw.ipv6 === false ? undefined : (raw.clientAddr6 as string),
    dnsAddr: raw.dnsAddr as string,
    dns: raw.dns as string | undefined,
    mtu: Number(raw.mtu),
    batch: Number(raw.batch),
    offload: raw.offload !== false,
    pcap: raw.pcap as string | undefined,
    record: Number(raw.record ?? 0),
    connectTimeoutMs: Number(raw.connectTimeout),
    idleTimeoutMs: Number(raw.idleTimeout),
    maxFlows: Number(raw.maxFlows),
    udpIdleMs: Number(raw.udpIdle),
    maxUdpFlows: Number(raw.maxUdpFlows),
    maxPings: Number(raw.maxPings),
    logLevel: raw.logLevel as LogLevel,
    // With a command, stdout is the command's: the relay logs to stderr.
    logFormat:
      (raw.logFormat as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json'),
    summary: raw.summary !== false,
    lingerMs: Number(raw.linger),
    command,
  };
  for (const [name, v] of Object.entries({
    mtu: o.mtu,
    batch: o.batch,
    'connect-timeout': o.connectTimeoutMs,
    'idle-timeout': o.idleTimeoutMs,
    'max-flows': o.maxFlows,
    'udp-idle': o.udpIdleMs,
    'max-udp-flows': o.maxUdpFlows,
    'max-pings': o.maxPings,
    linger: o.lingerMs,
  })) {
    if (!Number.isInteger(v) || v < 0) {
      throw Object.assign(new Error(`--${name} must be a non-negative integer`), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
    }
  }
  const logger = createLogger(o.logLevel, o.logFormat, { destination: process.stderr });
  const running = await startRelay(o, logger);
  let stopping = false;
  const finish = async (status: number) => {
    if (stopping) return;
    stopping = true;
    const tcpRows = running.tcp.flows();
    const udpRows = running.udp.flows();
    const stats = running.stats();
    const timer = setTimeout(() => {
      logger.error('shutdown timed out after 3 s');
      process.exit(status === 0 ? 1 : status);
    }, 3_000);
    await running.close().catch((err) => logger.error({ err }, 'shutdown failed'));
    clearTimeout(timer);
    logger.info({ relay: { tcp: stats.tcp, udp: stats.udp, icmp: stats.icmp } }, 'relay stopped');
    if (o.summary) process.stderr.write(formatSummary(tcpRows, udpRows, stats));
    logger.flush();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
    process.exitCode = status;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.exit(signalStatus(signal));
    }
    if (child !== null && child.exitCode === null) {
      child.kill(signal); // the command goes first; its exit ends the relay
      return;
    }
    void finish(signalStatus(signal));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  let child: ReturnType<typeof spawn> | null = null;
  if (!withCommand) {
    logger.info(`try: ip netns exec ${o.netns} curl http://… | tunstack ss --netns ${o.netns}`);
    return;
  }
  child = spawn('ip', ['netns', 'exec', o.netns, ...command], { stdio: 'inherit' });
  child.on('error', (err) => {
    logger.error({ err }, 'could not run the command');
    void finish(127);
  });
  child.on('exit', (code, signal) => {
    const status = code ?? (signal === null ? 1 : signalStatus(signal));
    // What the command's kernel still had to send when it exited is still on its way: let the
    // open flows finish (bounded by --linger), then tear down.
    const until = Date.now() + o.lingerMs;
    const wait = () => {
      if (running.tcp.size === 0 || Date.now() >= until || stopping) void finish(status);
      else setTimeout(wait, 20);
    };
    wait();
  });
}

export const relayCommand: CliCommand = {
  name: 'relay',
  register(program: Command): void {
    program
      .command('relay')
      .description(
        'give a namespace (or a command) its network through tunstack, relaying every flow ' +
          'through kernel sockets of the namespace tunstack runs in',
      )
      .argument(
        '[command...]',
        'run this in the client namespace (after --), then exit with its status',
      )
      .option('--netns <name>', 'the client namespace (created if missing)', RELAY_DEFAULTS.netns)
      .option('--dev <name>', 'TUN interface name inside the namespace', RELAY_DEFAULTS.dev)
      .option('--addr <ip>', "the stack's address: the client's gateway", RELAY_DEFAULTS.addr)
      .option(
        '--client-addr <cidr>',
        "the client's address on the device",
        RELAY_DEFAULTS.clientAddr,
      )
      .option(
        '--addr6 <ip>',
        "the stack's IPv6 address: the client's IPv6 gateway",
        RELAY_DEFAULTS.addr6,
      )
      .option(
        '--client-addr6 <cidr>',
        "the client's IPv6 address on the device",
        RELAY_DEFAULTS.clientAddr6,
      )
      .option('--no-ipv6', 'IPv4 only: IPv6 disabled on the device')
      .option(
        '--dns-addr <ip>',
        "the resolver address in the client's resolv.conf",
        RELAY_DEFAULTS.dnsAddr,
      )
      .option('--dns <ip>', "where DNS goes on the egress side (default: this side's resolv.conf)")
      .option('--mtu <bytes>', 'device MTU', '1500')
      .option('--batch <n>', 'packets per read/write batch', '64')
      .option('--no-offload', 'plain TUN, one MTU-sized packet per read/write')
      .option('--pcap <file>', 'record every packet crossing the device to a pcap file')
      .option('--record <k>', 'keep the last K packets for `tunstack ladder --live`', (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > MAX_RECORD) throw new Error('--record: 0..100000');
        return n;
      })
      .option('--connect-timeout <ms>', 'dial timeout before ICMP host unreachable', '10000')
      .option('--idle-timeout <ms>', 'reset a TCP flow idle this long (0: never)', '600000')
      .option('--max-flows <n>', 'TCP flows at once (more SYNs are dropped)', '4096')
      .option('--udp-idle <ms>', 'close a UDP flow idle this long', '60000')
      .option('--max-udp-flows <n>', 'UDP flows at once', '1024')
      .option('--max-pings <n>', 'echo requests relayed at once (ping on the egress side)', '64')
      .option(
        '--linger <ms>',
        "after the command exits, wait this long for its flows' last bytes",
        '5000',
      )
      .option('--no-summary', 'no flow summary at exit')
      .addOption(
        new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default('info'),
      )
      .addOption(
        new Option('--log-format <format>', 'pretty or JSON lines on stderr').choices(LOG_FORMATS),
      )
      .action(relayAction);
  },
};
