/**
 * The hostile-input tests' fixture: the stack at 10.0.0.2 with its apps (http 80, echo 7, UDP
 * echo 7) on the TUN device of a namespace the test creates and removes (harness.ts withNetns),
 * a link wrapper that keeps what the stack sends, and a way to put hand-built bytes onto the
 * kernel's side of the device exactly as built.
 *
 * Injection: a raw IP socket would fix up lengths and checksums, so the bytes go through an
 * AF_PACKET socket bound to tun0 inside the namespace (python3's standard library has one; Node
 * has none). The kernel hands them to the TUN device as they are, and the stack reads them.
 *
 * Barrier: after a test's packets, the injector sends one ICMP echo request of its own (id
 * BARRIER_ID). The device is a FIFO and the stack handles packets in order, so once its reply has
 * been sent every earlier packet has been handled and any reply to it has been sent too. Then
 * counters and replies can be checked exactly, without sleeping.
 */
import { expect } from 'vitest';
import { startEcho } from '../../../src/apps/echo.ts';
import { startHttp } from '../../../src/apps/http.ts';
import { startUdpEcho } from '../../../src/apps/udp-echo.ts';
import * as netns from '../../../src/link/netns.ts';
import type { Link, LinkReceiver } from '../../../src/stack/link.ts';
import type { StackOptions } from '../../../src/stack/stack.ts';
import {
  HOST_ADDR,
  type NetnsFixture,
  parsePing,
  STACK_ADDR,
  STACK_ADDR6,
  waitFor,
  withNetns,
} from '../harness.ts';
import { echoRequest, get16, type ParsedReply, PROTO_ICMP, parseReply } from './packets.ts';

/** Identifier of the injector's barrier echo requests. */
export const BARRIER_ID = 0xba55;

/** A link wrapper that keeps a copy of every packet the stack sends (bounded). */
export class TapLink implements Link {
  readonly mtu: number;
  readonly offload: Link['offload'];
  /** Copies of sent packets since the last `clear()`, oldest first, at most `limit`. */
  sent: Uint8Array[] = [];
  /** Packets sent since creation (including those beyond `limit`). */
  sentTotal = 0;

