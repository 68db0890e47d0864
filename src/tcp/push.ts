/**
 * The user's say in when data goes and how it is flagged: TCP_CORK and MSG_MORE (Corking), and
 * Linux's PSH marking (LinuxPsh, with the marks the send buffer keeps).
 *
 * Corking: holding a partial segment back on the user's word, as Linux has it (tp->nonagle's
 * CORK and PUSH bits, tcp_push, __tcp_sock_set_cork, __tcp_sock_set_nodelay).
 *
 * - TCP_CORK on: full-sized segments go, a partial one waits (whatever Nagle says) until the
 *   cork comes off, TCP_NODELAY is set, the FIN follows it, or the persist timer fires with
 *   nothing in flight (Linux's probe timer, one RTO: tcp_write_wakeup sends it with PSH).
 * - A send with MSG_MORE: the same hold for that call's own output only; the next ACK sends by
 *   the socket's usual rules (Linux's tcp_data_snd_check uses tp->nonagle), and so does a send
 *   without MSG_MORE.
 * - Uncorking with TCP_NODELAY on, or setting TCP_NODELAY, lets the partial segment go at once,
 *   cork or Nagle notwithstanding, until the next write (Linux's TCP_NAGLE_PUSH, cleared when a
 *   write starts a new skb).
 *
 * Made on first use (setsockopt or a send with MSG_MORE): most connections never have one.
 */
export class Corking {
  /** TCP_CORK is on. */
  corked = false;
  /** The last send had MSG_MORE and no ACK has come since. */
  #more = false;
  /** A push was asked for (uncork with TCP_NODELAY, or TCP_NODELAY set): send the partial. */
  #push = false;

  /** A send call; `more`: it had MSG_MORE. */
  write(more: boolean): void {
    this.#more = more;
    this.#push = false;
  }

  /** An ACK arrived: output follows the socket's own rules again (MSG_MORE held one call only). */
  ackArrived(): void {
    this.#more = false;
  }

  /** TCP_CORK set or cleared; `noDelay`: TCP_NODELAY is on. */
  setCork(on: boolean, noDelay: boolean): void {
    this.corked = on;
    if (!on) {
      this.#more = false;
      if (noDelay) this.#push = true;
    }
  }

  /** TCP_NODELAY set (true) or cleared. */
  setNoDelay(on: boolean): void {
    if (on) {
      this.#push = true;
      this.#more = false;
    }
  }

  /** A partial segment must wait (full ones and a closing FIN still go). */
  get holds(): boolean {
    return !this.#push && (this.corked || this.#more);
  }

  /** A partial segment may go whatever Nagle's algorithm says. */
  get pushes(): boolean {
    return this.#push;
  }
}

/**
 * Which data segments carry PSH when the connection marks them as Linux does (option psh
 * 'linux'). Linux sets PSH on an skb when a write ends (tcp_push; not with MSG_MORE), and since
 * 5.6 on every TSO packet of two segments or more as it goes out ("tcp: force a PSH flag on TSO
 * packets", a hint to the receiver's GRO). At the rates of packetdrill's scripts its TSO
 * autosizing makes packets of two segments (net.ipv4.tcp_min_tso_segs): so a burst of new data
 * goes out in pairs, each pair flagged, a lone segment only at a write's end. A pair is two
 * contiguous segments of one burst (sent at the same time, with no ACK or write between them:
 * newBurst) with no write's end between them.
 * A retransmission goes by the skbs of the first transmission: flagged at a write's end, or when
 * it resends both segments of an original pair together (the send buffer remembers where pairs
 * ended). Seen on Linux 6.18 with packetdrill. A probe of held data (tcp_write_wakeup) is always
 * flagged; the caller sees to that.
 */
export class LinuxPsh {
  /** The last data segment: where it ended and when it went. */
  #end = 0;
  #at = Number.NaN;
  /** The last segment was new data that opened a pair. */
  #opened = false;
  /** The last new-data segment closed a pair (the caller records where it ended). */
  closedPair = false;

  /**
   * The new-data segment [seq, end) goes at `now`; `markedStart`/`markedEnd`: a write ends at
   * its first / last byte's boundary. Returns whether it carries PSH.
   */
  newData(
    now: number,
    seq: number,
    end: number,
    markedStart: boolean,
    markedEnd: boolean,
  ): boolean {
    const closes = this.#opened && this.#follows(now, seq) && !markedStart;
    this.#opened = !closes && !markedEnd;
    this.closedPair = closes;
    this.#went(now, end);
    return closes || markedEnd;
  }

  /**
   * The retransmission [seq, end) goes at `now`; `pairStart`/`pairEnd`: an original pair ended
   * at its first / last byte's boundary. Returns whether it carries PSH.
   */
  retransmission(
    now: number,
    seq: number,
    end: number,
    markedStart: boolean,
    markedEnd: boolean,
    pairStart: boolean,
    pairEnd: boolean,
  ): boolean {
    const closes = pairEnd && !pairStart && !markedStart && this.#follows(now, seq);
    this.#opened = false;
    this.closedPair = false;
    this.#went(now, end);
    return closes || markedEnd;
  }

  /**
   * An ACK arrived or the user wrote: what goes next is a new burst (Linux sends from
   * tcp_data_snd_check or tcp_push, a new call of tcp_write_xmit), so no pair spans it.
   */
  newBurst(): void {
    this.#opened = false;
    this.#at = Number.NaN;
  }

  #follows(now: number, seq: number): boolean {
    return this.#end === seq && this.#at === now;
  }

  #went(now: number, end: number): void {
    this.#end = end;
    this.#at = now;
  }
}
