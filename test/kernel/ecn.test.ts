/**
 * ECN (RFC 3168) with the kernel as the peer: nftables in the test's namespace marks a share of
 * the ECT(0) packets CE (`ip ecn set ce`, as a congested ECN router would), one way at a time.
 *
 * - The stack sends (option ecn 1, it asks), the kernel receives (net.ipv4.tcp_ecn=1): the
 *   marks go on the stack's data as the kernel takes it in (prerouting). The kernel echoes them
 *   with ECE, and the stack cuts its window for them and answers with CWR, without retransmitting.
 * - The kernel sends (tcp_ecn=1: it asks), the stack receives (the default ecn 2 accepts): the
 *   marks go on the kernel's data as it leaves (postrouting). The stack echoes them with ECE, and
 *   the kernel counts the ECE-marked ACKs of delivered data (TcpExtTCPDeliveredCE).
 *
 * Each side's own view is checked: the stack's connection counters (sampled while the
 * connection lives) and `nstat` in the namespace (IpExtInECT0Pkts: our data arrived ECT(0);
 * TcpExtTCPDeliveredCE: ACKs with ECE for the kernel's data). The kernel sends with Reno, which
 * answers ECE with a window cut (tcp_enter_cwr). Each way runs on a plain device and on one with
 * segmentation offload (TSO4: super-segments both ways). No timing is asserted. (This kernel's
 * nft has `ip ecn set ce`; had it not, the simulation test test/sim/ecn.test.ts would stand
 * alone.)
 */
import { expect, it } from 'vitest';
import { createStack, type NetStack } from '../../src/api/index.ts';
import * as netns from '../../src/link/netns.ts';
import type { TcpConnectionRow } from '../../src/stack/tcp.ts';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { HOST_ADDR, kernelDescribe, STACK_ADDR, type StackFixture, withNetns } from './harness.ts';
import { kernelToStack, stackToKernel, type Transfer } from './tcp-peers.ts';

const MB = 1_000_000;
const SIZE = 20 * MB;
/** Per transfer: generous, the machine is shared (2 cores). */
const TIMEOUT_MS = 120_000;
/** Share of ECT(0) packets marked CE, percent. */
const CE_PERCENT = 2;

