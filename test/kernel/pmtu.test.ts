/**
 * Path MTU discovery with the kernel as the router (issue 12 item 5): the kernel in the harness's
 * namespace A forwards the stack's packets onto a narrower path to a peer in a second namespace
 * B, and answers what does not fit with real ICMP "fragmentation needed" (IPv4, DF set) and
 * Packet Too Big (IPv6). The stack lowers the live connection's send MSS and every transfer
 * completes with its SHA-256 intact.
 *
 *   stack 10.0.0.2 / fd00::2 ──tun0──► namespace A (forwarding on) ──veth──► namespace B
 *                                       10.0.0.1 / fd00::1 on tun0           10.9.0.2 / fd09::2
 *                                       10.9.0.1 / fd09::1 on vA             route back to the
 *                                       route to B: mtu 1300                  stack via A (1500)
 *
 * The narrow hop is A's route to B (`mtu 1300`, which the kernel honours when forwarding), not
 * the veth's MTU: with an MTU of 1300 on B's side, B would announce an MSS of 1260 and the stack
 * would never send anything too big. B's own route back keeps the veth's 1500, so B announces
 * MSS 1460 and its data to the stack goes through whole.
 *
 * TUNSTACK_PMTU_MB changes the transfer size (default 16).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { expect, it } from 'vitest';
import { createStack, type NetStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import { realLinkTcp } from '../../src/cli/up.ts';
import * as netns from '../../src/link/netns.ts';
import { realClock } from '../../src/stack/clock.ts';
import type { TcpConnectionRow } from '../../src/stack/tcp.ts';
import {
  kernelDescribe,
  type NetnsFixture,
  STACK_ADDR,
  STACK_ADDR6,
  withNetns,
} from './harness.ts';
import {
  expectIntact,
  kernelSource,
  SINK_SERVER,
  stackSink,
  stackSource,
  startKernelServer,
} from './tcp-peers.ts';

const MB = 1_000_000;
const SIZE = Number(process.env.TUNSTACK_PMTU_MB ?? 16) * MB;
/** Per transfer: generous, the machine is shared (2 cores). */
const TIMEOUT_MS = 200_000;
const NARROW = 1300;
const B4 = '10.9.0.2';
const B6 = 'fd09::2';

/**
 * `fetch HOST PORT`: connect, read everything until the peer's FIN, print {"bytes","sha256"}
 * (or {"error"}).
 */
