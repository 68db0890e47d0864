/**
 * Helpers for the TCP kernel tests and scripts/transfer-times.ts: kernel-side peers (Node
 * programs run with `ip netns exec`), their stack-side twins on `stack.net`, loss in the
 * namespace with nftables, and the check that no connection is left half-way.
 *
 * A transfer is "N random bytes, then a half-close; the receiver answers with the length and
 * SHA-256 of what it got, then closes": the sender compares hashes, and the time runs from the
 * connect to the receiver's answer, so bytes still sitting in a buffer are never counted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { expect } from 'vitest';
import type { NetStack } from '../../src/api/index.ts';
import { createStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import { FaultLink, type Impairment } from '../../src/link/fault.ts';
import * as netns from '../../src/link/netns.ts';
import { realClock } from '../../src/stack/clock.ts';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { HOST_ADDR, STACK_ADDR, type StackFixture, withNetns } from './harness.ts';

// ---------------------------------------------------------------------------------------------
// Kernel-side programs (CommonJS for `node -e`; arguments after `--`)

/**
 * `sink HOST PORT`: for each connection, hash what arrives; after the peer's FIN answer
 * {"bytes","sha256"} and close. Prints "listening PORT", then one JSON line per connection.
 */
export const SINK_SERVER = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port] = process.argv.slice(1);
const srv = net.createServer({ allowHalfOpen: true }, (s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => {
    const r = { bytes: n, sha256: h.digest('hex') };
    s.end(JSON.stringify(r) + '\\n');
    console.log(JSON.stringify(r));
  });
  s.on('error', (e) => console.log(JSON.stringify({ error: e.code, bytes: n })));
});
srv.listen(Number(port), host, () => console.log('listening ' + srv.address().port));`;

/**
 * \`source HOST PORT BYTES\`: connect, send BYTES random bytes, half-close, read the answer; print
 * {"sent","sha256","reply","ms"} or {"error"}.
 */
export const SOURCE_CLIENT = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port, total] = process.argv.slice(1);
const h = crypto.createHash('sha256'); let left = Number(total), t0 = 0n, reply = '';
const s = net.connect({ host, port: Number(port), allowHalfOpen: true });
const pump = () => {
  while (left > 0) {
    const b = crypto.randomFillSync(Buffer.allocUnsafe(Math.min(left, 65536)));
    h.update(b); left -= b.length;
    if (!s.write(b)) return s.once('drain', pump);
  }
  s.end();
};
s.on('connect', () => { t0 = process.hrtime.bigint(); pump(); });
s.setEncoding('utf8');
s.on('data', (d) => { reply += d; });
s.on('end', () => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let r = null; try { r = JSON.parse(reply); } catch {}
  console.log(JSON.stringify({ sent: Number(total), sha256: h.digest('hex'), reply: r, ms }));
});
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exitCode = 1; });`;

