import { describe, expect, it } from 'vitest';
import { SimLink } from '../../../src/link/sim.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';

function collect(link: SimLink, clock: VirtualClock) {
  const got: [number, number[]][] = [];
  let batches = 0;
  link.attach({ packet: (p) => got.push([clock.now(), Array.from(p)]), batchEnd: () => batches++ });
  return { got, batches: () => batches };
}

describe('SimLink', () => {
  it('delivers after flush, after the delay, as one batch', () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock, { delayMs: 3 });
    const rx = collect(b, clock);
    a.send(new Uint8Array([1]));
    a.send(new Uint8Array([2]));
    clock.advance(10);
    expect(rx.got).toEqual([]); // held until flush, like a batching TUN writer
    a.flush();
    clock.advance(2);
    expect(rx.got).toEqual([]);
    clock.advance(1);
    expect(rx.got).toEqual([
      [13, [1]],
      [13, [2]],
    ]);
    expect(rx.batches()).toBe(1);
    expect(a.stats).toMatchObject({ txPackets: 2, txBytes: 2, flushes: 1 });
    expect(b.stats).toMatchObject({ rxPackets: 2, rxBytes: 2 });
  });

  it('serialises at the given bandwidth', () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock, { bandwidthBps: 8000 }); // 1 byte per ms
    const rx = collect(b, clock);
    a.send(new Uint8Array(10));
    a.send(new Uint8Array(5));
    a.flush();
    clock.runUntilIdle();
    expect(rx.got.map(([t]) => t)).toEqual([10, 15]);
  });

  it('drops packets over the MTU, beyond the queue limit, or with nobody attached', () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock, { mtu: 100, queueLimit: 2 });
    a.send(new Uint8Array(101));
    a.send(new Uint8Array(1));
    a.send(new Uint8Array(1));
    a.send(new Uint8Array(1));
    a.flush();
    expect(a.stats.drops).toBe(2);
    clock.runUntilIdle();
    expect(b.stats.drops).toBe(2); // b never attached
  });

  it('delivers nothing after close', async () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock);
    const rx = collect(b, clock);
    a.send(new Uint8Array(1));
    a.flush();
    await a.close();
    clock.runUntilIdle();
    expect(rx.got).toEqual([]);
  });
});
