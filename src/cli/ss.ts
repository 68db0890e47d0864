/**
 * `tunstack ss`: the stack's connection table, printed like `ss -tan` (and `-i` for the
 * per-connection counters).
 *
 * Two ways to see it:
 *  - `tunstack ss [--netns NAME]` asks the running `tunstack up` for that namespace over its
 *    control socket (/run/tunstack/NAME.sock, src/cli/control.ts) and prints the answer;
 *  - `kill -USR2 <pid of up>` makes the running process print the table to stderr itself
 *    (unless `up --stats-file` is given: then SIGUSR2 belongs to the benchmark's stats file).
 */
import type { Command } from 'commander';
import { formatStateHistory } from '../tcp/history.ts';
import type { CliCommand } from './command.ts';
import {
  CONTROL_DIR,
  type ControlHandlers,
  type ControlServer,
  controlPath,
  queryControl,
  serveControl,
} from './control.ts';
import type { Logger } from './logger.ts';
import { formatRelayFlows, type RelayAnswer } from './relay-ss.ts';

/** What ss reads from each row of stack.connections() (src/stack/tcp.ts TcpConnectionRow). */
export interface SsRow {
  /** The RFC 9293 name: 'LISTEN', 'ESTABLISHED', 'TIME_WAIT', ... */
  state: string;
  /** "address:port" */
  local: string;
  remote: string;
  recvQ: number;
  sendQ: number;
  /** ms, or null before the first sample. */
  srtt?: number | null;
  /** ms */
  rto?: number;
  /** bytes */
  cwnd?: number;
  /** The send MSS (bytes) and the path MTU to the peer, as ss's `mss:` and `pmtu:`. */
  mss?: number;
  pmtu?: number;
  retransmits?: number;
  recovery?: {
    timeouts: number;
    recoveries: number;
    tailLossProbes: number;
    recoveryProbes?: number;
    lostRetransmits: number;
  };
  bytesSent?: number;
  bytesReceived?: number;
  /** State changes, `at` in ms since the connection was created, oldest first. */
  history?: readonly { state: string; at: number }[];
  /** Present when ECN was agreed (RFC 3168), with its counters. */
  ecn?: { ceReceived: number; eceReceived: number; cwndReduced: number; cwrSent: number };
}

/** `ss`'s spelling of the RFC 9293 state names (iproute2 misc/ss.c sstate_name). */
const SS_STATE: Readonly<Record<string, string>> = {
  CLOSED: 'UNCONN',
  LISTEN: 'LISTEN',
  SYN_SENT: 'SYN-SENT',
  SYN_RECEIVED: 'SYN-RECV',
  ESTABLISHED: 'ESTAB',
  FIN_WAIT_1: 'FIN-WAIT-1',
  FIN_WAIT_2: 'FIN-WAIT-2',
  CLOSE_WAIT: 'CLOSE-WAIT',
  CLOSING: 'CLOSING',
  LAST_ACK: 'LAST-ACK',
  TIME_WAIT: 'TIME-WAIT',
};

export const ssState = (state: string): string => SS_STATE[state] ?? state;

export interface FormatOptions {
  /** Add ss -i's second line per connection: rto, rtt, cwnd, bytes, retransmits. */
  info?: boolean;
}

/** Split "a.b.c.d:port" at its last colon, for sorting. */
function endpoint(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1)) || 0];
}

/** Listeners first, then by local port, peer address and peer port: a stable order to read. */
function compareRows(a: SsRow, b: SsRow): number {
  const la = a.state === 'LISTEN' ? 0 : 1;
  const lb = b.state === 'LISTEN' ? 0 : 1;
  if (la !== lb) return la - lb;
  const [, ap] = endpoint(a.local);
  const [, bp] = endpoint(b.local);
  if (ap !== bp) return ap - bp;
  const [ra, rap] = endpoint(a.remote);
  const [rb, rbp] = endpoint(b.remote);
  return ra < rb ? -1 : ra > rb ? 1 : rap - rbp;
}

/**
 * A state history as `SYN-RECV@0ms>ESTAB@0.412ms>CLOSE-WAIT@5012ms`: ss's state names, each
 * with the time it was entered since the connection was created (to the µs, trailing zeros cut).
 */
export function formatHistory(h: readonly { state: string; at: number }[]): string {
  // ss calls a closed socket UNCONN; in a history, where a connection ended, CLOSED says it.
  return formatStateHistory(h, (s) => (s === 'CLOSED' ? 'CLOSED' : ssState(s)));
}