async function sh(ns: string, argv: string[], input?: string): Promise<string> {
  const r = await netns.exec(ns, argv, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${ns}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Mark CE on ECT(0) packets from (`hook` prerouting) or to (postrouting) the stack. */
async function addCeMarks(ns: string, hook: 'prerouting' | 'postrouting'): Promise<void> {
  const match = hook === 'prerouting' ? `ip saddr ${STACK_ADDR}` : `ip daddr ${STACK_ADDR}`;
  await sh(
    ns,
    ['nft', '-f', '-'],
    `table ip tsk_ecn {
  chain cemark { type filter hook ${hook} priority 0; ${match} ip ecn ect0 numgen random mod 100 < ${CE_PERCENT} counter ip ecn set ce; }
}`,
  );
}

/** Packets the marking rule has marked. */
async function ceMarked(ns: string): Promise<number> {
  const out = await sh(ns, ['nft', 'list', 'table', 'ip', 'tsk_ecn']);
  const m = /counter packets (\d+)/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** `nstat -az NAMES` in the namespace as numbers. */
async function nstat(ns: string, names: string[]): Promise<Record<string, number>> {
  const out = await sh(ns, ['nstat', '-az', ...names]);
  const r: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && names.includes(f[0])) r[f[0]] = Number(f[1]);
  }
  return r;
}

/**
 * While `run` goes: every 20 ms, the stack's row of the connection to or from HOST_ADDR, the
 * last one with ECN counters (the row of a closed connection has none left to read).
 */
async function watched(
  stack: NetStack,
  run: () => Promise<Transfer>,
): Promise<{ t: Transfer; row: TcpConnectionRow | null }> {
  let row: TcpConnectionRow | null = null;
  const sample = () => {
    const r = stack.connections().find((c) => c.remote.startsWith(`${HOST_ADDR}:`) && c.ecn);
    if (r !== undefined) row = r;
  };
  const timer = setInterval(sample, 20);
  try {
    const t = await run();
    sample();
    return { t, row };
  } finally {
    clearInterval(timer);
  }
}

function expectIntact(t: Transfer): void {
  expect(t.result.error, 'the transfer failed').toBeUndefined();
  expect(t.intact, 'bytes and SHA-256 as sent').toBe(true);
}

/**
 * withNetns plus a Stack with TCP options `tcp`, on a plain device or one with segmentation
 * offload (TSO4 both ways: the stack's super-segments carry ECT(0) in their one IP header, and
 * the kernel's arrive whole, CE on all their segments when marked).
 */
function withEcnStack<T>(
  offload: boolean,
  fn: (fx: StackFixture) => Promise<T>,
  tcp: Partial<TcpConnectionOptions> = {},
): Promise<T> {
  return withNetns(
    async (fx) => {
      const stack = createStack({ link: fx.link, address: STACK_ADDR, tcp: { conn: tcp } });
      try {
        return await fn({ ...fx, stack });
      } finally {
        await stack.close();
      }
    },
    { offload },
  );
}

kernelDescribe('ecn: CE marks from nftables, the kernel as the peer', () => {
  for (const offload of [false, true]) {
    const device = offload ? 'offload (TSO4)' : 'plain device';
    // prr: the cut spread by PRR over the ACKs that follow (Linux's CWR state), not made at once.
    for (const prr of [false, true])
      it(
        `stack -> kernel, ${device}${prr ? ', PRR' : ''}: the kernel echoes CE with ECE; the stack cuts cwnd, sends CWR, retransmits nothing`,
        async () => {
          await withEcnStack(
            offload,
            async (fx) => {
              await sh(fx.ns, ['sysctl', '-qw', 'net.ipv4.tcp_ecn=1']);
              await addCeMarks(fx.ns, 'prerouting');
              const before = await nstat(fx.ns, ['IpExtInECT0Pkts']);
              const { t, row } = await watched(fx.stack, () =>
                stackToKernel(fx.ns, fx.stack, SIZE, TIMEOUT_MS),
              );
              const marked = await ceMarked(fx.ns);
              const after = await nstat(fx.ns, ['IpExtInECT0Pkts']);
              const dev = await fx.devCounters();
              const e = row?.ecn;
              console.log(
                `[ecn] stack -> kernel, ${device}${prr ? ', PRR' : ''}, ${SIZE / MB} MB: ${marked} packets marked CE; ` +
                  `the stack: ${JSON.stringify(e)} retransmits ${row?.retransmits}, ` +
                  `${fx.link.stats.txGso} super-segments; the kernel: ECT(0) packets in ` +
                  `${after.IpExtInECT0Pkts - before.IpExtInECT0Pkts}; device drops rx ${dev.rxDropped} tx ${dev.txDropped}`,
              );
              expectIntact(t);
              expect(marked).toBeGreaterThan(0);
              if (offload) expect(fx.link.stats.txGso).toBeGreaterThan(0);
              // Our data reached the kernel ECT(0) (counted before the marking rule).
              expect(after.IpExtInECT0Pkts - before.IpExtInECT0Pkts).toBeGreaterThan(0);
              // The stack heard ECE, cut its window, announced it with CWR.
              expect(e, 'the stack agreed ECN').toBeDefined();
              expect(e?.eceReceived).toBeGreaterThan(0);
              expect(e?.cwndReduced).toBeGreaterThan(0);
              expect(e?.cwrSent).toBeGreaterThan(0);
              // The kernel took our CWRs: it stopped echoing after each (without them every ACK
              // after the first mark would carry ECE, nearly all of them).
              expect(e?.eceReceived).toBeLessThan((row?.segsReceived ?? 0) / 2);
              // Nothing was lost on the way (the device dropped nothing): nothing to retransmit.
              if (dev.rxDropped === 0 && dev.txDropped === 0) expect(row?.retransmits).toBe(0);
            },
            { ecn: 1, prr },
          );
        },
        TIMEOUT_MS + 30_000,
      );

    it(
      `kernel -> stack, ${device}: the stack echoes CE with ECE; the kernel counts ECE-marked ACKs of its data`,
      async () => {
        await withEcnStack(offload, async (fx) => {
          await sh(fx.ns, ['sysctl', '-qw', 'net.ipv4.tcp_ecn=1']);
          // Reno: the root namespace's default may be BBR, whose own control ignores ECE (and
          // a child namespace may choose only an allowed one).
          await sh(fx.ns, ['sysctl', '-qw', 'net.ipv4.tcp_congestion_control=reno']);
          await addCeMarks(fx.ns, 'postrouting');
          const names = ['TcpExtTCPDeliveredCE', 'TcpRetransSegs'];
          const before = await nstat(fx.ns, names);
          const { t, row } = await watched(fx.stack, () =>
            kernelToStack(fx.ns, fx.stack, SIZE, TIMEOUT_MS),
          );
          const marked = await ceMarked(fx.ns);
          const after = await nstat(fx.ns, names);
          const deliveredCe = after.TcpExtTCPDeliveredCE - before.TcpExtTCPDeliveredCE;
          const e = row?.ecn;
          console.log(
            `[ecn] kernel -> stack, ${device}, ${SIZE / MB} MB: ${marked} packets marked CE; ` +
              `the stack: ${JSON.stringify(e)}, ${fx.link.stats.rxGso} GSO packets read; ` +
              `the kernel: TcpExtTCPDeliveredCE ${deliveredCe}, ` +
              `TcpRetransSegs ${after.TcpRetransSegs - before.TcpRetransSegs}`,
          );
          expectIntact(t);
          expect(marked).toBeGreaterThan(0);
          if (offload) expect(fx.link.stats.rxGso).toBeGreaterThan(0);
          // The stack took the marks and echoed them; the kernel saw the echo on ACKs of its data.
          expect(e, 'the stack agreed ECN').toBeDefined();
          expect(e?.ceReceived).toBeGreaterThan(0);
          expect(deliveredCe).toBeGreaterThan(0);
        });
      },
      TIMEOUT_MS + 30_000,
    );
  }
}, ['nft', 'nstat']);
