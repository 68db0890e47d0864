/**
 * The kernel pings the stack (iputils ping inside the namespace, the stack at 10.0.0.2 in this
 * process): ICMP echo (RFC 792) including fragmented requests and replies (RFC 791 §3.2).
 */
import { expect, it } from 'vitest';
import { kernelDescribe, ping, STACK_ADDR, withStack } from './harness.ts';

kernelDescribe('ping: the kernel pings the stack over TUN', () => {
  // -W: how long ping waits for the last replies once it has sent them all; 5 s so that a pause
  // of a loaded CI machine at the end does not count as loss (replies are checked, not RTTs).
  it('answers 100 pings at 10 ms intervals with 0% loss', async () => {
    await withStack(async (fx) => {
      const r = await ping(fx, ['-c', '100', '-i', '0.01', '-W', '5', STACK_ADDR], {
        timeoutMs: 30_000,
      });
      expect(r.raw.code, r.raw.stdout + r.raw.stderr).toBe(0);
      expect(r.transmitted).toBe(100);
      expect(r.received).toBe(100);
      expect(r.lossPercent).toBe(0);
      expect(r.rtt).not.toBeNull();
      console.log(
        `[kernel] ping -c 100 -i 0.01: rtt min/avg/max/mdev = ${r.rtt!.min}/${r.rtt!.avg}/${r.rtt!.max}/${r.rtt!.mdev} ms`,
      );
      expect(fx.stack.stats.icmp.rxEchoRequests).toBe(100);
      expect(fx.stack.stats.icmp.txEchoReplies).toBe(100);
    });
  });

  it('answers a 1500-byte ping (-s 1472) without fragmenting (DF set)', async () => {
    await withStack(async (fx) => {
      const r = await ping(
        fx,
        ['-c', '3', '-i', '0.05', '-W', '2', '-M', 'do', '-s', '1472', STACK_ADDR],
        {
          timeoutMs: 15_000,
        },
      );
      expect(r.received, r.raw.stdout + r.raw.stderr).toBe(3);
      // 1472 + 8 (ICMP) + 20 (IPv4) = 1500, exactly the MTU: one packet each way.
      expect(fx.link.stats.rxTruncated).toBe(0);
    });
  });

  it('answers an 8000-byte ping: reassembles the request, fragments the reply', async () => {
    await withStack(async (fx) => {
      const r = await ping(fx, ['-c', '3', '-i', '0.05', '-W', '2', '-s', '8000', STACK_ADDR], {
        timeoutMs: 15_000,
      });
      expect(r.received, r.raw.stdout + r.raw.stderr).toBe(3);
      // 8028 bytes of IP payload over a 1500 MTU: 6 fragments per datagram, both directions.
      expect(fx.link.stats.rxPackets).toBeGreaterThanOrEqual(18);
      expect(fx.link.stats.txPackets).toBeGreaterThanOrEqual(18);
    });
  });

  it('survives ping -f -c 10000 with 0% loss', async () => {
    await withStack(async (fx) => {
      const r = await ping(fx, ['-f', '-c', '10000', '-W', '5', STACK_ADDR], {
        timeoutMs: 60_000,
      });
      expect(r.transmitted, r.raw.stdout + r.raw.stderr).toBe(10000);
      expect(r.received).toBe(10000);
      expect(r.lossPercent).toBe(0);
      console.log(
        `[kernel] ping -f -c 10000: rtt min/avg/max/mdev = ${r.rtt!.min}/${r.rtt!.avg}/${r.rtt!.max}/${r.rtt!.mdev} ms`,
      );
    });
  });
}, ['ping']);
