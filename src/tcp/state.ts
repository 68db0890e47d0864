/**
 * The connection states of RFC 9293 §3.3.2, spelled as the RFC spells them.
 *
 * LISTEN belongs to TcpListener (src/tcp/listener.ts): a TcpConnection starts in SYN_SENT (active
 * open), SYN_RECEIVED (created by a listener from a SYN) or CLOSED, and ends in CLOSED.
 */
export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT';

/** Every state, in RFC 9293 §3.3.2's order. */
export const TCP_STATES: readonly TcpState[] = Object.freeze([
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RECEIVED',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
]);

/** States in which both sequence spaces are known ("synchronized", RFC 9293 §3.5.2). */
export function isSynchronized(s: TcpState): boolean {
  return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN_SENT' && s !== 'SYN_RECEIVED';
}

/** States in which received text is delivered (RFC 9293 §3.10.7.4, "seventh, process the segment text"). */
export function canReceive(s: TcpState): boolean {
  return s === 'ESTABLISHED' || s === 'FIN_WAIT_1' || s === 'FIN_WAIT_2';
}

/** States in which the user may still queue data to send (our FIN not yet queued). */
export function canSend(s: TcpState): boolean {
  return s === 'SYN_SENT' || s === 'SYN_RECEIVED' || s === 'ESTABLISHED' || s === 'CLOSE_WAIT';
}
