/**
 * PcapLink: a link wrapper that records every packet in and out to a pcap file (the classic
 * libpcap format: microsecond timestamps, LINKTYPE_RAW = 101, i.e. bare IPv4 packets), readable
 * by `tcpdump -r` and Wireshark.
 *
 * Records are gathered in memory and written with one write per flush/batch end (or every
 * 256 KiB), so capturing does not add a system call per packet. close() writes the rest.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../stack/clock.ts';
import type { Link, LinkOffload, LinkReceiver } from './link.ts';

export const LINKTYPE_RAW = 101;
const PCAP_MAGIC_US = 0xa1b2c3d4;
const FLUSH_BYTES = 256 * 1024;

export interface PcapOptions {
  /** Timestamps from this clock (ms since 1970 as far as pcap cares). Default: wall time. */
  clock?: Clock;
  /** Bytes kept of each packet (default 65 535: all of it). */
  snaplen?: number;
}

export class PcapLink implements Link {
  readonly mtu: number;
  /**
   * The inner link's offloads, passed through: a TSO super-segment is written as it is (what
   * tcpdump shows on a segmentation-offloading device too), partial checksums included.
   */
  readonly offload: LinkOffload | undefined;
  /** Packets written so far. */
  packets = 0;
  private fd: number | null;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private readonly snaplen: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: Link,
    readonly filePath: string,
    options: PcapOptions = {},
  ) {
    this.mtu = inner.mtu;
    this.offload = inner.offload;
    this.snaplen = options.snaplen ?? 65_535;
    if (options.clock !== undefined) {
      const clock = options.clock;
      this.now = () => clock.now();
    } else {
      const wallAtStart = Date.now() - performance.now();
      this.now = () => wallAtStart + performance.now();
    }
    this.fd = openSync(filePath, 'w');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(PCAP_MAGIC_US, 0);
    header.writeUInt16LE(2, 4); // version 2.4
    header.writeUInt16LE(4, 6);
    header.writeInt32LE(0, 8); // thiszone: UTC
    header.writeUInt32LE(0, 12); // sigfigs
    header.writeUInt32LE(this.snaplen, 16);
    header.writeUInt32LE(LINKTYPE_RAW, 20);
    writeSync(this.fd, header);
  }

  attach(rx: LinkReceiver): void {
    this.inner.attach({
      packet: (p, flags) => {
        this.record(p);
        rx.packet(p, flags);
      },
      batchEnd: () => {
        this.writeOut();
        rx.batchEnd?.();
      },
    });
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    this.record(packet);
    this.inner.send(packet, segmentSize);
  }

  flush(): void {
    this.writeOut();
    this.inner.flush();
  }

  async close(): Promise<void> {
    this.writeOut();
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    await this.inner.close();
  }

  private record(packet: Uint8Array): void {
    if (this.fd === null) return;
    const ms = this.now();
    const sec = Math.floor(ms / 1000);
    const usec = Math.floor((ms - sec * 1000) * 1000);
    const incl = Math.min(packet.length, this.snaplen);
    const rec = Buffer.allocUnsafe(16 + incl);
    rec.writeUInt32LE(sec >>> 0, 0);
    rec.writeUInt32LE(usec, 4);
    rec.writeUInt32LE(incl, 8);
    rec.writeUInt32LE(packet.length, 12);
    rec.set(packet.subarray(0, incl), 16);
    this.chunks.push(rec);
    this.buffered += rec.length;
    this.packets++;
    if (this.buffered >= FLUSH_BYTES) this.writeOut();
  }

  private writeOut(): void {
    if (this.fd === null || this.chunks.length === 0) return;
    writeSync(this.fd, Buffer.concat(this.chunks, this.buffered));
    this.chunks = [];
    this.buffered = 0;
  }
}
