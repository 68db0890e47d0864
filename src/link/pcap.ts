/**
 * PcapLink: a link wrapper that records every packet in and out to a pcap file (the classic
 * libpcap format: microsecond timestamps, LINKTYPE_RAW = 101, i.e. bare IPv4 packets), readable
 * by `tcpdump -r` and Wireshark.
 *
 * Records are written into one buffer (each packet copied once) and the buffer to the file with
 * one write per flush/batch end (or when 256 KiB are full), so capturing does not add a system
 * call per packet. close() writes the rest.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../stack/clock.ts';
import type { Link, LinkOffload, LinkReceiver } from '../stack/link.ts';

export const LINKTYPE_RAW = 101;
const PCAP_MAGIC_US = 0xa1b2c3d4;
const FLUSH_BYTES = 256 * 1024;
/** ts_sec, ts_usec, incl_len, orig_len. */
const RECORD_HEADER_LEN = 16;

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
  /** Records not yet written: `buf[0, buffered)`. */
  private readonly buf: Buffer;
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
    this.buf = Buffer.allocUnsafe(Math.max(FLUSH_BYTES, RECORD_HEADER_LEN + this.snaplen));
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
    if (this.buffered + RECORD_HEADER_LEN + incl > this.buf.length) this.writeOut();
    const b = this.buf;
    const at = this.buffered;
    b.writeUInt32LE(sec >>> 0, at);
    b.writeUInt32LE(usec, at + 4);
    b.writeUInt32LE(incl, at + 8);
    b.writeUInt32LE(packet.length, at + 12);
    b.set(packet.subarray(0, incl), at + RECORD_HEADER_LEN);
    this.buffered = at + RECORD_HEADER_LEN + incl;
    this.packets++;
  }

  private writeOut(): void {
    if (this.fd === null || this.buffered === 0) return;
    writeSync(this.fd, this.buf, 0, this.buffered);
    this.buffered = 0;
  }
}
