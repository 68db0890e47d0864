/**
 * Replies made without a connection: the RST for a segment that reaches no connection
 * (RFC 9293 §3.10.7.1, "If the state is CLOSED").
 */
import { NO_OPTIONS, segmentLength, type TcpRepr } from '../wire/tcp-repr.ts';
import { seqAdd } from './seq.ts';

const EMPTY = new Uint8Array(0);

/**
 * The reset for `seg`, or null when `seg` is itself a reset (never answer an RST):
 *  - ACK set:   <SEQ=SEG.ACK><CTL=RST>
 *  - ACK clear: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
 * Ports are swapped: the reply goes back to the sender.
 */
export function resetFor(seg: TcpRepr): TcpRepr | null {
  if (seg.control === 'rst') return null;
  // RFC 9293 §3.10.7.1: the reset's form depends on whether the segment carried an ACK.
  const noAck = seg.ack === null;
  return {
    srcPort: seg.dstPort,
    dstPort: seg.srcPort,
    control: 'rst',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq: noAck ? 0 : (seg.ack as number),
    ack: noAck ? seqAdd(seg.seq, segmentLength(seg)) : null,
    window: 0,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: EMPTY,
  };
}
