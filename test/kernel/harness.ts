/**
 * The kernel test harness: the Linux kernel as the peer, over a TUN device inside a network
 * namespace that each test creates and always removes.
 *
 *   root namespace                      namespace tsk-<pid>-<n>-<rand>
 *   ┌──────────────────────────┐        ┌───────────────────────────────────────────┐
 *   │ this Node process        │  fd    │ tun0  10.0.0.1/24 (the kernel, "host side")│
 *   │ TunLink → Stack 10.0.0.2 │◄──────►│ ping, socat, `node -e` run here with        │
 *   └──────────────────────────┘        │ `ip netns exec`                              │
 *                                       └───────────────────────────────────────────┘
 *
 * The device is opened inside the namespace (the addon setns()es there and back), so nothing is
 * added to the root namespace and every packet stays in the test's namespace.
 *
 * Gating (STYLE.md, Tests): when CI=true these tests must run, so a missing prerequisite fails
 * loudly with the reason; elsewhere they skip with one line saying why.
 */
import { accessSync, constants } from 'node:fs';
import { describe, it } from 'vitest';
import type { NetStack } from '../../src/api/index.ts';
import { createStack } from '../../src/api/index.ts';
import type { ExecOptions, ExecResult } from '../../src/link/netns.ts';
import * as netns from '../../src/link/netns.ts';
import { PcapLink } from '../../src/link/pcap.ts';
import { loadAddon, TunLink, type TunOpenOptions } from '../../src/link/tun.ts';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { internetChecksum, pseudoHeaderSum } from '../../src/wire/checksum.ts';

export const HOST_ADDR = '10.0.0.1';
export const STACK_ADDR = '10.0.0.2';
export const PREFIX_LEN = 24;
/** With `ipv6: true`: the kernel's side fd00::1/64, the stack fd00::2 (as `tunstack up`). */
export const HOST_ADDR6 = 'fd00::1';
export const STACK_ADDR6 = 'fd00::2';
export const PREFIX_LEN6 = 64;

