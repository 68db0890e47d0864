/**
 * What state is each end of a connection in? An observer per end, fed every segment the end sends
 * and every segment it (presumably) receives, following the state diagram of RFC 9293 §3.3.2 and
 * the segment-arrival rules of §3.10.7.
 *
 * A capture shows segments on the wire, not what each end did with them, so this is an inference:
 *  - A segment seen is taken to have reached its receiver when it was captured, or, when the
 *    receiver's next segment does not acknowledge it, just after that one (buildLadder decides
 *    when to call `received`). Loss after the capture point is not guessed.
 *  - A segment missing from the capture is not guessed either; but when an end acknowledges more
 *    than the capture showed it (its ACK covers a FIN, say), the observer believes the ACK.
 *  - The opener's peer starts in LISTEN if it ever answers the SYN with a SYN/ACK, else in CLOSED
 *    (it refused with a RST, or never answered). A capture that starts mid-connection starts both
 *    ends in ESTABLISHED.
 *  - TIME_WAIT's 2×MSL timer is not drawn: the last state shown is TIME_WAIT.
 */
import { seqAdd, seqGeq, seqGt, seqInRange, seqMax } from '../../tcp/seq.ts';
import type { TcpState } from '../../tcp/state.ts';
import { segmentLength, type TcpRepr } from '../../wire/tcp-repr.ts';

/** One end's view of the connection, in the RFC's names. */
export class EndObserver {
  /** Our SYN's sequence number, once sent. */
  iss: number | null = null;
  /** One past the highest sequence number we have sent (RFC 9293's SND.NXT at its maximum). */
  sndMax: number | null = null;
  /** The sequence number our FIN occupies, once sent. */
  finSeq: number | null = null;
  /** The next sequence number we expect from the peer, as far as the capture tells. */
  rcvNxt: number | null = null;
  /** The window we last advertised, in bytes (scaled). */
  rcvWnd = 0;
  /** The peer's FIN, seen ahead of data the capture did not show: processed when caught up. */
  private pendingFin: number | null = null;

  constructor(
    public state: TcpState,
    /** Opened passively: a reset in SYN_RECEIVED returns to LISTEN (RFC 9293 §3.10.7.4). */
    private readonly passive: boolean,
  ) {}

  /**
   * Would `seg`, sent by this end, be a retransmission: does it occupy sequence space this end has
   * already sent? Asked before `sent(seg)`.
   */
  isRetransmission(seg: TcpRepr): boolean {
    const len = segmentLength(seg);
    return len > 0 && this.sndMax !== null && seqGt(this.sndMax, seg.seq);
  }

  /** This end sent `seg`, advertising `window` bytes (already scaled). */
  sent(seg: TcpRepr, window: number): void {
    this.rcvWnd = window;
    const end = seqAdd(seg.seq, segmentLength(seg));
    this.sndMax = this.sndMax === null ? end : seqMax(this.sndMax, end);
    if (seg.control === 'rst') {
      // A listener's RST answers one stray segment and leaves the listener as it was.
      if (this.state !== 'LISTEN') this.state = 'CLOSED';
      return;
    }
    if (seg.control === 'syn') {
      this.iss ??= seg.seq;
      // CLOSED/LISTEN --snd SYN--> SYN_SENT; the SYN/ACK of a passive or simultaneous open
      // follows the SYN it answers, which already moved us to SYN_RECEIVED.
      if (seg.ack === null && (this.state === 'CLOSED' || this.state === 'LISTEN')) {
        this.state = 'SYN_SENT';
      } else if (seg.ack !== null && this.state === 'LISTEN') {
        this.state = 'SYN_RECEIVED'; // the SYN it answers was not captured
      }
    }
    if (seg.ack !== null) this.acknowledged(seg.ack);
    if (seg.control === 'fin' && this.finSeq === null) {
      this.finSeq = seqAdd(seg.seq, seg.payload.length);
      // RFC 9293 §3.10.4 CLOSE: SYN_RECEIVED/ESTABLISHED → FIN_WAIT_1, CLOSE_WAIT → LAST_ACK.
      if (this.state === 'ESTABLISHED' || this.state === 'SYN_RECEIVED') this.state = 'FIN_WAIT_1';
      else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
    }
  }

