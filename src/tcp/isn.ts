/**
 * Initial sequence numbers (RFC 6528 §3): ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), where M is a timer ticking every 4 microseconds and F a keyed hash of the
 * connection's 4-tuple. Off-path attackers cannot guess ISNs, and successive incarnations of one
 * 4-tuple still get increasing ISNs (RFC 9293 §3.4.1), which keeps old duplicates out.
 *
 * Deterministic given the secret and `now`: the simulator passes a fixed secret and virtual time.
 */

import { createHmac, randomBytes } from 'node:crypto';

/** RFC 6528 §3 / RFC 9293 §3.4.1: M increments once every 4 µs, i.e. 250 times per ms. */
const TICKS_PER_MS = 250;
const TWO_32 = 0x1_0000_0000;

export class IsnGenerator {
  readonly #secret: Uint8Array;
  readonly #tuple = new Uint8Array(12);

  /** `secret` is the hash key; 16 random bytes when omitted. */
  constructor(secret?: Uint8Array) {
    this.#secret = secret === undefined ? randomBytes(16) : Uint8Array.from(secret);
  }

  /** The ISN for a connection, with addresses as uint32 and `nowMs` the stack's clock in ms. */
  next(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number {
    const t = this.#tuple;
    const v = new DataView(t.buffer);
    v.setUint32(0, localAddr >>> 0);
    v.setUint16(4, localPort & 0xffff);
    v.setUint32(6, remoteAddr >>> 0);
    v.setUint16(10, remotePort & 0xffff);
    // F: the first 32 bits of HMAC-SHA-256(secretkey, 4-tuple) (RFC 6528 §3 asks for a PRF).
    const f = createHmac('sha256', this.#secret).update(t).digest().readUInt32BE(0);
    const m = Math.floor(nowMs * TICKS_PER_MS) % TWO_32;
    return (m + f) >>> 0;
  }
}
