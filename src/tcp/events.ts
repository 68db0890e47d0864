/**
 * What a connection tells its user, as values (STYLE.md: events after, never during).
 *
 * The core appends events while it processes input or fires timers; the caller drains them with
 * `takeEvents()` once the call has returned, so no user code ever runs inside the state machine.
 */

/** Node-shaped error codes a connection can end with. */
export type TcpErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EPIPE'
  /**
   * From an ICMP destination unreachable (TcpConnection.icmpError): at once for a hard one in
   * SYN_SENT, else (a soft one) instead of ETIMEDOUT should the connection time out.
   */
  | IcmpErrorCode;

/** What Linux makes of ICMP destination unreachables for TCP (icmp_err_convert, tab_unreach). */
export type IcmpErrorCode =
  | 'ECONNREFUSED'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'ENOPROTOOPT'
  | 'EACCES';

export type TcpEvent =
  /** The three-way handshake completed (ESTABLISHED). */
  | { type: 'connected' }
  /** In-order bytes from the peer (only while the connection is flowing, see `setFlowing`). */
  | { type: 'data'; data: Uint8Array }
  /** The peer's FIN arrived after all its data: no more data will come. */
  | { type: 'fin' }
  /** The send buffer, after being full, is at least half empty again. */
  | { type: 'drain' }
  /** The connection failed; a `closed` event follows. EPIPE alone does not close. */
  | { type: 'error'; code: TcpErrorCode }
  /**
   * The connection is over for its user: it reached CLOSED, or TIME_WAIT (where only the 4-tuple
   * lingers for 2*MSL). Emitted once.
   */
  | { type: 'closed' };
