/**
 * HoldLink(inner): a link a script can steer, for replaying the textbook's scenarios with real
 * stacks (src/apps/lessons/): hold back chosen outgoing packets and let them go later (a packet
 * "delayed in the network"), put extra packets on the wire (an old duplicate that was delayed
 * for a long time), and cut the link (a host that crashed: nothing goes out or comes in again).
 *
 * It changes nothing else: what is not held goes to the inner link at once, in order.
 */
import type { Link, LinkOffload, LinkReceiver } from '../stack/link.ts';

export class HoldLink implements Link {
  readonly mtu: number;
  readonly offload: LinkOffload | undefined;
  /** Packets held back by `holdIf`, oldest first (the link owns them, as send() says). */
  readonly held: Uint8Array[] = [];
  /** Packets dropped because the link was cut. */
  dropped = 0;
  /** The `segmentSize` each held packet was sent with (a TSO super-segment keeps it). */
  #heldSegmentSize: (number | undefined)[] = [];
  #holdIf: ((packet: Uint8Array) => boolean) | null = null;
  #cut = false;

  constructor(private readonly inner: Link) {
    this.mtu = inner.mtu;
    this.offload = inner.offload;
  }

  /** Hold back every outgoing packet for which `pred` is true (null: hold nothing more). */
  holdIf(pred: ((packet: Uint8Array) => boolean) | null): void {
    this.#holdIf = pred;
  }

  /** Send the held packets now, in the order they were held. */
  release(): void {
    const all = this.held.splice(0);
    const sizes = this.#heldSegmentSize.splice(0);
    if (this.#cut) {
      this.dropped += all.length;
      return;
    }
    for (const [i, p] of all.entries()) this.inner.send(p, sizes[i]);
    this.inner.flush();
  }

  /** Put a packet on the wire as if this end had sent it (it need not have). */
  inject(packet: Uint8Array): void {
    this.inner.send(packet);
    this.inner.flush();
  }

  /** From now on nothing goes out and nothing comes in: the host behind this end is gone. */
  cut(): void {
    this.#cut = true;
    this.dropped += this.held.length;
    this.held.length = 0;
    this.#heldSegmentSize.length = 0;
  }

  attach(rx: LinkReceiver): void {
    this.inner.attach({
      packet: (p, flags) => {
        if (this.#cut) this.dropped++;
        else rx.packet(p, flags);
      },
      batchEnd: () => {
        if (!this.#cut) rx.batchEnd?.();
      },
    });
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.#cut) {
      this.dropped++;
      return;
    }
    if (this.#holdIf?.(packet)) {
      this.held.push(packet);
      this.#heldSegmentSize.push(segmentSize);
    } else {
      this.inner.send(packet, segmentSize);
    }
  }

  flush(): void {
    if (!this.#cut) this.inner.flush();
  }

  close(): Promise<void> {
    this.#cut = true;
    return this.inner.close();
  }
}