/** The `-i` line of one connection, in ss's vocabulary (times in ms, cwnd in bytes). */
function infoLine(r: SsRow): string {
  const parts: string[] = [];
  // Linux's ss prints `ecn` among the flags of a connection that negotiated it.
  if (r.ecn !== undefined) {
    parts.push('ecn');
    const e = r.ecn;
    if (e.ceReceived > 0) parts.push(`ecn_ce:${e.ceReceived}`);
    if (e.eceReceived > 0) parts.push(`ecn_ece:${e.eceReceived}`);
    if (e.cwndReduced > 0) parts.push(`ecn_reduced:${e.cwndReduced}`);
    if (e.cwrSent > 0) parts.push(`ecn_cwr:${e.cwrSent}`);
  }
  if (r.rto !== undefined) parts.push(`rto:${Math.round(r.rto)}`); // whole ms, as ss prints it
  if (r.srtt !== undefined && r.srtt !== null) parts.push(`rtt:${r.srtt.toFixed(3)}`);
  if (r.mss !== undefined) parts.push(`mss:${r.mss}`);
  if (r.pmtu !== undefined) parts.push(`pmtu:${r.pmtu}`);
  if (r.cwnd !== undefined) parts.push(`cwnd:${r.cwnd}`);
  if (r.bytesSent !== undefined) parts.push(`bytes_sent:${r.bytesSent}`);
  if (r.bytesReceived !== undefined) parts.push(`bytes_received:${r.bytesReceived}`);
  if (r.retransmits !== undefined) parts.push(`retrans:${r.retransmits}`);
  const rec = r.recovery;
  if (rec !== undefined) {
    if (rec.timeouts > 0) parts.push(`timeouts:${rec.timeouts}`);
    if (rec.recoveries > 0) parts.push(`recoveries:${rec.recoveries}`);
    if (rec.tailLossProbes > 0) parts.push(`tlp:${rec.tailLossProbes}`);
    if ((rec.recoveryProbes ?? 0) > 0) parts.push(`rprobe:${rec.recoveryProbes}`);
    if (rec.lostRetransmits > 0) parts.push(`lost_retrans:${rec.lostRetransmits}`);
  }
  if (r.history !== undefined && r.history.length > 0)
    parts.push(`hist:${formatHistory(r.history)}`);
  return `\t ${parts.join(' ')}`;
}

/** The table as `ss -tan` prints it (with `info`, as `ss -tani`). Ends with a newline. */
export function formatSs(rows: readonly SsRow[], options: FormatOptions = {}): string {
  const head = ['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port'];
  const sorted = [...rows].sort(compareRows);
  const cells = sorted.map((r) => [
    ssState(r.state),
    String(r.recvQ),
    String(r.sendQ),
    r.local,
    r.remote,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => (i === 1 || i === 2 ? x.padStart(widths[i]) : x.padEnd(widths[i])))
      .join(' ')
      .trimEnd();
  const out = [line(head)];
  sorted.forEach((r, i) => {
    out.push(line(cells[i]));
    if (options.info && r.state !== 'LISTEN') out.push(infoLine(r));
  });
  return `${out.join('\n')}\n`;
}

/**
 * For `tunstack up`: serve the connection table (and `more` questions, such as `packets`) on the
 * namespace's control socket, and print the table to stderr on SIGUSR2 unless `signal` is false.
 * close() undoes both.
 */
export async function attachSs(
  netns: string,
  connections: () => readonly SsRow[],
  logger: Logger,
  signal = true,
  more: ControlHandlers = {},
): Promise<{ readonly path: string | null; close(): Promise<void> }> {
  let control: ControlServer | null = null;
  try {
    control = await serveControl(controlPath(netns), { ...more, connections }, logger);
    if (control) logger.info({ path: control.path }, 'control socket: try `tunstack ss`');
  } catch (err) {
    logger.warn({ err }, 'no control socket: `tunstack ss` will not reach this stack');
  }
  const onUsr2 = () => process.stderr.write(formatSs(connections(), { info: true }));
  if (signal) process.on('SIGUSR2', onUsr2);
  return {
    /** The control socket this stack made (its 'exit' hook removes it), or null. */
    path: control?.path ?? null,
    close: async () => {
      process.off('SIGUSR2', onUsr2);
      await control?.close();
    },
  };
}

async function ssAction(raw: { netns: string; info?: boolean; json?: boolean; dir: string }) {
  try {
    const rows = (await queryControl(controlPath(raw.netns, raw.dir), 'connections')) as SsRow[];
    process.stdout.write(
      raw.json ? `${JSON.stringify(rows, null, 1)}\n` : formatSs(rows, { info: raw.info }),
    );
    // A `tunstack relay` answers `relay` too: its flows with both sides (a plain stack does not).
    const relay = (await queryControl(controlPath(raw.netns, raw.dir), 'relay').catch(
      () => null,
    )) as RelayAnswer | null;
    if (relay !== null && !raw.json) process.stdout.write(`\n${formatRelayFlows(relay)}`);
  } catch (err) {
    process.stderr.write(`tunstack ss: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

export const ssCommand: CliCommand = {
  name: 'ss',
  register(program: Command): void {
    program
      .command('ss')
      .description("print a running stack's TCP connections, like ss -tan")
      .option('--netns <name>', 'the namespace given to `tunstack up`', 'tunstack')
      .option(
        '-i, --info',
        'add rto, rtt (ms), send MSS and path MTU, cwnd (bytes), bytes, retransmits and state history per connection',
      )
      .option('--json', 'print the rows as JSON')
      .option('--dir <path>', 'where the control sockets are', CONTROL_DIR)
      .action(ssAction);
  },
};
