import type { Link, LinkReceiver } from '../../../src/stack/link.ts';

/** A link that records what the stack does with it, and lets the test deliver packets. */
export class RecordingLink implements Link {
  readonly mtu: number;
  rx: LinkReceiver | null = null;
  sent: Uint8Array[] = [];
  /** Packets sent before each flush, one entry per flush() call. */
  flushes: number[] = [];
  private since = 0;
  closed = false;

  constructor(mtu = 1500) {
    this.mtu = mtu;
  }
  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }
  send(p: Uint8Array): void {
    this.sent.push(p);
    this.since++;
  }
  flush(): void {
    this.flushes.push(this.since);
    this.since = 0;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  /** Deliver packets as one batch. */
  deliver(...packets: Uint8Array[]): void {
    for (const p of packets) this.rx!.packet(p);
    this.rx!.batchEnd?.();
  }
}
