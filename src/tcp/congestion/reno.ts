/**
 * Reno congestion control (RFC 5681 §3.1), with appropriate byte counting in congestion
 * avoidance (RFC 3465 §2.1).
 */

import { LossBasedControl } from './base.ts';

export class Reno extends LossBasedControl {
  readonly name = 'reno';
  /** RFC 3465 §2.1: bytes acknowledged since cwnd last grew in congestion avoidance. */
  #bytesAcked = 0;

  protected avoid(ackedBytes: number): void {
    // RFC 3465 §2.1: one SMSS per cwnd of bytes acknowledged (RFC 5681 §3.1 eq. 3's alternative).
    this.#bytesAcked += ackedBytes;
    if (this.#bytesAcked >= this.cwnd) {
      this.#bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  protected reduce(flightSize: number): void {
    // RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
  }

  protected restart(): void {
    this.#bytesAcked = 0;
  }
}
