/**
 * Output buffers for small packets, carved from a shared 64 KiB slab (IPv4 and IPv6 output).
 *
 * Packets up to a quarter slab are cut in order and never reused, so each is still its own bytes
 * (the link may keep it), but an ACK or an echo reply costs a view rather than an ArrayBuffer of
 * its own: an ArrayBuffer per ACK was most of the GC work of a bulk receive. A slab lives while
 * any packet cut from it does. Larger packets get their own buffer.
 */
const PACKET_SLAB = 64 * 1024;

export class PacketSlab {
  private slab = new Uint8Array(0);
  private used = 0;

  /** `n` zero-or-stale bytes of their own (the caller writes every byte it sends). */
  alloc(n: number): Uint8Array {
    if (n > PACKET_SLAB / 4) return new Uint8Array(n);
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(PACKET_SLAB);
      this.used = 0;
    }
    const p = this.slab.subarray(this.used, this.used + n);
    this.used = (this.used + n + 7) & ~7; // 8-byte aligned starts
    return p;
  }
}
