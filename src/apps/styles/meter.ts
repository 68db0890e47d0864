/**
 * What each connection style costs in TCP, read from the stack's own counters.
 *
 * Each style is served on its own port (src/apps/styles/index.ts), so a browser keeps a
 * separate connection pool per style and a connection belongs to exactly one style: the one
 * whose port is its local port. A style's totals are the rows of `stack.connections()` on its
 * port (live connections, TIME_WAIT included) plus the final rows of those that have left the
 * table (`stack.tcp.onConnectionGone`), so a closed connection's last FIN and ACK still count.
 * Every 4-tuple is in exactly one of the two at any moment, so nothing is counted twice.
 */
import type { Stack } from '../../stack/stack.ts';
import type { TcpConnectionRow } from '../../stack/tcp.ts';

/** One style's TCP cost since the demo started. */
export interface StyleTotals {
  port: number;
  /** Connections seen (accepted) on the port. */
  connections: number;
  /** Of which still in the table (ESTABLISHED, CLOSE_WAIT, TIME_WAIT, ...). */
  open: number;
  segsIn: number;
  segsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  /** The live connections: "remoteAddr:remotePort" and state. */
  live: { remote: string; state: string }[];
  /** The most recent connections gone from the table, newest last (at most RECENT_GONE). */
  gone: { remote: string; state: string; segsIn: number; segsOut: number }[];
}

/** Closed connections listed per style (their counts are all in the totals). */
export const RECENT_GONE = 8;

interface Ledger {
  port: number;
  connections: number;
  segsIn: number;
  segsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  gone: StyleTotals['gone'];
}

export class StyleMeter<S extends string> {
  readonly #stack: Stack;
  readonly #byPort = new Map<number, Ledger>();
  readonly #byStyle = new Map<S, Ledger>();
  readonly #stop: () => void;

  /** `ports`: the port of each style; every port must differ. */
  constructor(stack: Stack, ports: Readonly<Record<S, number>>) {
    this.#stack = stack;
    for (const [style, port] of Object.entries(ports) as [S, number][]) {
      if (this.#byPort.has(port)) throw new RangeError(`StyleMeter: port ${port} used twice`);
      const ledger: Ledger = {
        port,
        connections: 0,
        segsIn: 0,
        segsOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        retransmits: 0,
        gone: [],
      };
      this.#byPort.set(port, ledger);
      this.#byStyle.set(style, ledger);
    }
    this.#stop = stack.tcp.onConnectionGone((row) => this.#gone(row));
  }

  /** Totals per style: the closed connections' final counts plus the live rows now. */
  totals(): Record<S, StyleTotals> {
    const out = {} as Record<S, StyleTotals>;
    const byPort = new Map<number, StyleTotals>();
    for (const [style, l] of this.#byStyle) {
      const t: StyleTotals = {
        port: l.port,
        connections: l.connections,
        open: 0,
        segsIn: l.segsIn,
        segsOut: l.segsOut,
        bytesIn: l.bytesIn,
        bytesOut: l.bytesOut,
        retransmits: l.retransmits,
        live: [],
        gone: [...l.gone],
      };
      out[style] = t;
      byPort.set(l.port, t);
    }
    for (const row of this.#stack.connections()) {
      if (row.state === 'LISTEN') continue;
      const t = byPort.get(localPort(row));
      if (t === undefined) continue;
      addRow(t, row);
      t.open++;
      t.live.push({ remote: row.remote, state: row.state });
    }
    return out;
  }

  close(): void {
    this.#stop();
  }

  #gone(row: TcpConnectionRow): void {
    const l = this.#byPort.get(localPort(row));
    if (l === undefined) return;
    addRow(l, row);
    l.gone.push({
      remote: row.remote,
      state: row.state,
      segsIn: row.segsReceived,
      segsOut: row.segsSent,
    });
    if (l.gone.length > RECENT_GONE) l.gone.shift();
  }
}

type Counts = Pick<
  StyleTotals,
  'connections' | 'segsIn' | 'segsOut' | 'bytesIn' | 'bytesOut' | 'retransmits'
>;

/** Count one connection's row into `to`. */
function addRow(to: Counts, row: TcpConnectionRow): void {
  to.connections++;
  to.segsIn += row.segsReceived;
  to.segsOut += row.segsSent;
  to.bytesIn += row.bytesReceived;
  to.bytesOut += row.bytesSent;
  to.retransmits += row.retransmits;
}

/** The port of a row's "address:port" local end. */
function localPort(row: TcpConnectionRow): number {
  return Number(row.local.slice(row.local.lastIndexOf(':') + 1));
}