/** `echo HOST PORT`: TCP echo with half-close (pipe ends our side after the peer's FIN). */
export const ECHO_SERVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const srv = net.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
srv.listen(Number(port), host, () => console.log('listening ' + srv.address().port));`;

/**
 * `echo-clients HOST PORT COUNT BYTES`: open COUNT connections at once; each sends BYTES
 * distinct bytes, half-closes and checks the echo. Prints {"ok","bad","errors","ms"}.
 */
export const ECHO_CLIENTS = `
const net = require('node:net');
const [host, port, count, bytes] = process.argv.slice(1).map((x, i) => i === 0 ? x : Number(x));
let ok = 0, bad = 0, done = 0; const errors = {}; const t0 = Date.now();
const finish = () => { if (++done === count) console.log(JSON.stringify({ ok, bad, errors, ms: Date.now() - t0 })); };
for (let i = 0; i < count; i++) {
  const msg = Buffer.alloc(bytes, 'connection ' + i + ' ');
  const s = net.connect({ host, port, allowHalfOpen: true });
  const parts = [];
  s.on('connect', () => s.end(msg));
  s.on('data', (d) => parts.push(d));
  s.on('end', () => { if (Buffer.concat(parts).equals(msg)) ok++; else bad++; s.destroy(); finish(); });
  s.on('error', (e) => { errors[e.code] = (errors[e.code] || 0) + 1; finish(); });
}`;

export interface SinkReply {
  bytes: number;
  sha256: string;
}

export interface SourceResult {
  sent: number;
  sha256: string;
  reply: SinkReply | null;
  ms: number;
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Kernel-side processes

export interface NsProcess {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line matching `re`; rejects if the process exits first. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Start `argv` inside namespace `ns` without waiting for it (a server, or a client killed
 * mid-way). It is killed with SIGKILL after `timeoutMs` at the latest; the caller kills it
 * earlier in a finally block. (`ip netns exec` execs the command, so the pid is the program's.)
 */
export function spawnInNs(ns: string, argv: readonly string[], timeoutMs = 60_000): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const hardStop = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  void exited.then(() => clearTimeout(hardStop));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForLine: (re, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const m = out.match(re);
        if (m) return resolve(m);
        const timer = setTimeout(() => reject(new Error(`no ${re} in ${ms} ms: ${err}`)), ms);
        waiters.push({
          re,
          resolve: (x) => {
            clearTimeout(timer);
            resolve(x);
          },
        });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`exited (${code ?? signal}) before ${re}: ${err.trim()}`));
        });
      }),
  };
}

/** Start a kernel-side Node program (SINK_SERVER, ECHO_SERVER) and wait for "listening PORT". */
export async function startKernelServer(
  ns: string,
  script: string,
  host: string,
  port: number,
  timeoutMs = 120_000,
): Promise<NsProcess & { port: number }> {
  const p = spawnInNs(ns, [process.execPath, '-e', script, '--', host, String(port)], timeoutMs);
  try {
    const m = await p.waitForLine(/listening (\d+)/, 30_000); // node starts slowly on a busy machine
    return Object.assign(p, { port: Number(m[1]) });
  } catch (err) {
    p.kill();
    throw err;
  }
}

/** Run SOURCE_CLIENT in `ns` against HOST:PORT and parse its line. */
export async function kernelSource(
  ns: string,
  host: string,
  port: number,
  bytes: number,
  timeoutMs = 120_000,
): Promise<SourceResult> {
  const r = await netns.exec(
    ns,
    [process.execPath, '-e', SOURCE_CLIENT, '--', host, String(port), String(bytes)],
    { timeoutMs },
  );
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as SourceResult;
  } catch {
    throw new Error(`source client: ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The same two roles on the stack

/**
 * The sink on `stack.net`: resolves once listening; `results` collects one entry per connection
 * (an error code if it failed).
 */
