/**
 * How long 100 MB takes each way between the kernel and tunstack over TUN, clean and impaired
 * (5 % loss each way with nftables, plus FaultLink reordering and duplication on the stack's
 * side), next to the same transfers kernel-to-kernel over a veth pair between two namespaces
 * (the same loss rules; veth has no FaultLink, so its impaired row has loss only).
 *
 *   npx tsx scripts/transfer-times.ts [--mb 100] [--only tunstack|veth] [--gso]
 *
 * veth sends MTU-sized packets, as TUN does (GSO capped at one packet); --gso keeps the
 * kernel's offloads, where nftables then drops 64 KB super-packets rather than packets.
 *
 * Each transfer: N random bytes, a half-close, and the receiver's length + SHA-256 back; the
 * time runs from connect to that answer. Everything happens in namespaces this script creates
 * and removes (test/kernel/harness.ts, test/kernel/tcp-peers.ts). Needs root.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Impairment } from '../src/link/fault.ts';
import * as netns from '../src/link/netns.ts';
import { kernelUnavailableReason, STACK_ADDR } from '../test/kernel/harness.ts';
import {
  addNftLoss,
  kernelToKernel,
  kernelToStack,
  rate,
  stackToKernel,
  type Transfer,
  withImpairedStack,
  withVethPair,
} from '../test/kernel/tcp-peers.ts';

const LOSS_PERCENT = 5;
const IMPAIRMENT: Impairment = { reorder: 0.05, dup: 0.01, seed: 20_261_127 };
const TIMEOUT_MS = 300_000;

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '100' },
    only: { type: 'string' },
    gso: { type: 'boolean', default: false },
  },
});
if (values.only !== undefined && values.only !== 'tunstack' && values.only !== 'veth') {
  throw new Error('--only: tunstack or veth');
}
const runStack = values.only !== 'veth';
const runVeth = values.only !== 'tunstack';
const mb = Number(values.mb);
if (!(mb > 0 && mb <= 10_000)) throw new Error('--mb: a number of megabytes, 1..10000');
const bytes = Math.round(mb * 1_000_000);

const why = kernelUnavailableReason();
if (why !== null) {
  console.error(`transfer-times: ${why}`);
  process.exit(2);
}

// Interrupted: the finally blocks will not run, so remove our namespaces here (their names carry
// our pid, netns.uniqueName) and the kernel-side programs inside them with them.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void netns.list().then((names) => {
      for (const ns of names.filter((n) => n.startsWith(`${netns.NETNS_PREFIX}-${process.pid}-`))) {
        const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout;
        for (const pid of pids.split('\n').filter(Boolean)) spawnSync('kill', ['-KILL', pid]);
        spawnSync('ip', ['netns', 'delete', ns]);
      }
      process.exit(130);
    });
  });
}

type Row = { what: string; tunstack: Transfer | Error | null; veth: Transfer | Error | null };

const attempt = async (f: () => Promise<Transfer>): Promise<Transfer | Error> => {
  try {
    return await f();
  } catch (err) {
    return err as Error;
  }
};

/** One transfer over a fresh stack (impaired or not) in a fresh namespace. */
const overStack = (impaired: boolean, run: typeof kernelToStack) =>
  withImpairedStack(impaired ? IMPAIRMENT : null, async (fx) => {
    if (impaired) await addNftLoss(fx.ns, STACK_ADDR, LOSS_PERCENT);
    return attempt(() => run(fx.ns, fx.stack, bytes, TIMEOUT_MS));
  });

const rows: Row[] = [];
for (const impaired of [false, true]) {
  const tag = impaired ? `, ${LOSS_PERCENT} % loss each way` : ', clean';
  const up = runStack ? await overStack(impaired, kernelToStack) : null;
  const down = runStack ? await overStack(impaired, stackToKernel) : null;
  const [ab, ba] = runVeth
    ? await withVethPair(
        async (a, b) => {
          if (impaired) await addNftLoss(a, '10.0.1.2', LOSS_PERCENT);
          return [
            await attempt(() => kernelToKernel(a, b, '10.0.1.2', bytes, TIMEOUT_MS)),
            await attempt(() => kernelToKernel(b, a, '10.0.1.1', bytes, TIMEOUT_MS)),
          ];
        },
        { gso: values.gso },
      )
    : [null, null];
  rows.push({ what: `kernel -> tunstack${tag}`, tunstack: up, veth: ab });
  rows.push({ what: `tunstack -> kernel${tag}`, tunstack: down, veth: ba });
  for (const r of rows.slice(-2)) console.error(`done: ${r.what}`);
}

const cell = (t: Transfer | Error | null): string => {
  if (t === null) return '-';
  if (t instanceof Error) return `failed: ${t.message.split('\n')[0]}`;
  return t.intact ? rate(t.bytes, t.ms) : `CORRUPT (${rate(t.bytes, t.ms)})`;
};

const head = [
  'transfer',
  `tunstack over TUN (${mb} MB)`,
  `kernel <-> kernel over veth${values.gso ? ' (GSO)' : ''}`,
];
const body = rows.map((r) => [r.what, cell(r.tunstack), cell(r.veth)]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const b of body) console.log(line(b));
console.log(
  `\nimpaired: nftables drops ${LOSS_PERCENT} % each way in the namespace; tunstack also runs ` +
    `FaultLink reorder=${IMPAIRMENT.reorder} dup=${IMPAIRMENT.dup} (veth: loss only). ` +
    'veth: the first row of each pair sends a -> b, the second b -> a.',
);
