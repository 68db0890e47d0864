/**
 * Receive-side rules as pure functions: segment acceptability (RFC 9293 §3.10.7.4, "first, check
 * the sequence number") and the receive window with receiver-side silly window syndrome avoidance
 * (RFC 9293 §3.8.6.2.2).
 */
import { seqAdd, seqDiff, seqInRange, seqLt } from './seq.ts';

/**
 * The four acceptability tests of RFC 9293 §3.10.7.4:
 *
 *   len  wnd   test
 *   0    0     SEG.SEQ = RCV.NXT
 *   0    >0    RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
 *   >0   0     not acceptable
 *   >0   >0    RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
 *              or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
 */
export function isAcceptable(seq: number, len: number, rcvNxt: number, rcvWnd: number): boolean {
  const right = seqAdd(rcvNxt, rcvWnd);
  if (len === 0) return rcvWnd === 0 ? seq === rcvNxt : seqInRange(seq, rcvNxt, right);
  if (rcvWnd === 0) return false;
  return seqInRange(seq, rcvNxt, right) || seqInRange(seqAdd(seq, len - 1), rcvNxt, right);
}

/**
 * Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right window edge RCV.NXT + RCV.WND stays put
 * until it can move by at least min(Fr * RCV.BUFF, Eff.snd.MSS), Fr = 1/2. Returns the window
 * (bytes from rcvNxt) to offer now, never moving the previously advertised edge left.
 *
 * @param free       RCV.BUFF − RCV.USER: buffer space not holding unread data.
 * @param advRight   the right edge last advertised.
 */
export function receiveWindow(
  rcvNxt: number,
  advRight: number,
  free: number,
  rcvBuf: number,
  mss: number,
): number {
  const current = Math.max(0, seqDiff(advRight, rcvNxt));
  const threshold = Math.min(Math.floor(rcvBuf / 2), mss);
  return free - current >= threshold ? Math.max(free, current) : current;
}

/** The 16-bit window field for a window of `wnd` bytes under `shift`, rounded up so that the
 *  advertised right edge never retreats below `minRight` (RFC 9293 §3.8.6.2.2: do not shrink). */
export function windowField(rcvNxt: number, wnd: number, shift: number, minRight: number): number {
  let field = Math.min(Math.floor(wnd / 2 ** shift), 0xffff);
  if (seqLt(seqAdd(rcvNxt, field * 2 ** shift), minRight)) {
    field = Math.min(Math.ceil(Math.max(0, seqDiff(minRight, rcvNxt)) / 2 ** shift), 0xffff);
  }
  return field;
}