export async function stackSink(
  stack: NetStack,
  port: number,
): Promise<{ results: (SinkReply | { error: string })[]; close(): void }> {
  const results: (SinkReply | { error: string })[] = [];
  const server = stack.net.createServer({ allowHalfOpen: true }, (s: Socket) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    s.on('end', () => {
      const r = { bytes: n, sha256: h.digest('hex') };
      results.push(r);
      s.end(`${JSON.stringify(r)}\n`);
    });
    s.on('error', (e: NodeJS.ErrnoException) => results.push({ error: e.code ?? e.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return { results, close: () => server.close() };
}

/**
 * The source on `stack.net`: connect to HOST:PORT, send `bytes` random bytes with backpressure,
 * half-close, and read the answer. Rejects with the socket's error (ECONNREFUSED, ECONNRESET...).
 * `onProgress` sees the running total of bytes written.
 */
export function stackSource(
  stack: NetStack,
  host: string,
  port: number,
  bytes: number,
  onProgress?: (written: number) => void,
): Promise<SourceResult> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let left = bytes;
    let t0 = 0;
    let reply = '';
    const s = stack.net.connect({ port, host, allowHalfOpen: true });
    const pump = (): void => {
      while (left > 0) {
        const b = randomFillSync(Buffer.allocUnsafe(Math.min(left, 65_536)));
        h.update(b);
        left -= b.length;
        onProgress?.(bytes - left);
        if (!s.write(b)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    s.on('connect', () => {
      t0 = performance.now();
      pump();
    });
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      reply += d;
    });
    s.on('end', () => {
      let r: SinkReply | null = null;
      try {
        r = JSON.parse(reply) as SinkReply;
      } catch {}
      resolve({ sent: bytes, sha256: h.digest('hex'), reply: r, ms: performance.now() - t0 });
    });
    s.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Loss in the namespace, and the check that nothing is left half-way

/**
 * Drop `percent` % of packets each way between this namespace and `peer`, with nftables
 * `numgen random` (no netem on this kernel): input from the peer, output to the peer. An IPv6
 * `peer` gets the rules in an ip6 table (read its counters with `nftDrops(ns, 6)`).
 */
export async function addNftLoss(ns: string, peer: string, percent: number): Promise<void> {
  const fam = peer.includes(':') ? 'ip6' : 'ip';
  const rules = `table ${fam} tsk_loss {
  chain input { type filter hook input priority 0; ${fam} saddr ${peer} numgen random mod 100 < ${percent} counter drop; }
  chain output { type filter hook output priority 0; ${fam} daddr ${peer} numgen random mod 100 < ${percent} counter drop; }
}`;
  const r = await netns.exec(ns, ['nft', '-f', '-'], { input: rules });
  if (r.code !== 0) throw new Error(`nft in ${ns}: ${r.stderr.trim()}`);
}

/** Packets the loss rules have dropped so far: from the peer (input) and to it (output). */
export async function nftDrops(
  ns: string,
  family: 4 | 6 = 4,
): Promise<{ input: number; output: number }> {
  const fam = family === 6 ? 'ip6' : 'ip';
  const r = await netns.exec(ns, ['nft', 'list', 'table', fam, 'tsk_loss']);
  const count = (chain: string) => {
    const m = new RegExp(`chain ${chain} \\{[^}]*counter packets (\\d+)`).exec(r.stdout);
    return m ? Number(m[1]) : 0;
  };
  return { input: count('input'), output: count('output') };
}

/** Kernel TCP sockets in `ns`, from `ss -tanH`: [state, local, peer]. */
export async function kernelSockets(ns: string): Promise<[string, string, string][]> {
  const r = await netns.exec(ns, ['ss', '-tanH']);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return [f[0], f[3], f[4]];
    });
}

/** States in which a connection is finished, or a socket is no connection at all. */
const FINAL_KERNEL = new Set(['LISTEN', 'TIME-WAIT']);
const FINAL_STACK = new Set(['LISTEN', 'TIME_WAIT', 'CLOSED']);

/**
 * Wait (up to `timeoutMs`) until neither the kernel in `ns` nor the stack has a connection in a
 * non-final state (TIME-WAIT and listeners allowed); throw listing the ones left otherwise. The
 * default leaves room for a FIN retransmitted after a loss (RTO backoff) on a loaded machine.
 */
export async function expectAllClosed(
  ns: string,
  stack: NetStack,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const kernel = (await kernelSockets(ns)).filter(([state]) => !FINAL_KERNEL.has(state));
    const ours = stack.connections().filter((r) => !FINAL_STACK.has(r.state));
    if (kernel.length === 0 && ours.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `connections left open after ${timeoutMs} ms:\n` +
          `  kernel (ss -tan in ${ns}): ${JSON.stringify(kernel)}\n` +
          `  stack: ${JSON.stringify(ours.map((r) => [r.state, r.local, r.remote]))}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** "12.3 s, 8.1 MB/s" for a transfer of `bytes` in `ms`. */
export function rate(bytes: number, ms: number): string {
  return `${(ms / 1000).toFixed(2)} s, ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

// ---------------------------------------------------------------------------------------------
// Timed transfers (the tests and scripts/transfer-times.ts)

export interface Transfer {
  bytes: number;
  ms: number;
  /** The receiver's length and hash equal the sender's. */
  intact: boolean;
  result: SourceResult;
}

function transfer(result: SourceResult, bytes: number): Transfer {
  const intact =
    result.reply !== null &&
    result.reply.bytes === bytes &&
    result.reply.sha256 === result.sha256 &&
    result.sent === bytes;
  return { bytes, ms: result.ms, intact, result };
}

/**
 * The transfer succeeded: `size` bytes arrived with the sender's SHA-256 (the reply's, so a
 * failure names what differs).
 */
export function expectIntact(r: SourceResult, size: number): void {
  expect(r.error, 'the transfer failed').toBeUndefined();
  expect(r.reply?.bytes).toBe(size);
  expect(r.reply?.sha256).toBe(r.sha256);
}

/**
 * A kernel client in `ns` sends `bytes` to a sink on the stack (port 5001) at `stackAddr`
 * (fd00::2 for IPv6).
 */
export async function kernelToStack(
  ns: string,
  stack: NetStack,
  bytes: number,
  timeoutMs = 120_000,
  stackAddr = STACK_ADDR,
): Promise<Transfer> {
  const sink = await stackSink(stack, 5001);
  try {
    return transfer(await kernelSource(ns, stackAddr, 5001, bytes, timeoutMs), bytes);
  } finally {
    sink.close();
  }
}

/** The stack sends `bytes` to a kernel sink in `ns` at `hostAddr` (fd00::1 for IPv6). */
export async function stackToKernel(
  ns: string,
  stack: NetStack,
  bytes: number,
  timeoutMs = 120_000,
  hostAddr = HOST_ADDR,
): Promise<Transfer> {
  const sink = await startKernelServer(ns, SINK_SERVER, hostAddr, 0, timeoutMs);
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return transfer(
        await Promise.race([stackSource(stack, hostAddr, sink.port, bytes), late]),
        bytes,
      );
    } finally {
      clearTimeout(timer);
    }
  } finally {
    sink.kill();
    await sink.exited;
  }
}

/** A kernel client in `clientNs` sends `bytes` to a kernel sink in `serverNs` at `serverAddr`. */
export async function kernelToKernel(
  clientNs: string,
  serverNs: string,
  serverAddr: string,
  bytes: number,
  timeoutMs = 120_000,
): Promise<Transfer> {
  const sink = await startKernelServer(serverNs, SINK_SERVER, serverAddr, 0, timeoutMs);
  try {
    return transfer(await kernelSource(clientNs, serverAddr, sink.port, bytes, timeoutMs), bytes);
  } finally {
    sink.kill();
    await sink.exited;
  }
}

/**
 * withNetns plus a Stack whose link is wrapped in a FaultLink (`impairment` on the stack's side,
 * both directions), if one is given. Also returns the FaultLink for its counters.
 */
export function withImpairedStack<T>(
  impairment: Impairment | null,
  fn: (fx: StackFixture, fault: FaultLink | null) => Promise<T>,
  tcp?: Partial<TcpConnectionOptions>,
): Promise<T> {
  return withNetns(async (fx) => {
    const fault = impairment === null ? null : new FaultLink(fx.link, impairment, realClock);
    const stack = createStack({
      link: fault ?? fx.link,
      address: STACK_ADDR,
      clock: realClock,
      ...(tcp === undefined ? {} : { tcp: { conn: tcp } }),
    });
    try {
      return await fn({ ...fx, stack }, fault);
    } finally {
      await stack.close();
    }
  });
}

/**
 * Two namespaces joined by a veth pair, 10.0.1.1/24 (a) and 10.0.1.2/24 (b); always removed.
 * GSO is capped at one 1500-byte packet on both ends so that the kernel sends MTU-sized packets
 * as it must over TUN (no offloads there): then nftables drops packets, not 64 KB super-packets,
 * and the comparison with the stack is like for like. `gso: true` keeps the kernel's defaults.
 */
export async function withVethPair<T>(
  fn: (a: string, b: string) => Promise<T>,
  options: { gso?: boolean } = {},
): Promise<T> {
  const a = netns.uniqueName();
  const b = netns.uniqueName();
  await netns.create(a);
  try {
    await netns.create(b);
    try {
      await netns.ip(a, [
        'link',
        'add',
        'veth0',
        'type',
        'veth',
        'peer',
        'name',
        'veth1',
        'netns',
        b,
      ]);
      await netns.ip(a, ['addr', 'add', '10.0.1.1/24', 'dev', 'veth0']);
      await netns.ip(b, ['addr', 'add', '10.0.1.2/24', 'dev', 'veth1']);
      for (const [ns, dev] of options.gso
        ? []
        : [
            [a, 'veth0'],
            [b, 'veth1'],
          ]) {
        await netns.ip(ns, [
          'link',
          'set',
          'dev',
          dev,
          'gso_max_size',
          '1500',
          'gso_max_segs',
          '1',
        ]);
      }
      await netns.ip(a, ['link', 'set', 'veth0', 'up']);
      await netns.ip(b, ['link', 'set', 'veth1', 'up']);
      return await fn(a, b);
    } finally {
      await netns.remove(b);
    }
  } finally {
    await netns.remove(a);
  }
}