  constructor(
    private readonly inner: Link,
    readonly limit = 50_000,
  ) {
    this.mtu = inner.mtu;
    this.offload = inner.offload;
  }
  attach(rx: LinkReceiver): void {
    this.inner.attach(rx);
  }
  send(packet: Uint8Array, segmentSize?: number): void {
    this.sentTotal++;
    if (this.sent.length < this.limit) this.sent.push(packet.slice());
    this.inner.send(packet, segmentSize);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  clear(): void {
    this.sent = [];
  }
}

/**
 * Writes each line's bytes (hex) onto the device named by argv[1], unchanged, as IPv6 (ethertype
 * 0x86dd) when the first nibble is 6, else as IPv4. A line "pause MS" sleeps (so that a long run
 * does not overflow the device's queue). Prints the count sent; a packet the kernel refuses is
 * reported on stderr and the run goes on.
 */
const INJECTOR = `
import socket, sys, time
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((dev, 0x0800))
n = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    if line.startswith('pause '):
        time.sleep(float(line[6:]) / 1000)
        continue
    try:
        data = bytes.fromhex(line)
        s.sendto(data, (dev, 0x86dd if data and data[0] >> 4 == 6 else 0x0800))
        n += 1
    except OSError as e:
        sys.stderr.write('inject: %s\\n' % e)
print(n)
`;

import type { NetStack } from '../../../src/api/index.ts';
import { createStack } from '../../../src/api/index.ts';

/**
 * Write `packets` onto device `dev` inside namespace `ns`, unchanged, through AF_PACKET (with a
 * 5 ms pause every `pauseEvery` packets); asserts that the kernel took every one.
 */
export async function injectRaw(
  ns: string,
  dev: string,
  packets: readonly Uint8Array[],
  pauseEvery = 200,
): Promise<void> {
  const lines: string[] = [];
  packets.forEach((p, i) => {
    if (i > 0 && i % pauseEvery === 0) lines.push('pause 5');
    lines.push(Buffer.from(p).toString('hex'));
  });
  const r = await netns.exec(ns, ['python3', '-c', INJECTOR, dev], {
    input: `${lines.join('\n')}\n`,
    timeoutMs: 30_000,
  });
  expect(r.stderr, 'the injector').toBe('');
  expect(r.stdout.trim(), 'packets injected').toBe(String(packets.length));
}

export interface HostileFixture extends NetnsFixture {
  stack: NetStack;
  tap: TapLink;
  /**
   * Write `packets` onto the kernel's side of tun0 unchanged, then wait until the stack has
   * handled all of them (the barrier). Returns the stack's replies to them (barrier excluded).
   */
  inject(packets: readonly Uint8Array[], opts?: { pauseEvery?: number }): Promise<ParsedReply[]>;
  /** A plain deep copy of stack.stats. */
  snapshot(): StatsSnapshot;
}

export type StatsSnapshot = Record<string, unknown>;

let barrierSeq = 0;

export interface HostileStackOptions {
  stack?: Partial<Omit<StackOptions, 'link' | 'address'>>;
  /** Dual stack: fd00::1/64 on the kernel's side, the stack also at fd00::2 (harness.ts). */
  ipv6?: boolean;
}

/** withNetns, a TapLink, a Stack with http (80), echo (7) and UDP echo (7). */
export function withHostileStack<T>(
  fn: (fx: HostileFixture) => Promise<T>,
  opts: HostileStackOptions = {},
): Promise<T> {
  return withNetns(
    async (nfx) => {
      const tap = new TapLink(nfx.link);
      const stack = createStack({
        ...opts.stack,
        link: tap,
        address: STACK_ADDR,
        ...(opts.ipv6 ? { address6: STACK_ADDR6 } : {}),
      });
      const apps = [
        await startHttp(stack, 80),
        await startEcho(stack.net, 7),
        await startUdpEcho(stack, 7),
      ];
      const fx: HostileFixture = {
        ...nfx,
        stack,
        tap,
        snapshot: () => structuredClone(stack.stats) as unknown as StatsSnapshot,
        inject: async (packets, o = {}) => {
          tap.clear();
          const seq = ++barrierSeq & 0xffff;
          const barrier = echoRequest(HOST_ADDR, STACK_ADDR, BARRIER_ID, seq);
          await injectRaw(nfx.ns, nfx.link.name, [...packets, barrier], o.pauseEvery);
          const isBarrierReply = (p: Uint8Array): boolean => {
            // The stack sends 20-byte IP headers: the ICMP identifier is at 24, the sequence at 26.
            const rep = parseReply(p);
            return rep.protocol === PROTO_ICMP && rep.icmpType === 0 && get16(p, 24) === BARRIER_ID;
          };
          const barrierSeen = (): boolean =>
            tap.sent.some((p) => isBarrierReply(p) && get16(p, 26) === seq);
          await waitFor(barrierSeen, 10_000, 'the barrier echo reply');
          return tap.sent.filter((p) => !isBarrierReply(p)).map(parseReply);
        },
      };
      try {
        return await fn(fx);
      } finally {
        for (const app of apps) await app.close().catch(() => {});
        await stack.close();
      }
    },
    { ipv6: opts.ipv6 },
  );
}

/** Read a dotted path ('ip.drops.bad-ihl') of a stats snapshot; absent counts as 0. */
export function counter(s: StatsSnapshot, path: string): number {
  let v: unknown = s;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return 0;
    v = (v as Record<string, unknown>)[k];
  }
  return typeof v === 'number' ? v : 0;
}

/** How much each counter grew between two snapshots. */
export function grew(
  before: StatsSnapshot,
  after: StatsSnapshot,
  paths: readonly string[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of paths) out[p] = counter(after, p) - counter(before, p);
  return out;
}

export interface ServesResult {
  pingsAnswered: number;
  pingsSent: number;
  maxRttMs: number | null;
  curlOk: boolean;
  detail: string;
}

