/**
 * Explicit Congestion Notification for TCP (RFC 3168 §6.1), as Linux does it (tcp_ecn): the SYN
 * exchange agrees on it, data we send carries ECT(0) in its IP header, a router's CE mark on data
 * we receive is echoed back with ECE until the peer says CWR, and an ECE from the peer reduces
 * our congestion window once per window of data, as a loss would, but without a retransmission.
 *
 * The option `ecn` follows Linux's net.ipv4.tcp_ecn:
 *   0  never: no ECN-setup SYN, and a peer's ECN-setup SYN gets a plain SYN-ACK;
 *   1  request it on active opens, accept it on passive ones;
 *   2  accept it when the peer asks (the default, as Linux's), never request it.
 *
 * ECN-setup SYN: ECE and CWR set. ECN-setup SYN-ACK: ECE set, CWR clear (§6.1.1). A SYN sent
 * again after a timeout goes without ECE and CWR (Linux's tcp_ecn_fallback, §6.1.1.1: a middlebox
 * may drop ECN-setup SYNs). What is marked ECT(0) (§6.1.5, Linux's tcp_ecn_send): data segments
 * carrying bytes never sent before; never a SYN, a pure ACK, a retransmission or a window probe.
 *
 * The state below lives in the connection's context (ConnContext.ecn) only once ECN is agreed:
 * a connection without it pays one null field.
 */
import { IpEcn } from '../wire/ipv4.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import type { ConnContext } from './context.ts';
import type { EcnMode } from './options.ts';
import type { LossRecovery } from './recovery.ts';
import { seqGt } from './seq.ts';

export type { EcnMode } from './options.ts';

/** The SYN of an active open asks for ECN: ECE and CWR (RFC 3168 §6.1.1). */
export function synRequestsEcn(syn: Pick<TcpRepr, 'ece' | 'cwr'>): boolean {
  return syn.ece && syn.cwr;
}

/** A SYN-ACK agrees to ECN: ECE without CWR (RFC 3168 §6.1.1; ECE+CWR is not an agreement). */
export function synAckAgreesEcn(synAck: Pick<TcpRepr, 'ece' | 'cwr'>): boolean {
  return synAck.ece && !synAck.cwr;
}

/** Passive open: we accept the peer's SYN's request (any mode but 0). */
export function acceptsEcn(mode: EcnMode, syn: Pick<TcpRepr, 'ece' | 'cwr'>): boolean {
  return mode !== 0 && synRequestsEcn(syn);
}

/**
 * Whether the SYN that reached us (`peer`) makes ECN agreed: on a passive open, the peer asked
 * and we accept; on an active open (`peer` is the SYN-ACK), we asked (mode 1, and our SYN went
 * with ECE+CWR: `requested`) and the peer agreed.
 */
export function ecnAgreed(
  mode: EcnMode,
  peer: Pick<TcpRepr, 'ece' | 'cwr' | 'ack'>,
  requested: boolean,
): boolean {
  if (peer.ack === null) return acceptsEcn(mode, peer);
  return requested && synAckAgreesEcn(peer);
}

/**
 * Set the ECN flags of our SYN or SYN-ACK. `first` is false for a SYN sent again after a
 * timeout: it falls back to no ECN (the SYN-ACK sent again keeps ECE, as Linux's does).
 * Returns whether an active open's SYN asked for ECN.
 */
export function markSyn(
  seg: TcpRepr,
  mode: EcnMode,
  active: boolean,
  first: boolean,
  agreed: boolean,
): boolean {
  if (active) {
    const ask = mode === 1 && first;
    seg.ece = ask;
    seg.cwr = ask;
    return ask;
  }
  seg.ece = agreed;
  seg.cwr = false;
  return false;
}

/** A connection's ECN state once agreed (RFC 3168 §6.1). */
export class EcnState {
  /**
   * Receiver: a CE-marked data segment arrived and no CWR since: every segment we send carries
   * ECE (§6.1.3; Linux's TCP_ECN_DEMAND_CWR).
   */
  echo = false;
  /** Sender: we reduced cwnd for an ECE; the next new data segment carries CWR (§6.1.2). */
  cwrDue = false;
  /**
   * Sender: SND.MAX when we last reduced cwnd for an ECE, or null. ECEs are ignored until SND.UNA
   * passes it (once per window, §6.1.2): until data sent after the cut, the first of it carrying
   * our CWR, is acknowledged (Linux holds its CWR state until snd_una is above high_seq, so that
   * the CWR has reached the receiver; at high_seq exactly, the ECEs still echo the old marks).
   */
  reducedUntil: number | null = null;

  /**
   * A segment passed the sequence check (RFC 9293 §3.10.7.4 first step). CWR ends the echo;
   * then a CE mark on data starts it (both on one segment: the echo goes on, §6.1.3), and the
   * ACK of a CE-marked segment goes at once (Linux enters quick-ACK mode for it). Returns true
   * when an ACK is owed now.
   */
  onSegment(ctx: ConnContext, seg: TcpRepr): boolean {
    if (seg.cwr && seg.control !== 'syn') this.echo = false;
    if (seg.ipEcn !== IpEcn.Ce || seg.payload.length === 0) return false;
    ctx.count('ecn-ce-received');
    this.echo = true;
    return true;
  }

  /**
   * An acceptable ACK with ECE (§6.1.2): cut cwnd as for a loss, without retransmitting, at most
   * once per window of data and never while loss recovery already cut it for this window; and
   * the window does not grow on it ("SHOULD NOT increase the congestion window in response to an
   * ECN-Echo ACK"; Linux holds cwnd in its CWR state): back to `cwndBefore`, its value before the
   * ACK was applied. Runs after the ACK was applied (SND.UNA is the new one). `loss` is null with
   * nothing of ours in flight (see TcpConnection's #ecnControl). The cut is at once, or with the
   * option prr spread by PRR as Linux's CWR state (LossRecovery.ecnEcho), whose cwnd is PRR's
   * own while it lasts.
   */
  onEce(
    ctx: ConnContext,
    loss: Pick<LossRecovery, 'cc' | 'inRecovery' | 'inCwr' | 'ecnEcho'> | null,
    sndUna: number,
    sndMax: number,
    cwndBefore: number,
    now: number,
  ): void {
    ctx.count('ecn-ece-received');
    if (loss === null || loss.inRecovery) return;
    const cc = loss.cc;
    if (!loss.inCwr && cc.cwnd > cwndBefore) cc.cwnd = cwndBefore;
    if (this.reducedUntil !== null) {
      if (!seqGt(sndUna, this.reducedUntil)) return; // this window was cut already
      this.reducedUntil = null;
    }
    loss.ecnEcho(now, sndUna, sndMax);
    ctx.count('ecn-cwnd-reduced');
    this.reducedUntil = sndMax;
    this.cwrDue = true;
  }

  /**
   * A data segment goes out. New data gets ECT(0) in its IP header and, when a reduction is
   * to be announced, CWR (§6.1.2, §6.1.5); a retransmission gets neither.
   */
  markData(ctx: ConnContext, seg: TcpRepr, newData: boolean): void {
    if (newData) {
      seg.ipEcn = IpEcn.Ect0;
      if (this.cwrDue) {
        this.cwrDue = false;
        seg.cwr = true;
        ctx.count('ecn-cwr-sent');
      }
    }
  }

  /** An ACK, probe or data segment other than a SYN goes out: ECE while we echo (§6.1.3). */
  markAck(seg: TcpRepr): void {
    if (this.echo) seg.ece = true;
  }
}
