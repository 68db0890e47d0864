/**
 * IFF_VNET_HDR + TUNSETOFFLOAD with the Linux kernel as the peer (native-notes/offload.md):
 * 20 MB each way, SHA-256 checked, and the counters must show that the offloads were really
 * used: the kernel handed the stack TCP segments larger than the MTU with partial checksums
 * (rxGso, rxLarge, rxCsumTrusted), and the stack handed the kernel super-segments (txGso,
 * txGsoPackets). A plain device (offload off) moves the same bytes with none of them.
 */
import { expect, it } from 'vitest';
import { TunOffloadFlag } from '../../src/link/tun.ts';
import {
  kernelDescribe,
  ping,
  STACK_ADDR,
  type StackFixture,
  waitFor,
  withStack,
} from './harness.ts';
import { expectAllClosed, kernelToStack, stackToKernel, type Transfer } from './tcp-peers.ts';

/** `send-udp HOST PORT TEXT`: one datagram from the kernel. */
const SEND_UDP = `
const s = require('node:dgram').createSocket('udp4');
const [host, port, text] = process.argv.slice(1);
s.send(text, Number(port), host, (err) => { if (err) process.exitCode = 1; s.close(); });`;

const MB = 1_000_000;
const SIZE = 20 * MB;
const TIMEOUT_MS = 120_000;

function expectIntact(t: Transfer): void {
  expect(t.result.error, 'the transfer failed').toBeUndefined();
  expect(t.result.reply?.bytes).toBe(SIZE);
  expect(t.intact).toBe(true);
}

/**
 * withStack on an offloading device: one 20 MB transfer with `run`, which must arrive intact;
 * `check` reads the counters; then no connection may be left on either side.
 */
async function offloadTransfer(
  run: typeof kernelToStack,
  check: (fx: StackFixture, t: Transfer) => void,
): Promise<void> {
  await withStack(
    async (fx) => {
      const t = await run(fx.ns, fx.stack, SIZE, TIMEOUT_MS);
      expectIntact(t);
      check(fx, t);
      await expectAllClosed(fx.ns, fx.stack);
    },
    { offload: true },
  );
}

kernelDescribe('tun offload: TSO4 and checksum offload with the kernel', () => {
  it('the device grants CSUM | TSO4 and the stack uses it: the link offers tso', async () => {
    await withStack(
      async (fx) => {
        expect(fx.link.vnetHdr).toBe(true);
        expect(fx.link.offloads & TunOffloadFlag.Tso4).toBe(TunOffloadFlag.Tso4);
        expect(fx.link.offload?.tso).toBe(true);
        expect(fx.stack.tso).not.toBeNull();
        // ICMP is not offloaded: its checksums are whole both ways.
        const r = await ping(fx, ['-c', '2', '-i', '0.2', '-W', '2', STACK_ADDR]);
        expect(r.received).toBe(2);
        // UDP from the kernel comes with a partial checksum (NEEDS_CSUM): not verified.
        const sock = fx.stack.dgram.createSocket('udp4');
        let got = '';
        sock.on('message', (m: Uint8Array) => {
          got = Buffer.from(m).toString();
        });
        await new Promise<void>((resolve) => sock.bind(9999, () => resolve()));
        const u = await fx.node(SEND_UDP, [STACK_ADDR, '9999', 'offloaded']);
        expect(u.code, u.stderr).toBe(0);
        await waitFor(() => got === 'offloaded', 10_000, 'the datagram');
        expect(fx.stack.stats.udp.drops['bad-checksum']).toBe(0);
        sock.close();
      },
      { offload: true },
    );
  }, 30_000);

  it(
    'kernel -> stack, 20 MB: the kernel sends segments of up to 64 KiB, partial checksums trusted',
    async () => {
      await offloadTransfer(kernelToStack, (fx, t) => {
        const tun = fx.link.stats;
        const link = fx.stack.stats.link;
        expect(tun.rxGso).toBeGreaterThan(0);
        expect(link.rxLarge).toBe(tun.rxGso);
        expect(link.rxCsumTrusted).toBeGreaterThan(0);
        expect(fx.stack.stats.tcp.drops['bad-checksum']).toBe(0);
        // Far fewer packets than MTU-sized segments would take (20 MB / 1448 ≈ 13 800).
        expect(tun.rxPackets).toBeLessThan(SIZE / 1448 / 2);
        console.log(
          `[offload] kernel -> stack: ${tun.rxPackets} packets read, ${tun.rxGso} of them GSO, ` +
            `${Math.round(tun.rxBytes / tun.rxPackets)} bytes per packet, ` +
            `${tun.txPackets} packets written (ACKs), ${t.ms.toFixed(0)} ms`,
        );
      });
    },
    TIMEOUT_MS + 30_000,
  );

  it(
    'stack -> kernel, 20 MB: the stack writes super-segments (one write for many segments)',
    async () => {
      await offloadTransfer(stackToKernel, (fx, t) => {
        const tun = fx.link.stats;
        const link = fx.stack.stats.link;
        expect(link.txGsoPackets).toBeGreaterThan(0);
        expect(tun.txGso).toBe(link.txGsoPackets);
        expect(tun.txErrors).toBe(0);
        expect(link.txGsoSegments / link.txGsoPackets).toBeGreaterThan(2);
        console.log(
          `[offload] stack -> kernel: ${tun.txPackets} packets written, ${tun.txGso} super-segments ` +
            `carrying ${link.txGsoSegments} segments, ${t.ms.toFixed(0)} ms`,
        );
      });
    },
    TIMEOUT_MS + 30_000,
  );

  it(
    'offload off: a plain device, the same 20 MB each way, no large segments either way',
    async () => {
      await withStack(
        async (fx) => {
          expect(fx.link.vnetHdr).toBe(false);
          expect(fx.stack.tso).toBeNull();
          const up = await kernelToStack(fx.ns, fx.stack, SIZE, TIMEOUT_MS);
          expectIntact(up);
          const afterUp = fx.link.stats;
          const down = await stackToKernel(fx.ns, fx.stack, SIZE, TIMEOUT_MS);
          expectIntact(down);
          const all = fx.link.stats;
          console.log(
            `[offload] plain: kernel -> stack ${afterUp.rxPackets} packets read, ` +
              `${afterUp.txPackets} written (ACKs), ${up.ms.toFixed(0)} ms; stack -> kernel ` +
              `${all.txPackets - afterUp.txPackets} packets written, ${down.ms.toFixed(0)} ms`,
          );
          const link = fx.stack.stats.link;
          expect(link.rxLarge).toBe(0);
          expect(link.rxCsumTrusted).toBe(0);
          expect(link.txGsoPackets).toBe(0);
          await expectAllClosed(fx.ns, fx.stack);
        },
        { offload: false },
      );
    },
    2 * TIMEOUT_MS + 30_000,
  );
});