/** Does the stack still serve? Three pings (each answered within `rttLimitMs`) and a curl. */
export async function stillServes(
  fx: Pick<NetnsFixture, 'exec'>,
  rttLimitMs = 100,
): Promise<ServesResult> {
  const p = await fx.exec(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', STACK_ADDR], {
    timeoutMs: 10_000,
  });
  const rtts = [...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const c = await fx.exec(
    ['curl', '-sS', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${STACK_ADDR}/`],
    { timeoutMs: 10_000 },
  );
  const res = {
    pingsAnswered: rtts.filter((t) => t <= rttLimitMs).length,
    pingsSent: parsePing(p.stdout).transmitted,
    maxRttMs: rtts.length > 0 ? Math.max(...rtts) : null,
    curlOk: c.code === 0 && c.stdout === '200',
    detail: `ping: ${p.stdout.trim().split('\n').slice(-2).join(' / ')}; curl: ${c.code} ${c.stdout} ${c.stderr.trim()}`,
  };
  return res;
}

/** `stillServes` over IPv6: three `ping -6` to fd00::2 and `curl -6 http://[fd00::2]/`. */
export async function stillServes6(
  fx: Pick<NetnsFixture, 'exec'>,
  rttLimitMs = 100,
): Promise<ServesResult> {
  const p = await fx.exec(['ping', '-6', '-n', '-c', '3', '-i', '0.2', '-W', '1', STACK_ADDR6], {
    timeoutMs: 10_000,
  });
  const rtts = [...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const c = await fx.exec(
    [
      'curl',
      '-6',
      '-sS',
      '-m',
      '3',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://[${STACK_ADDR6}]/`,
    ],
    { timeoutMs: 10_000 },
  );
  return {
    pingsAnswered: rtts.filter((t) => t <= rttLimitMs).length,
    pingsSent: parsePing(p.stdout).transmitted,
    maxRttMs: rtts.length > 0 ? Math.max(...rtts) : null,
    curlOk: c.code === 0 && c.stdout === '200',
    detail: `ping -6: ${p.stdout.trim().split('\n').slice(-2).join(' / ')}; curl -6: ${c.code} ${c.stdout} ${c.stderr.trim()}`,
  };
}

/**
 * Both families still served: every ping and ping -6 answered (within ping's 1 s: the IPv6 suite
 * runs ~15 of these checks, and what it asserts is service, not speed on a shared machine), curl
 * and curl -6 get 200.
 */
export async function expectStillServesBoth(fx: Pick<NetnsFixture, 'exec'>): Promise<void> {
  for (const r of [await stillServes(fx, 1000), await stillServes6(fx, 1000)]) {
    expect(r.pingsAnswered, r.detail).toBe(3);
    expect(r.curlOk, r.detail).toBe(true);
  }
}

/** Assert that the stack still serves: every ping answered within 100 ms and curl gets 200. */
export async function expectStillServes(fx: Pick<NetnsFixture, 'exec'>): Promise<void> {
  const r = await stillServes(fx);
  expect(r.pingsAnswered, r.detail).toBe(3);
  expect(r.curlOk, r.detail).toBe(true);
}

/**
 * One fixture for a describe block: `open` in beforeAll, `close` in afterAll (the namespace is
 * removed even when a test fails), `fx` in between.
 */
export function hostileGroup(opts: HostileStackOptions = {}): {
  readonly fx: HostileFixture;
  open(): Promise<void>;
  close(): Promise<void>;
} {
  let fixture: HostileFixture | null = null;
  let release: () => void = () => {};
  let finished: Promise<unknown> = Promise.resolve();
  return {
    get fx(): HostileFixture {
      if (fixture === null) throw new Error('hostileGroup: not open');
      return fixture;
    },
    open: () =>
      new Promise<void>((resolve, reject) => {
        const done = new Promise<void>((r) => {
          release = r;
        });
        finished = withHostileStack(async (fx) => {
          fixture = fx;
          resolve();
          await done;
        }, opts).catch(reject);
      }),
    close: async () => {
      release();
      await finished;
      fixture = null;
    },
  };
}

/** What the barrier itself adds to the counters (one echo request in, one reply out). */
export const BARRIER_COUNTS: Readonly<Record<string, number>> = {
  'ip.rxPackets': 1,
  'ip.rxDelivered': 1,
  'ip.txDatagrams': 1,
  'ip.txPackets': 1,
  'icmp.rxMessages': 1,
  'icmp.rxEchoRequests': 1,
  'icmp.txMessages': 1,
  'icmp.txEchoReplies': 1,
  'link.rxPackets': 1,
  'link.txPackets': 1,
};

/**
 * The replies that answer a case are exactly `want`, in order (either family's parsed replies
 * and matchers); `describe` prints one for the message.
 */
export function expectReplies<R>(
  replies: readonly R[],
  want: readonly { what: string; match(r: R): boolean }[],
  describe: (r: R) => string,
): void {
  const seen = replies.map(describe);
  const wanted = want.map((m) => m.what);
  expect(seen.length, `replies: want [${wanted.join('; ')}], got [${seen.join('; ')}]`).toBe(
    wanted.length,
  );
  want.forEach((m, i) => {
    expect(m.match(replies[i]), `reply ${i}: want ${m.what}, got ${seen[i]}`).toBe(true);
  });
}

/** `grew`, less what one barrier adds: what the test's own packets did. */
export function grewByCase(
  before: StatsSnapshot,
  after: StatsSnapshot,
  paths: readonly string[],
): Record<string, number> {
  const g = grew(before, after, paths);
  for (const p of paths) g[p] -= BARRIER_COUNTS[p] ?? 0;
  return g;
}