const FETCH_CLIENT = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port] = process.argv.slice(1);
const h = crypto.createHash('sha256'); let n = 0;
const s = net.connect({ host, port: Number(port) });
s.on('data', (d) => { h.update(d); n += d.length; });
s.on('end', () => console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') })));
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exitCode = 1; });`;

/**
 * Set net.* sysctls inside namespace `ns` (each namespace has its own), through /proc/sys as
 * seen from inside it: `sh` is everywhere, procps's `sysctl` is not.
 */
async function sysctl(ns: string, ...settings: string[]): Promise<void> {
  for (const s of settings) {
    const [key, value] = s.split('=');
    const path = `/proc/sys/${key.replaceAll('.', '/')}`;
    await netns.runChecked(['ip', 'netns', 'exec', ns, 'sh', '-c', `echo ${value} > ${path}`]);
  }
}

interface Path {
  fx: NetnsFixture;
  stack: NetStack;
  /** Namespace B, the peer's. */
  b: string;
}

/**
 * The harness's namespace A with forwarding on, B behind a veth, and the dual-stack stack;
 * `offload`: the device with segmentation offload, as `tunstack up` opens it where it can.
 */
async function withPath(fn: (p: Path) => Promise<void>, offload = false): Promise<void> {
  await withNetns(
    async (fx) => {
      const a = fx.ns;
      const b = netns.uniqueName();
      await netns.create(b);
      try {
        // The pair is made inside A with its peer moved straight to B: nothing in the root.
        await netns.ip(a, ['link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', b]);
        await sysctl(b, 'net.ipv6.conf.vB.accept_dad=0');
        await sysctl(a, 'net.ipv6.conf.vA.accept_dad=0');
        await netns.ip(a, ['addr', 'add', '10.9.0.1/24', 'dev', 'vA', 'noprefixroute']);
        await netns.ip(a, [
          '-6',
          'addr',
          'add',
          'fd09::1/64',
          'dev',
          'vA',
          'nodad',
          'noprefixroute',
        ]);
        await netns.ip(b, ['addr', 'add', `${B4}/24`, 'dev', 'vB']);
        await netns.ip(b, ['-6', 'addr', 'add', `${B6}/64`, 'dev', 'vB', 'nodad']);
        await netns.ip(a, ['link', 'set', 'vA', 'up']);
        await netns.ip(b, ['link', 'set', 'vB', 'up']);
        await netns.ip(b, ['link', 'set', 'lo', 'up']);
        // The narrow hop: A's routes to B.
        await netns.ip(a, ['route', 'add', '10.9.0.0/24', 'dev', 'vA', 'mtu', String(NARROW)]);
        await netns.ip(a, ['-6', 'route', 'add', 'fd09::/64', 'dev', 'vA', 'mtu', String(NARROW)]);
        await netns.ip(b, ['route', 'add', '10.0.0.0/24', 'via', '10.9.0.1']);
        await netns.ip(b, ['-6', 'route', 'add', 'fd00::/64', 'via', 'fd09::1']);
        await sysctl(a, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
        const stack = createStack({
          link: fx.link,
          address: STACK_ADDR,
          address6: STACK_ADDR6,
          clock: realClock,
          tcp: { conn: realLinkTcp({}) },
        });
        try {
          await fn({ fx, stack, b });
        } finally {
          await stack.close();
        }
      } finally {
        await netns.remove(b);
      }
    },
    { ipv6: true, offload },
  );
}

function rowTo(stack: NetStack, remote: string): TcpConnectionRow | undefined {
  return stack.connections().find((r) => r.remote.startsWith(remote) && r.state !== 'LISTEN');
}

/** What the stack's counters say about path MTU discovery, for the log line. */
function pmtuCounters(stack: NetStack): string {
  const t = stack.tcp.stats;
  return (
    `icmp accepted ${t.icmpAccepted}, out of window ${t.icmpOutOfWindow}, no connection ` +
    `${t.icmpNoConnection}; MSS lowered ${t.pmtuMssLowered}, resends ${t.pmtuResends}; ` +
    `table ${JSON.stringify(stack.stats.pmtu)}`
  );
}

kernelDescribe('path MTU discovery through the kernel forwarding onto a 1300-byte path', () => {
  for (const family of [4, 6] as const) {
    const peer = family === 4 ? B4 : B6;
    const shown = family === 4 ? B4 : `[${B6}]`;
    const hdr = family === 4 ? 40 : 60;

    for (const offload of [false, true]) {
      const how = offload ? ', offload on' : '';
      it(`IPv${family}${how}: the stack's upload to B lowers its live MSS and arrives intact`, async () => {
        await withPath(async ({ stack, b }) => {
          const sink = await startKernelServer(b, SINK_SERVER, peer, 0, TIMEOUT_MS);
          try {
            let before: TcpConnectionRow | undefined;
            let after: TcpConnectionRow | undefined;
            const r = await stackSource(stack, peer, sink.port, SIZE, (written) => {
              // Sampled before the first data segment goes out, and once more bytes went.
              if (before === undefined) before = rowTo(stack, shown);
              if (after === undefined && written >= SIZE / 2) after = rowTo(stack, shown);
            });
            expectIntact(r, SIZE);
            console.log(
              `[pmtu] IPv${family}${how} stack -> B ${SIZE / MB} MB in ${r.ms.toFixed(0)} ms; mss ` +
                `${before?.mss} -> ${after?.mss}, pmtu ${before?.pmtu} -> ${after?.pmtu}; ${pmtuCounters(stack)}`,
            );
            expect(before?.mss).toBeGreaterThan(NARROW - hdr);
            expect(before?.pmtu).toBe(1500);
            expect(after?.pmtu).toBe(NARROW);
            // MTU − headers, less the timestamp option when it was agreed.
            expect(after?.mss).toBeLessThanOrEqual(NARROW - hdr);
            expect(after?.mss).toBeGreaterThanOrEqual(NARROW - hdr - 12);
            expect(stack.tcp.stats.pmtuMssLowered).toBeGreaterThanOrEqual(1);
            const rx =
              family === 4 ? stack.stats.icmp.rxDestUnreachable : stack.stats.icmp6.rxPacketTooBig;
            expect(rx).toBeGreaterThanOrEqual(1);
          } finally {
            sink.kill();
          }
        }, offload);
      }, 300_000);
    }

    it(`IPv${family}: B downloads from the stack's server (passive open) intact, and uploads to it`, async () => {
      await withPath(async ({ stack, b }) => {
        // The stack's server writes SIZE random bytes to whoever connects, then ends.
        const h = createHash('sha256');
        const rows: (TcpConnectionRow | undefined)[] = [];
        const server = stack.net.createServer((s: Socket) => {
          s.on('error', () => {});
          let left = SIZE;
          const pump = (): void => {
            while (left > 0) {
              const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(left, 65_536)));
              h.update(chunk);
              left -= chunk.length;
              if (left <= SIZE / 2 && rows.length === 0) rows.push(rowTo(stack, shown));
              if (!s.write(chunk)) {
                s.once('drain', pump);
                return;
              }
            }
            s.end();
          };
          pump();
        });
        await new Promise<void>((resolve) => server.listen(8080, resolve));
        const fetched = await netns.exec(
          b,
          [
            process.execPath,
            '-e',
            FETCH_CLIENT,
            '--',
            family === 4 ? STACK_ADDR : STACK_ADDR6,
            '8080',
          ],
          { timeoutMs: TIMEOUT_MS },
        );
        server.close();
        const got = JSON.parse(fetched.stdout.trim().split('\n').at(-1) ?? '{}');
        expect(got).toEqual({ bytes: SIZE, sha256: h.digest('hex') });
        const late = rows[0];
        expect(late?.pmtu).toBe(NARROW);
        expect(late?.mss).toBeLessThanOrEqual(NARROW - hdr);

        // And B's upload to the stack, which never meets the narrow hop (B -> A is 1500).
        const sink = await stackSink(stack, 5001);
        try {
          const up = await kernelSource(
            b,
            family === 4 ? STACK_ADDR : STACK_ADDR6,
            5001,
            SIZE,
            TIMEOUT_MS,
          );
          expectIntact(up, SIZE);
          console.log(
            `[pmtu] IPv${family} B <- stack ${SIZE / MB} MB (mss ${late?.mss}), B -> stack ` +
              `${SIZE / MB} MB in ${up.ms.toFixed(0)} ms; ${pmtuCounters(stack)}`,
          );
        } finally {
          sink.close();
        }
      });
    }, 600_000);
  }
});
