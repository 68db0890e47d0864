/**
 * The TUN addon alone, with the kernel as the peer: no stack involved. The test reads the raw
 * packets the kernel routes to 10.0.0.2 and writes raw packets the kernel then receives.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { loadAddon, TunLink } from '../../src/link/tun.ts';
import {
  HOST_ADDR,
  kernelDescribe,
  type NetnsFixture,
  rawEchoRequest,
  rawUdp,
  STACK_ADDR,
  waitFor,
  withNetns,
} from './harness.ts';

/** Collects copies of received packets (the views are only valid during the call). */
function collect(fx: NetnsFixture) {
  const packets: Uint8Array[] = [];
  let batches = 0;
  fx.link.attach({
    packet: (p) => {
      packets.push(Uint8Array.from(p));
    },
    batchEnd: () => {
      batches++;
    },
  });
  return {
    packets,
    batches: () => batches,
    ofProtocol: (proto: number) => packets.filter((p) => p[9] === proto),
  };
}

const addr = (p: Uint8Array, at: number): string => Array.from(p.subarray(at, at + 4)).join('.');
const u16 = (p: Uint8Array, at: number): number => (p[at] << 8) | p[at + 1];

/** A Node one-liner run inside the namespace: send `count` UDP datagrams to the stack address. */
const SEND_UDP = `
const [count, port, text] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
let left = Number(count);
const next = () => left-- > 0 ? s.send(text, Number(port), '${STACK_ADDR}', next) : s.close();
next();`;