/** Why kernel tests cannot run here, or null if they can. */
export function kernelUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and TUN devices)';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/net/tun is missing or not accessible';
  }
  try {
    loadAddon();
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

/** Is this a CI run, where kernel tests are mandatory? */
export const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

/**
 * `describe` for kernel tests. Runs the block when the prerequisites are met; in CI without them,
 * registers one failing test naming the reason; otherwise skips with one console line.
 * `needs` lists extra commands the file uses (ping, tcpdump, socat).
 */
export function kernelDescribe(name: string, fn: () => void, needs: readonly string[] = []): void {
  let reason = kernelUnavailableReason();
  if (reason === null) {
    const missing = needs.filter((cmd) => !hasCommand(cmd));
    if (missing.length > 0) {
      reason = `missing ${missing.join(', ')} (apt-get install -y iputils-ping tcpdump socat)`;
    }
  }
  if (reason === null) {
    describe(name, fn);
    return;
  }
  if (inCI()) {
    describe(name, () => {
      it('has its prerequisites (CI=true: kernel tests are mandatory)', () => {
        throw new Error(`kernel tests cannot run: ${reason}`);
      });
    });
    return;
  }
  console.log(`[kernel] skipping "${name}": ${reason}`);
  describe.skip(name, fn);
}

/** Is `cmd` on PATH? */
export function hasCommand(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(`${dir}/${cmd}`, constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

let leftoversCleaned = false;

export interface NetnsFixture {
  /** The namespace's name. */
  ns: string;
  /** The TUN device, open inside the namespace, 10.0.0.1/24 on the kernel side. */
  link: TunLink;
  hostAddr: string;
  stackAddr: string;
  /** Run argv inside the namespace. */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Run a Node script inside the namespace (`node -e script -- args...`). */
  node(script: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Kernel-side counters of the TUN device (`/proc/net/dev` inside the namespace). */
  devCounters(): Promise<DevCounters>;
}

export interface WithNetnsOptions extends Pick<TunOpenOptions, 'mtu' | 'batch' | 'offload'> {
  /** Interface name inside the namespace (default tun0). */
  dev?: string;
  /**
   * Dual stack: IPv6 on the device with fd00::1/64 on the kernel's side (and, with withStack,
   * the stack at fd00::2). Default: IPv4 only, IPv6 disabled on the device.
   */
  ipv6?: boolean;
}

/**
 * Create a uniquely named namespace, open the TUN inside it with the host-side address, run fn,
 * and ALWAYS close the device and delete the namespace afterwards.
 */
export async function withNetns<T>(
  fn: (fx: NetnsFixture) => Promise<T>,
  opts: WithNetnsOptions = {},
): Promise<T> {
  if (!leftoversCleaned) {
    leftoversCleaned = true;
    const removed = await netns.cleanupLeftovers();
    if (removed.length > 0)
      console.log(`[kernel] removed leftover namespaces: ${removed.join(' ')}`);
  }
  const ns = netns.uniqueName();
  await netns.create(ns);
  let link: TunLink | undefined;
  try {
    link = await TunLink.open({
      name: opts.dev ?? 'tun0',
      netns: ns,
      mtu: opts.mtu ?? 1500,
      batch: opts.batch ?? 64,
      hostAddress: `${HOST_ADDR}/${PREFIX_LEN}`,
      hostAddress6: opts.ipv6 ? `${HOST_ADDR6}/${PREFIX_LEN6}` : undefined,
      offload: opts.offload,
    });
    const dev = link.name;
    const fx: NetnsFixture = {
      ns,
      link,
      hostAddr: HOST_ADDR,
      stackAddr: STACK_ADDR,
      exec: (argv, o) => netns.exec(ns, argv, o),
      node: (script, args = [], o) =>
        netns.exec(ns, [process.execPath, '-e', script, '--', ...args], o),
      devCounters: () => devCounters(ns, dev),
    };
    return await fn(fx);
  } finally {
    try {
      await link?.close();
    } finally {
      await netns.remove(ns);
    }
  }
}

export interface StackFixture extends NetnsFixture {
  /** The stack at 10.0.0.2 in this process, on the TUN (through a PcapLink if asked). */
  stack: NetStack;
}

export interface WithStackOptions extends WithNetnsOptions {
  /** Record every packet crossing the device to this pcap file. */
  pcap?: string;
  /** The stack's TCP connection options, when not the core's defaults. */
  tcp?: Partial<TcpConnectionOptions>;
}

/**
 * withNetns plus a Stack on the device. The stack is closed (which closes the link, and
 * completes the pcap) before the namespace is removed.
 */
export function withStack<T>(
  fn: (fx: StackFixture) => Promise<T>,
  opts: WithStackOptions = {},
): Promise<T> {
  return withNetns(async (fx) => {
    const link = opts.pcap === undefined ? fx.link : new PcapLink(fx.link, opts.pcap);
    const stack = createStack({
      link,
      address: STACK_ADDR,
      ...(opts.ipv6 ? { address6: STACK_ADDR6 } : {}),
      ...(opts.tcp === undefined ? {} : { tcp: { conn: opts.tcp } }),
    });
    try {
      return await fn({ ...fx, stack });
    } finally {
      await stack.close();
    }
  }, opts);
}

/** Counters of one device as the kernel sees it (its rx = packets we wrote). */
export interface DevCounters {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txDropped: number;
}

export async function devCounters(ns: string, dev: string): Promise<DevCounters> {
  const out = await netns.runChecked(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/dev']);
  for (const line of out.split('\n')) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] !== dev) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; Transmit: bytes packets errs drop ...
    return {
      rxBytes: f[0],
      rxPackets: f[1],
      rxDropped: f[3],
      txBytes: f[8],
      txPackets: f[9],
      txDropped: f[11],
    };
  }
  throw new Error(`device ${dev} not found in namespace ${ns}`);
}

export interface PingResult {
  transmitted: number;
  received: number;
  lossPercent: number;
  rtt: { min: number; avg: number; max: number; mdev: number } | null;
  raw: ExecResult;
}

/** Run iputils ping inside the namespace and parse its summary. */
export async function ping(
  fx: NetnsFixture,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<PingResult> {
  const raw = await fx.exec(['ping', '-n', ...args], opts);
  return { ...parsePing(raw.stdout), raw };
}

export function parsePing(out: string): Omit<PingResult, 'raw'> {
  const counts = /(\d+) packets transmitted, (\d+) received.*?([\d.]+)% packet loss/.exec(out);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  return {
    transmitted: counts ? Number(counts[1]) : 0,
    received: counts ? Number(counts[2]) : 0,
    lossPercent: counts ? Number(counts[3]) : 100,
    rtt: rtt
      ? { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]), mdev: Number(rtt[4]) }
      : null,
  };
}

/**
 * Wait until pred() is true, polling every few ms; reject after timeoutMs. The bound only sets how
 * long a failure takes, so callers pass a generous one (a loaded 2-core CI machine is slow).
 */
export async function waitFor(
  pred: () => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Raw packets for the addon tests (the addon alone, before any stack is involved)
// ---------------------------------------------------------------------------------------------

const ipv4Bytes = (s: string): number[] => s.split('.').map(Number);

/** A 20-byte IPv4 header (RFC 791 §3.1) followed by `payload`, header checksum filled in. */
export function rawIpv4(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
): Uint8Array {
  const pkt = new Uint8Array(20 + payload.length);
  const total = pkt.length;
  pkt.set([0x45, 0, total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, protocol, 0, 0]);
  pkt.set(ipv4Bytes(src), 12);
  pkt.set(ipv4Bytes(dst), 16);
  const sum = internetChecksum(pkt, 0, 20);
  pkt[10] = sum >> 8;
  pkt[11] = sum & 0xff;
  pkt.set(payload, 20);
  return pkt;
}

/** An IPv4/UDP datagram with a correct UDP checksum (RFC 768). */
export function rawUdp(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  data: Uint8Array,
): Uint8Array {
  const udp = new Uint8Array(8 + data.length);
  udp.set([
    srcPort >> 8,
    srcPort & 0xff,
    dstPort >> 8,
    dstPort & 0xff,
    udp.length >> 8,
    udp.length & 0xff,
  ]);
  udp.set(data, 8);
  const [a, b] = [src, dst].map((s) => ipv4Bytes(s).reduce((acc, x) => acc * 256 + x, 0));
  let sum = internetChecksum(udp, 0, udp.length, pseudoHeaderSum(a, b, 17, udp.length));
  if (sum === 0) sum = 0xffff; // RFC 768: a computed zero is sent as all ones
  udp[6] = sum >> 8;
  udp[7] = sum & 0xff;
  return rawIpv4(src, dst, 17, udp);
}

/** An IPv4/ICMP echo request (RFC 792). */
export function rawEchoRequest(
  src: string,
  dst: string,
  id: number,
  seq: number,
  data: Uint8Array,
): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  icmp.set([8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]);
  icmp.set(data, 8);
  const sum = internetChecksum(icmp);
  icmp[2] = sum >> 8;
  icmp[3] = sum & 0xff;
  return rawIpv4(src, dst, 1, icmp);
}