  /**
   * This end received `seg`. Returns a note when the segment was not taken at face value
   * (a RST that RFC 5961 makes the receiver challenge or ignore), else null.
   */
  received(seg: TcpRepr): string | null {
    if (seg.control === 'rst') return this.receivedRst(seg);
    if (seg.control === 'syn') {
      this.receivedSyn(seg);
      return null;
    }
    // Not synchronized: a segment without SYN or RST draws a RST at most (§3.10.7.1-3).
    if (this.state === 'CLOSED' || this.state === 'LISTEN' || this.state === 'SYN_SENT') {
      return null;
    }
    // RFC 9293 §3.10.7.4, fifth: the ACK field.
    if (seg.ack !== null) this.receivedAck(seg.ack);
    // Seventh: the text. The capture may show data this end's ACKs later contradict; ACKs win.
    if (this.rcvNxt === null) {
      this.rcvNxt = seqAdd(seg.seq, seg.payload.length);
    } else if (seqGeq(this.rcvNxt, seg.seq)) {
      this.rcvNxt = seqMax(this.rcvNxt, seqAdd(seg.seq, seg.payload.length));
    }
    // Eighth: the FIN, taken only in order.
    if (seg.control === 'fin') {
      this.pendingFin = seqAdd(seg.seq, seg.payload.length);
      this.finIfInOrder();
    }
    return null;
  }

  private receivedSyn(seg: TcpRepr): void {
    if (seg.ack === null) {
      // LISTEN --rcv SYN--> SYN_RECEIVED; SYN_SENT --rcv SYN--> SYN_RECEIVED (simultaneous open).
      if (this.state === 'LISTEN' || this.state === 'SYN_SENT') {
        this.state = 'SYN_RECEIVED';
        this.rcvNxt = seqAdd(seg.seq, 1);
      }
      return;
    }
    // SYN_SENT --rcv SYN,ACK--> ESTABLISHED, if the ACK acknowledges our SYN (§3.10.7.3).
    const acksOurSyn = this.iss !== null && seg.ack === seqAdd(this.iss, 1);
    if (!acksOurSyn) return;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') {
      this.state = 'ESTABLISHED';
      this.rcvNxt = seqAdd(seg.seq, 1);
    }
  }

  /** RFC 9293 §3.10.7.3 (SYN_SENT) and §3.10.7.4 first check with RFC 5961 §3.2. */
  private receivedRst(seg: TcpRepr): string | null {
    switch (this.state) {
      case 'CLOSED':
      case 'LISTEN':
        return null;
      case 'SYN_SENT':
        // Acceptable only with an ACK of our SYN: "connection refused".
        if (this.iss !== null && seg.ack === seqAdd(this.iss, 1)) {
          this.state = 'CLOSED';
          return null;
        }
        return 'RST ignored: does not ack our SYN';
      default: {
        if (this.rcvNxt === null || seg.seq === this.rcvNxt) {
          this.state = this.state === 'SYN_RECEIVED' && this.passive ? 'LISTEN' : 'CLOSED';
          return null;
        }
        const wnd = Math.max(this.rcvWnd, 1);
        if (seqInRange(seg.seq, this.rcvNxt, seqAdd(this.rcvNxt, wnd))) {
          return 'RST in window, not exact: challenge ACK (RFC 5961 §3.2)';
        }
        return 'RST ignored: out of window';
      }
    }
  }

  private receivedAck(ack: number): void {
    const ackedFin = this.finSeq !== null && seqGt(ack, this.finSeq);
    switch (this.state) {
      case 'SYN_RECEIVED':
        if (this.iss !== null && seqGt(ack, this.iss)) this.state = 'ESTABLISHED';
        if (ackedFin) this.state = 'FIN_WAIT_2'; // closed from SYN_RECEIVED, all acked at once
        break;
      case 'FIN_WAIT_1':
        if (ackedFin) this.state = 'FIN_WAIT_2';
        break;
      case 'CLOSING':
        if (ackedFin) this.state = 'TIME_WAIT';
        break;
      case 'LAST_ACK':
        if (ackedFin) this.state = 'CLOSED';
        break;
      default:
        break;
    }
  }

  /** We acknowledged up to `ack`: we have received at least that much. */
  private acknowledged(ack: number): void {
    if (this.rcvNxt === null || seqGt(ack, this.rcvNxt)) {
      // Our ACK covering the peer's FIN means we took the FIN: the data before it, then it.
      if (this.pendingFin !== null && seqGt(ack, this.pendingFin)) {
        this.rcvNxt = this.pendingFin;
        this.finIfInOrder();
      } else {
        this.rcvNxt = ack;
      }
    }
  }

  /** RFC 9293 §3.10.7.4, eighth: process a FIN once everything before it has arrived. */
  private finIfInOrder(): void {
    if (this.pendingFin === null || this.rcvNxt === null) return;
    if (!seqGeq(this.rcvNxt, this.pendingFin)) return;
    this.rcvNxt = seqAdd(this.pendingFin, 1);
    this.pendingFin = null;
    switch (this.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT_1':
        // Our FIN not yet acked (an ACK in this segment moved us to FIN_WAIT_2 already).
        this.state = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.state = 'TIME_WAIT';
        break;
      default:
        break; // a retransmitted FIN in CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT changes nothing
    }
  }
}
