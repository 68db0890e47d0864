/**
 * RecorderLink: a link wrapper that remembers the last K packets in and out, in memory, so that a
 * running stack can show what just happened (`ladderFromPackets(recorder.packets())` draws a
 * connection's last exchanges) without writing a pcap file for the whole run.
 *
 * Bounded: K slots, each holding one packet's bytes, reused in a ring once full. A slot's buffer
 * is allocated the first time it is used and kept, so after K packets recording allocates
 * nothing; memory is at most K × (largest packet seen). Received bytes are only valid during the
 * receive call (link.ts), hence the copy.
 */
import type { Clock } from '../stack/clock.ts';
import type { Link, LinkOffload, LinkReceiver } from '../stack/link.ts';

export type Direction = 'in' | 'out';

export interface RecordedPacket {
  /** When the packet passed, in the recorder's clock's milliseconds. */
  at: number;
  /** 'in': received from the link; 'out': sent by the stack. */
  dir: Direction;
  /** A copy of the IPv4 packet. */
  bytes: Uint8Array;
}

export interface RecorderOptions {
  /** Timestamps from this clock. Default: performance.now(). */
  clock?: Clock;
}

interface Slot {
  at: number;
  dir: Direction;
  length: number;
  buf: Uint8Array;
}

export class RecorderLink implements Link {
  readonly mtu: number;
  /** The inner link's offloads, passed through (a super-segment is recorded whole). */
  readonly offload: LinkOffload | undefined;
  /** Packets recorded since creation (those beyond the last K have been overwritten). */
  recorded = 0;
  /** Grows to `capacity` slots, then is reused as a ring. */
  private readonly slots: Slot[] = [];
  /** The slot the next packet goes into. */
  private next = 0;
  /** How many slots hold a packet (≤ capacity). */
  private count = 0;
  private readonly now: () => number;

  constructor(
    private readonly inner: Link,
    /** How many packets to keep: the last K. */
    readonly capacity: number,
    options: RecorderOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw Object.assign(new RangeError(`RecorderLink capacity must be a positive integer`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    this.mtu = inner.mtu;
    this.offload = inner.offload;
    const clock = options.clock;
    this.now = clock !== undefined ? () => clock.now() : () => performance.now();
  }

  attach(rx: LinkReceiver): void {
    this.inner.attach({
      packet: (p, flags) => {
        this.record('in', p);
        rx.packet(p, flags);
      },
      batchEnd: () => rx.batchEnd?.(),
    });
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    // The inner link owns the packet after send(), so copy it first.
    this.record('out', packet);
    this.inner.send(packet, segmentSize);
  }

  flush(): void {
    this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The packets kept, oldest first, as copies the caller may keep. */
  packets(): RecordedPacket[] {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    const out: RecordedPacket[] = [];
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[(start + i) % this.capacity];
      out.push({ at: s.at, dir: s.dir, bytes: s.buf.slice(0, s.length) });
    }
    return out;
  }

  /** Forget what was recorded (the slot buffers are kept for reuse). */
  clear(): void {
    this.next = 0;
    this.count = 0;
  }

  private record(dir: Direction, packet: Uint8Array): void {
    this.recorded++;
    let slot = this.slots[this.next];
    if (slot === undefined) {
      slot = { at: 0, dir, length: 0, buf: new Uint8Array(Math.max(packet.length, this.mtu)) };
      this.slots.push(slot);
    } else if (slot.buf.length < packet.length) {
      slot.buf = new Uint8Array(packet.length);
    }
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    slot.at = this.now();
    slot.dir = dir;
    slot.length = packet.length;
    slot.buf.set(packet);
  }
}
