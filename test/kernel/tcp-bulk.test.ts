/**
 * 100 MB each way between the kernel and the stack, the SHA-256 of what arrived checked against
 * what was sent; then the same under 5 % loss each way (nftables in the namespace) plus the
 * stack's own FaultLink reordering and duplicating. Each transfer's time is printed
 * (`[transfer] ...`); scripts/transfer-times.ts prints them beside kernel-to-kernel over veth.
 *
 * TUNSTACK_TRANSFER_MB changes the size (default 100). The stack sends under loss twice: with
 * the core's RFC-first defaults (NewReno/RFC 6675, where a lost retransmission waits for the
 * 200 ms RTO; 15–50 s depending on the machine's load) and with `tunstack up`'s TCP (CUBIC,
 * PRR, RACK-TLP). The whole file stays well under two minutes.
 */
import { expect, it } from 'vitest';
import { realLinkTcp } from '../../src/cli/up.ts';
import type { Impairment } from '../../src/link/fault.ts';
import type { TcpConnectionOptions } from '../../src/tcp/options.ts';
import { kernelDescribe, STACK_ADDR } from './harness.ts';
import {
  addNftLoss,
  expectAllClosed,
  kernelToStack,
  nftDrops,
  rate,
  stackToKernel,
  type Transfer,
  withImpairedStack,
} from './tcp-peers.ts';

const MB = 1_000_000;
const SIZE = Number(process.env.TUNSTACK_TRANSFER_MB ?? 100) * MB;
/** Per transfer: generous, the machine is shared (2 cores). */
const TIMEOUT_MS = 200_000;

/** The loss each way, in the namespace, and the stack's own impairment. */
const LOSS_PERCENT = 5;
const IMPAIRMENT: Impairment = { reorder: 0.05, dup: 0.01, seed: 20_261_127 };

function report(what: string, t: Transfer): void {
  console.log(`[transfer] ${what}, ${t.bytes / MB} MB: ${rate(t.bytes, t.ms)}`);
}

function expectIntact(t: Transfer, size: number): void {
  expect(t.result.error, 'the transfer failed').toBeUndefined();
  expect(t.result.reply?.bytes).toBe(size);
  expect(t.result.reply?.sha256).toBe(t.result.sha256);
  expect(t.intact).toBe(true);
}

interface Case {
  name: string;
  run: typeof kernelToStack;
  impaired: boolean;
  size: number;
  /** The stack's TCP options, when not the core's defaults. */
  tcp?: Partial<TcpConnectionOptions>;
}

const CASES: readonly Case[] = [
  { name: 'kernel client -> stack server', run: kernelToStack, impaired: false, size: SIZE },
  { name: 'stack client -> kernel server', run: stackToKernel, impaired: false, size: SIZE },
  { name: 'kernel client -> stack server', run: kernelToStack, impaired: true, size: SIZE },
  { name: 'stack client -> kernel server', run: stackToKernel, impaired: true, size: SIZE },
  {
    name: "stack client (tunstack up's TCP: CUBIC, PRR, RACK-TLP) -> kernel server",
    run: stackToKernel,
    impaired: true,
    size: SIZE,
    tcp: realLinkTcp({}),
  },
];

kernelDescribe('tcp: bulk transfers with the kernel', () => {
  for (const c of CASES) {
    const label = `${c.name}, ${c.size / MB} MB${
      c.impaired ? `, ${LOSS_PERCENT} % loss each way, reordering, duplicates` : ''
    }`;
    it(
      label,
      async () => {
        await withImpairedStack(
          c.impaired ? IMPAIRMENT : null,
          async (fx, fault) => {
            if (c.impaired) await addNftLoss(fx.ns, STACK_ADDR, LOSS_PERCENT);
            const t = await c.run(fx.ns, fx.stack, c.size, TIMEOUT_MS);
            report(
              `${c.name.replace(/ (client|server)/g, '')}, ${c.impaired ? 'impaired' : 'clean'}`,
              t,
            );
            expectIntact(t, c.size);
            if (fault !== null) {
              // The impairment really happened, each way.
              const drops = await nftDrops(fx.ns);
              expect(drops.input).toBeGreaterThan(0);
              expect(drops.output).toBeGreaterThan(0);
              const f = fault.stats;
              expect(f.rx.reordered + f.tx.reordered).toBeGreaterThan(0);
              expect(f.rx.duplicated + f.tx.duplicated).toBeGreaterThan(0);
            }
            await expectAllClosed(fx.ns, fx.stack, 20_000);
          },
          c.tcp,
        );
      },
      TIMEOUT_MS + 30_000, // room for expectAllClosed to report what is left open
    );
  }
}, ['nft']);
