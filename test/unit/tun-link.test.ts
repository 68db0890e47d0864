/**
 * TunLink's batching logic over a scripted addon (no kernel): the write batch, EAGAIN and the
 * writable retry, the bounded buffer, and the receive table walk.
 */
import { describe, expect, it } from 'vitest';
import type { TunAddon, TunHandle } from '../../src/link/tun.ts';
import { TunLink } from '../../src/link/tun.ts';

/** An addon whose device takes `room` packets before answering EAGAIN. */
class FakeAddon implements TunAddon {
  room = Number.POSITIVE_INFINITY;
  written: number[][] = [];
  calls: number[] = [];
  wantWritableCalls: boolean[] = [];
  closed = false;
  rxBuf!: ArrayBuffer;
  rxTable!: Uint32Array;
  onRead!: (count: number) => void;
  onWritable!: () => void;

  open(): never {
    throw new Error('not used');
  }
  start(
    _h: TunHandle,
    rxBuf: ArrayBuffer,
    rxTable: Uint32Array,
    _slot: number,
    _batch: number,
    onRead: (count: number) => void,
    onWritable: () => void,
  ): void {
    Object.assign(this, { rxBuf, rxTable, onRead, onWritable });
  }
  writeBatch(
    _h: TunHandle,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    first: number,
    count: number,
  ): number {
    this.calls.push(count);
    let i = 0;
    for (; i < count && this.room > 0; i++, this.room--) {
      const off = offsets[first + i];
      this.written.push(Array.from(buf.subarray(off, off + lengths[first + i])));
    }
    return i;
  }
  wantWritable(_h: TunHandle, on: boolean): void {
    this.wantWritableCalls.push(on);
  }
  stats() {
    return {
      rxPackets: 0,
      rxBytes: 0,
      rxBatches: 0,
      rxErrors: 0,
      rxTruncated: 0,
      txPackets: this.written.length,
      txBytes: 0,
      txCalls: this.calls.length,
      txErrors: 0,
      txEagain: 0,
      rxGso: 0,
      txGso: 0,
    };
  }
  close(): void {
    this.closed = true;
  }

  /** Deliver packets as the native side would: packed into rxBuf, (offset, length) pairs. */
  deliver(packets: number[][]): void {
    const bytes = new Uint8Array(this.rxBuf);
    let off = 0;
    packets.forEach((p, i) => {
      bytes.set(p, off);
      this.rxTable[2 * i] = off;
      this.rxTable[2 * i + 1] = p.length;
      off += (p.length + 3) & ~3;
    });
    this.onRead(packets.length);
  }
}

const handle = {} as TunHandle;
const pkt = (n: number, len = 20): Uint8Array => new Uint8Array(len).fill(n);

function setup(batch = 4, mtu = 100) {
  const addon = new FakeAddon();
  const link = TunLink.fromHandle(addon, handle, { name: 'tun0', mtu, batch });
  return { addon, link };
}

describe('TunLink send/flush', () => {
  it('hands the whole batch to one native call, copying the bytes', () => {
    const { addon, link } = setup();
    const p = pkt(1, 21);
    link.send(p);
    p.fill(9); // the link copied: later writes by the caller do not leak into the packet
    link.send(pkt(2, 22));
    link.send(pkt(3, 23));
    link.flush();
    expect(addon.calls).toEqual([3]);
    expect(addon.written).toEqual([Array(21).fill(1), Array(22).fill(2), Array(23).fill(3)]);
    link.flush();
    expect(addon.calls).toEqual([3]); // nothing pending, no call
  });

  it('writes a full batch before queueing the next packet', () => {
    const { addon, link } = setup(4);
    for (let i = 1; i <= 5; i++) link.send(pkt(i));
    expect(addon.calls).toEqual([4]);
    link.flush();
    expect(addon.calls).toEqual([4, 1]);
    expect(addon.written.map((w) => w[0])).toEqual([1, 2, 3, 4, 5]);
  });

  it('flushes by itself in a microtask if the caller never does', async () => {
    const { addon, link } = setup();
    link.send(pkt(7));
    expect(addon.calls).toEqual([]);
    await Promise.resolve();
    expect(addon.written.map((w) => w[0])).toEqual([7]);
  });

  it('keeps what EAGAIN left, waits for writable, then sends it in order', () => {
    const { addon, link } = setup(8);
    addon.room = 2;
    for (let i = 1; i <= 5; i++) link.send(pkt(i));
    link.flush();
    expect(addon.written.map((w) => w[0])).toEqual([1, 2]);
    expect(addon.wantWritableCalls).toEqual([true]);
    link.send(pkt(6)); // queued behind the rest
    link.flush(); // blocked: no native call until writable
    expect(addon.calls).toEqual([5]);
    addon.room = Number.POSITIVE_INFINITY;
    addon.onWritable();
    expect(addon.calls).toEqual([5, 4]);
    expect(addon.written.map((w) => w[0])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stays bounded while blocked: compacts, then drops and counts', () => {
    const { addon, link } = setup(4);
    addon.room = 1;
    for (let i = 1; i <= 4; i++) link.send(pkt(i));
    link.flush(); // 1 written, 2..4 wait at slots 1..3
    link.send(pkt(5)); // full: flush is blocked, compaction frees slot 0
    link.send(pkt(6)); // nothing to free: dropped
    expect(link.stats.txDropped).toBe(1);
    addon.room = Number.POSITIVE_INFINITY;
    addon.onWritable();
    expect(addon.written.map((w) => w[0])).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops packets larger than the MTU, and empty ones', () => {
    const { addon, link } = setup(4, 100);
    link.send(pkt(1, 101));
    link.send(new Uint8Array(0));
    link.send(pkt(2, 100));
    link.flush();
    expect(link.stats.txOversize).toBe(2);
    expect(addon.written.map((w) => w.length)).toEqual([100]);
  });
});

describe('TunLink receive', () => {
  it('walks the offset table, one view per packet, then one batchEnd', () => {
    const { addon, link } = setup();
    const got: number[][] = [];
    let ends = 0;
    link.attach({ packet: (p) => got.push(Array.from(p)), batchEnd: () => ends++ });
    addon.deliver([
      [0x45, 1, 2],
      [0x45, 3, 4, 5, 6],
    ]);
    expect(got).toEqual([
      [0x45, 1, 2],
      [0x45, 3, 4, 5, 6],
    ]);
    expect(ends).toBe(1);
  });

  it('delivers nothing and sends nothing after close', async () => {
    const { addon, link } = setup();
    let n = 0;
    link.attach({ packet: () => n++ });
    await link.close();
    expect(addon.closed).toBe(true);
    link.send(pkt(1));
    link.flush();
    expect(addon.calls).toEqual([]);
    addon.deliver([[0x45]]);
    expect(n).toBe(0);
  });
});
