/**
 * TunLink's batching logic over a scripted addon (no kernel): the write batch, EAGAIN and the
 * writable retry, the bounded buffer, and the receive table walk.
 */
import { describe, expect, it } from 'vitest';
import type { TunAddon, TunHandle } from '../../../src/link/tun.ts';
import { TunLink, TunOffloadFlag } from '../../../src/link/tun.ts';
import { RxFlag } from '../../../src/stack/link.ts';

/** An addon whose device takes `room` packets before answering EAGAIN. */
class FakeAddon implements TunAddon {
  room = Number.POSITIVE_INFINITY;
  written: number[][] = [];
  calls: number[] = [];
  wantWritableCalls: boolean[] = [];
  closed = false;
  rxBuf!: ArrayBuffer;
  rxTable!: Uint32Array;
  rxHdrs: Uint8Array | null = null;
  /** The 10-byte header each written packet went out behind (vnet devices). */
  writtenHdrs: number[][] = [];
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
    rxHdrs: Uint8Array | null,
  ): void {
    Object.assign(this, { rxBuf, rxTable, onRead, onWritable, rxHdrs });
  }
  writeBatch(
    _h: TunHandle,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    first: number,
    count: number,
    hdrs: Uint8Array | null,
  ): number {
    this.calls.push(count);
    let i = 0;
    for (; i < count && this.room > 0; i++, this.room--) {
      const off = offsets[first + i];
      this.written.push(Array.from(buf.subarray(off, off + lengths[first + i])));
      const h = 12 * (first + i);
      if (hdrs !== null) this.writtenHdrs.push(Array.from(hdrs.subarray(h, h + 10)));
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
  deliver(packets: number[][], hdrs: number[][] = []): void {
    const bytes = new Uint8Array(this.rxBuf);
    let off = 0;
    packets.forEach((p, i) => {
      if (hdrs[i] !== undefined) this.rxHdrs?.set(hdrs[i], 12 * i);
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

describe('TunLink with vnet headers (offload)', () => {
  /** An IPv4/TCP packet of `len` bytes: IHL 5, data offset 8 (timestamps). */
  const tcpPacket = (len: number): Uint8Array => {
    const p = new Uint8Array(len);
    p[0] = 0x45;
    p[9] = 6;
    p[32] = 8 << 4;
    return p;
  };
  function vnet(offloads = TunOffloadFlag.Csum | TunOffloadFlag.Tso4) {
    const addon = new FakeAddon();
    const link = TunLink.fromHandle(addon, handle, {
      name: 'tun0',
      mtu: 1500,
      batch: 8,
      vnetHdr: true,
      offloads,
    });
    return { addon, link };
  }

  it('offers TSO only when the kernel granted TSO4, and over IPv6 when it granted TSO6 too', () => {
    expect(vnet().link.offload).toEqual({ tso: true, tso6: false, maxSegment: 65_535 });
    const all = TunOffloadFlag.Csum | TunOffloadFlag.Tso4 | TunOffloadFlag.Tso6;
    expect(vnet(all).link.offload).toEqual({ tso: true, tso6: true, maxSegment: 65_535 });
    expect(vnet(TunOffloadFlag.Csum).link.offload).toBeUndefined();
    expect(setup().link.offload).toBeUndefined();
    expect(setup().link.vnetHdr).toBe(false);
  });

  it('a super-segment goes out behind a TCPV4 header, an ordinary packet behind zeros', () => {
    const { addon, link } = vnet();
    link.send(tcpPacket(40_000), 1448);
    link.send(tcpPacket(60));
    link.flush();
    expect(addon.written.map((w) => w.length)).toEqual([40_000, 60]);
    expect(addon.writtenHdrs).toEqual([
      [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
  });

  it('an IPv6 super-segment goes out behind a TCPV6 header (TSO6)', () => {
    const { addon, link } = vnet(TunOffloadFlag.Csum | TunOffloadFlag.Tso4 | TunOffloadFlag.Tso6);
    const p = new Uint8Array(40_000);
    p[0] = 0x60;
    p[6] = 6; // next header TCP
    p[40 + 12] = 8 << 4; // data offset 8: 32 bytes
    link.send(p, 1428);
    link.send(tcpPacket(40_000), 1448);
    link.flush();
    expect(addon.written.map((w) => w.length)).toEqual([40_000, 40_000]);
    expect(addon.writtenHdrs).toEqual([
      // NEEDS_CSUM, TCPV6, hdr_len 72, gso_size 1428, csum_start 40, csum_offset 16
      [1, 4, 72, 0, 0x94, 0x05, 40, 0, 16, 0],
      [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0],
    ]);
  });

  it('headers follow their packets through EAGAIN and compaction', () => {
    const { addon, link } = vnet();
    addon.room = 1;
    link.send(tcpPacket(60));
    link.send(tcpPacket(30_000), 1000);
    link.flush();
    expect(addon.writtenHdrs.length).toBe(1);
    addon.room = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 7; i++) link.send(tcpPacket(100)); // forces a compaction while blocked
    addon.onWritable();
    expect(addon.written.map((w) => w.length)).toEqual([60, 30_000, ...Array(7).fill(100)]);
    expect(addon.writtenHdrs[1].slice(0, 2)).toEqual([1, 1]);
    expect(addon.writtenHdrs[1][4] | (addon.writtenHdrs[1][5] << 8)).toBe(1000);
    expect(addon.writtenHdrs.slice(2).every((h) => h.every((b) => b === 0))).toBe(true);
  });

  it('a packet over the MTU without a segment size is still refused; with one, up to 64 KiB', () => {
    const { addon, link } = vnet();
    link.send(tcpPacket(1501));
    link.send(tcpPacket(65_536), 1448);
    link.send(tcpPacket(65_535), 1448);
    link.flush();
    expect(link.stats.txOversize).toBe(2);
    expect(addon.written.map((w) => w.length)).toEqual([65_535]);
  });

  it('received packets carry CsumTrusted when the kernel left the checksum partial or verified it', () => {
    const { addon, link } = vnet();
    const got: [number, number | undefined][] = [];
    link.attach({ packet: (p, flags) => got.push([p.length, flags]) });
    addon.deliver(
      [Array(60_000).fill(0), Array(60).fill(0), Array(70).fill(0)],
      [
        [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      ],
    );
    expect(got).toEqual([
      [60_000, RxFlag.CsumTrusted],
      [60, 0],
      [70, RxFlag.CsumTrusted],
    ]);
    expect(link.stats.rxCsumTrusted).toBe(2);
  });
});
