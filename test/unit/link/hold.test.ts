import { describe, expect, it } from 'vitest';
import { HoldLink } from '../../../src/link/hold.ts';
import { SimLink } from '../../../src/link/sim.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';

function setup() {
  const clock = new VirtualClock();
  const [a, b] = SimLink.pair(clock, { delayMs: 1 });
  const hold = new HoldLink(a);
  const atB: number[] = [];
  const atA: number[] = [];
  b.attach({ packet: (p) => atB.push(p[0]) });
  hold.attach({ packet: (p) => atA.push(p[0]) });
  const send = (n: number) => {
    hold.send(Uint8Array.of(n));
    hold.flush();
  };
  return { clock, b, hold, atA, atB, send };
}

describe('HoldLink', () => {
  it('passes packets through unless held; held ones go on release, in order', () => {
    const { clock, hold, atB, send } = setup();
    hold.holdIf((p) => p[0] % 2 === 0);
    for (const n of [1, 2, 3, 4, 5]) send(n);
    clock.advance(1);
    expect(atB).toEqual([1, 3, 5]);
    expect(hold.held.map((p) => p[0])).toEqual([2, 4]);
    hold.holdIf(null);
    send(6);
    hold.release();
    clock.advance(1);
    expect(atB).toEqual([1, 3, 5, 6, 2, 4]);
    expect(hold.held).toEqual([]);
  });

  it('inject puts a packet on the wire that the stack never sent', () => {
    const { clock, hold, atB } = setup();
    hold.inject(Uint8Array.of(9));
    clock.advance(1);
    expect(atB).toEqual([9]);
  });

  it('once cut, nothing goes out or comes in, held packets included, and all are counted', () => {
    const { clock, b, hold, atA, atB, send } = setup();
    hold.holdIf(() => true);
    send(1);
    hold.cut();
    hold.holdIf(null);
    send(2);
    hold.release();
    b.send(Uint8Array.of(3));
    b.flush();
    clock.advance(5);
    expect(atB).toEqual([]);
    expect(atA).toEqual([]);
    expect(hold.dropped).toBe(3);
  });

  it('a held TSO super-segment is released with its segment size', () => {
    const sent: Array<[number, number | undefined]> = [];
    const inner = {
      mtu: 1500,
      offload: { tso: true, maxSegment: 65_535 },
      attach() {},
      send: (p: Uint8Array, segmentSize?: number) => sent.push([p[0], segmentSize]),
      flush() {},
      close: async () => {},
    };
    const hold = new HoldLink(inner);
    expect(hold.offload).toBe(inner.offload);
    hold.holdIf((p) => p[0] === 1);
    hold.send(Uint8Array.of(1), 1448);
    hold.send(Uint8Array.of(2));
    hold.release();
    expect(sent).toEqual([
      [2, undefined],
      [1, 1448],
    ]);
  });
});