kernelDescribe('TUN addon against the kernel', () => {
  it('reads the raw UDP datagram the kernel routes to 10.0.0.2', async () => {
    await withNetns(async (fx) => {
      const rx = collect(fx);
      const r = await fx.node(SEND_UDP, ['1', '9999', 'hello-tun']);
      expect(r.code, r.stderr).toBe(0);
      await waitFor(() => rx.ofProtocol(17).length === 1, 10_000, 'the datagram');
      const p = rx.ofProtocol(17)[0];
      expect(p[0]).toBe(0x45); // IPv4, 20-byte header: IFF_NO_PI means no 4-byte prefix
      expect(u16(p, 2)).toBe(p.length);
      expect(addr(p, 12)).toBe(HOST_ADDR);
      expect(addr(p, 16)).toBe(STACK_ADDR);
      expect(u16(p, 22)).toBe(9999);
      expect(new TextDecoder().decode(p.subarray(28))).toBe('hello-tun');
      // No IPv6 chatter reaches an IPv4 stack: the harness disables IPv6 on the device.
      expect(rx.packets.every((q) => q[0] >> 4 === 4)).toBe(true);
    });
  });

  it('writes an echo request that the kernel answers', async () => {
    await withNetns(async (fx) => {
      const rx = collect(fx);
      const before = await fx.devCounters();
      const data = new TextEncoder().encode('ping-from-the-addon');
      fx.link.send(rawEchoRequest(STACK_ADDR, HOST_ADDR, 0x4242, 7, data));
      fx.link.flush();
      await waitFor(() => rx.ofProtocol(1).length === 1, 10_000, 'the echo reply');
      const reply = rx.ofProtocol(1)[0];
      expect(addr(reply, 12)).toBe(HOST_ADDR);
      expect(addr(reply, 16)).toBe(STACK_ADDR);
      expect(reply[20]).toBe(0); // ICMP echo reply
      expect(u16(reply, 24)).toBe(0x4242);
      expect(u16(reply, 26)).toBe(7);
      expect(reply.subarray(28)).toEqual(data);
      const after = await fx.devCounters();
      expect(after.rxPackets - before.rxPackets).toBe(1);
      expect(fx.link.stats.txPackets).toBe(1);
    });
  });

  it('writes a batch of 100 datagrams that the kernel counts, in 2 native calls', async () => {
    await withNetns(async (fx) => {
      collect(fx);
      const before = await fx.devCounters();
      const payload = new Uint8Array(100).fill(0x61);
      for (let i = 0; i < 100; i++)
        fx.link.send(rawUdp(STACK_ADDR, HOST_ADDR, 40000 + i, 9, payload));
      fx.link.flush();
      const after = await fx.devCounters();
      expect(after.rxPackets - before.rxPackets).toBe(100);
      expect(after.rxBytes - before.rxBytes).toBe(100 * 128);
      const st = fx.link.stats;
      expect(st.txPackets).toBe(100);
      expect(st.txCalls).toBe(2); // 64 when the write batch filled, then the remaining 36
      expect(st.txErrors + st.txDropped + st.txOversize).toBe(0);
    });
  });

  it('drops oversize packets in send() and counts them', async () => {
    await withNetns(
      async (fx) => {
        collect(fx);
        fx.link.send(new Uint8Array(577));
        fx.link.flush();
        expect(fx.link.stats.txOversize).toBe(1);
        expect(fx.link.stats.txPackets).toBe(0);
      },
      { mtu: 576 },
    );
  });

  it('drops and counts a packet larger than the MTU it was opened with', async () => {
    await withNetns(
      async (fx) => {
        const rx = collect(fx);
        // Someone raises the device MTU behind our back: the kernel now hands us 1028 bytes.
        await netns.ip(fx.ns, ['link', 'set', 'dev', fx.link.name, 'mtu', '1500']);
        const big = await fx.node(SEND_UDP, ['1', '9999', 'x'.repeat(1000)]);
        expect(big.code, big.stderr).toBe(0);
        await waitFor(() => fx.link.stats.rxTruncated === 1, 10_000, 'the oversize count');
        const small = await fx.node(SEND_UDP, ['1', '9999', 'small']);
        expect(small.code, small.stderr).toBe(0);
        await waitFor(() => rx.ofProtocol(17).length === 1, 10_000, 'the small datagram');
        expect(rx.ofProtocol(17)[0].length).toBe(33);
        expect(rx.packets.every((p) => p.length <= 576)).toBe(true);
      },
      { mtu: 576 },
    );
  });

  it('reads a burst in batches: 200 queued datagrams arrive in ceil(200/64) = 4 calls', async () => {
    await withNetns(async (fx) => {
      const rx = collect(fx);
      // spawnSync blocks this event loop while the kernel queues the burst on the device
      // (txqueuelen 500), so the next readable wake-ups find 200 packets waiting.
      const r = spawnSync(
        'ip',
        ['netns', 'exec', fx.ns, process.execPath, '-e', SEND_UDP, '--', '200', '9998', 'burst'],
        { timeout: 10_000, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      await waitFor(() => rx.ofProtocol(17).length === 200, 10_000, '200 datagrams');
      expect(rx.batches()).toBe(4);
      expect(fx.link.stats.rxBatches).toBe(4);
    });
  });

  it('reports open errors Node-style, with code, errno and syscall', async () => {
    await expect(
      TunLink.open({ netns: 'tsk-this-namespace-does-not-exist' }),
    ).rejects.toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open(netns)' });
    await expect(TunLink.open({})).rejects.toMatchObject({ code: 'ERR_TUN_ROOT_NAMESPACE' });
    await withNetns(async (fx) => {
      // A second open of an attached, single-queue device is refused by the kernel.
      const err = await TunLink.open({ name: fx.link.name, netns: fx.ns }).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 'EBUSY', errno: -16, syscall: 'ioctl(TUNSETIFF)' });
      expect(err.message).toBe(
        `EBUSY: resource busy or locked, ioctl(TUNSETIFF) '${fx.link.name}'`,
      );
      await expect(TunLink.open({ name: 'x'.repeat(16), netns: fx.ns })).rejects.toMatchObject({
        code: 'ERR_OUT_OF_RANGE',
      });
      // Without CAP_SYS_ADMIN, entering the namespace is refused: EPERM from setns. The child
      // stays uid 0 (so it can read a checkout in a root-only directory) with every capability
      // dropped from its bounding set, so even root's exec gains none.
      const script = `import('${new URL('../../src/link/tun.ts', import.meta.url).href}')
        .then((m) => m.TunLink.open({ netns: process.argv[1] }))
        .catch((e) => { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall })); });`;
      const r = await netns.run(
        [
          'setpriv',
          '--inh-caps=-all',
          '--bounding-set=-all',
          process.execPath,
          '--import',
          'tsx',
          '-e',
          script,
          '--',
          fx.ns,
        ],
        { timeoutMs: 20_000 },
      );
      expect(JSON.parse(r.stdout.trim() || '{}'), r.stderr).toEqual({
        code: 'EPERM',
        errno: -1,
        syscall: 'setns(netns)',
      });
    });
  });

  it('close() removes the interface and is idempotent; no callback after close', async () => {
    await withNetns(async (fx) => {
      const second = await TunLink.open({ name: 'tun1', netns: fx.ns, hostAddress: '10.0.1.1/24' });
      let calls = 0;
      second.attach({ packet: () => calls++ });
      await second.close();
      await second.close();
      const show = await fx.exec(['ip', 'link', 'show', 'dev', 'tun1']);
      expect(show.code).not.toBe(0);
      second.send(new Uint8Array(40)); // ignored after close, no throw
      second.flush();
      expect(calls).toBe(0);
    });
  });
});

