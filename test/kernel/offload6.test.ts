/**
 * TUN offloads over IPv6 with the Linux kernel as the peer (TUN_F_TSO6, native-notes/offload.md):
 * as test/kernel/offload.test.ts does for IPv4, 20 MB each way between fd00::1 and fd00::2,
 * SHA-256 checked, and the counters must show the offloads were really used over IPv6: the
 * kernel handed the stack IPv6 TCP segments larger than the MTU with partial checksums (rxGso,
 * rxLarge, rxCsumTrusted), and the stack handed the kernel IPv6 super-segments (txGso,
 * txGsoPackets) that the kernel took (no bad checksum, no retransmission needed). Without
 * TSO6 the kernel would cut its IPv6 segments to the MTU before the device, and the stack
 * would send one segment per write: the bench's IPv6 rows ran at the plain device's speed.
 */
import { expect, it } from 'vitest';
import { TunOffloadFlag } from '../../src/link/tun.ts';
import {
  HOST_ADDR6,
  kernelDescribe,
  STACK_ADDR6,
  type StackFixture,
  withStack,
} from './harness.ts';
import {
  expectAllClosed,
  expectIntact,
  kernelToStack,
  rate,
  stackToKernel,
  type Transfer,
} from './tcp-peers.ts';

const MB = 1_000_000;
const SIZE = 20 * MB;
/** Per transfer: generous, the machine is shared (2 cores). */
const TIMEOUT_MS = 120_000;

/** A kernel client sends SIZE bytes to a sink on the stack at [fd00::2]:5001. */
function kernelToStack6(fx: StackFixture): Promise<Transfer> {
  return kernelToStack(fx.ns, fx.stack, SIZE, TIMEOUT_MS, STACK_ADDR6);
}

/** The stack sends SIZE bytes to a kernel sink at [fd00::1]. */
function stackToKernel6(fx: StackFixture): Promise<Transfer> {
  return stackToKernel(fx.ns, fx.stack, SIZE, TIMEOUT_MS, HOST_ADDR6);
}

const dualStackOffload = { offload: true, ipv6: true } as const;

kernelDescribe('tun offload over IPv6: TSO6 with the kernel', () => {
  it('the device grants TSO6 beside TSO4 and the stack coalesces IPv6 too', async () => {
    await withStack(async (fx) => {
      expect(fx.link.offloads & TunOffloadFlag.Tso6).toBe(TunOffloadFlag.Tso6);
      expect(fx.link.offload?.tso6).toBe(true);
      expect(fx.stack.tso).not.toBeNull();
    }, dualStackOffload);
  }, 30_000);

  it(
    'kernel -> stack, 20 MB over IPv6: IPv6 segments of up to 64 KiB, partial checksums trusted',
    async () => {
      await withStack(async (fx) => {
        const r = await kernelToStack6(fx);
        expectIntact(r.result, SIZE);
        const tun = fx.link.stats;
        const link = fx.stack.stats.link;
        expect(tun.rxGso).toBeGreaterThan(0);
        expect(link.rxLarge).toBe(tun.rxGso);
        expect(link.rxCsumTrusted).toBeGreaterThan(0);
        expect(fx.stack.stats.ip6.rxPackets).toBeGreaterThanOrEqual(tun.rxGso);
        expect(fx.stack.stats.tcp.drops['bad-checksum']).toBe(0);
        // Far fewer packets than MTU-sized segments would take (20 MB / 1428 ≈ 14 000).
        expect(tun.rxPackets).toBeLessThan(SIZE / 1428 / 2);
        console.log(
          `[offload6] kernel -> stack: ${tun.rxPackets} packets read, ${tun.rxGso} of them GSO, ` +
            `${Math.round(tun.rxBytes / tun.rxPackets)} bytes per packet, ${rate(SIZE, r.ms)}`,
        );
        await expectAllClosed(fx.ns, fx.stack);
      }, dualStackOffload);
    },
    TIMEOUT_MS + 30_000,
  );

  it(
    'stack -> kernel, 20 MB over IPv6: the stack writes IPv6 super-segments the kernel takes',
    async () => {
      await withStack(async (fx) => {
        const r = await stackToKernel6(fx);
        expectIntact(r.result, SIZE);
        const tun = fx.link.stats;
        const link = fx.stack.stats.link;
        expect(link.txGsoPackets).toBeGreaterThan(0);
        expect(tun.txGso).toBe(link.txGsoPackets);
        expect(tun.txErrors).toBe(0);
        expect(link.txGsoSegments / link.txGsoPackets).toBeGreaterThan(2);
        // The super-segments left as IPv6: each one IPv6 packet, none fragmented.
        expect(fx.stack.stats.ip6.txFragmented).toBe(0);
        expect(fx.stack.stats.ip6.txPackets).toBeLessThan(SIZE / 1428 / 2);
        console.log(
          `[offload6] stack -> kernel: ${tun.txPackets} packets written, ${tun.txGso} ` +
            `super-segments carrying ${link.txGsoSegments} segments, ${rate(SIZE, r.ms)}`,
        );
        await expectAllClosed(fx.ns, fx.stack);
      }, dualStackOffload);
    },
    TIMEOUT_MS + 30_000,
  );
});