kernelDescribe('TUN addon: handle lifetime', () => {
  it('a closed device that is garbage collected later does not deafen a new one on the same fd', async () => {
    // Regression: freeing the old poll handle (uv_close) after its fd number had been reused
    // removed the NEW fd from epoll, and the new device never woke up again. Uses the addon
    // directly so that nothing but the test holds the old handle.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const tun = loadAddon();
    await withNetns(async (fx) => {
      // In a plain function, so that no suspended async frame keeps the old handle reachable.
      const openStartClose = (): void => {
        const noop = () => {};
        const old = tun.open('tun1', netns.netnsPath(fx.ns));
        tun.start(old.handle, new ArrayBuffer(4096), new Uint32Array(4), 1504, 2, noop, noop, null);
        tun.close(old.handle);
      };
      openStartClose();
      const fresh = await TunLink.open({ name: 'tun2', netns: fx.ns, hostAddress: '10.0.2.1/24' });
      try {
        let got = 0;
        fresh.attach({ packet: (p) => void (p[9] === 17 && got++) });
        // Let one turn of the loop register the new fd with epoll, THEN finalize the old handle.
        await new Promise((r) => setTimeout(r, 20));
        gc(); // the old handle's finalizer runs now, after its fd number was reused
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 10));
          gc();
        }
        const r = await fx.node(SEND_UDP.replace(STACK_ADDR, '10.0.2.2'), ['1', '9999', 'x']);
        expect(r.code, r.stderr).toBe(0);
        await waitFor(() => got === 1, 10_000, 'the datagram on the new device');
      } finally {
        await fresh.close();
      }
    });
  });
  it('wantWritable(true) wakes onWritable once, and reading continues afterwards', async () => {
    // The EAGAIN path of TunLink in miniature: a TUN fd is writable at once, so asking for a
    // writable wake-up must call back exactly once and leave the read side armed.
    const tun = loadAddon();
    await withNetns(async (fx) => {
      const dev = tun.open('tun3', netns.netnsPath(fx.ns));
      let writable = 0;
      let read = 0;
      const rxBuf = new ArrayBuffer(8 * 1504);
      const rxTable = new Uint32Array(16);
      tun.start(
        dev.handle,
        rxBuf,
        rxTable,
        1504,
        8,
        (n) => {
          for (let i = 0; i < n; i++) if (new Uint8Array(rxBuf)[rxTable[2 * i] + 9] === 17) read++;
        },
        () => writable++,
        null,
      );
      try {
        await netns.ip(fx.ns, ['addr', 'add', '10.0.3.1/24', 'dev', 'tun3']);
        await netns.ip(fx.ns, ['link', 'set', 'dev', 'tun3', 'up']);
        tun.wantWritable(dev.handle, true);
        await waitFor(() => writable === 1, 10_000, 'the writable wake-up');
        await new Promise((r) => setTimeout(r, 50));
        expect(writable).toBe(1); // one-shot: the watch is dropped after the call
        const r = await fx.node(SEND_UDP.replace(STACK_ADDR, '10.0.3.2'), ['1', '9999', 'x']);
        expect(r.code, r.stderr).toBe(0);
        await waitFor(() => read === 1, 10_000, 'a datagram after the writable wake-up');
      } finally {
        tun.close(dev.handle);
      }
    });
  });
});
