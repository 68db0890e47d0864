/**
 * A ladder as fixed-width text: the opener's lifeline on the left, its peer's on the right, time
 * downward. Each row is one segment; the time column is seconds since the connection's first
 * segment, and a state is printed beside its end on the row where it changes.
 *
 *                 10.0.0.1:40000                                              10.0.0.2:80
 *           CLOSED       |                                                          | LISTEN
 *  0.000000 SYN_SENT     |--- SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7> --->| SYN_RECEIVED
 *  0.000125 ESTABLISHED  |<-- SYN/ACK seq=0 ack=1 win=65160 <mss 1460,…> ----------|
 *  0.000375              |--- ACK seq=1 ack=1 win=64256 --------------------------->| ESTABLISHED
 */
import { type Ladder, type LadderRow, rowLabel } from './ladder.ts';
import type { ConnectionSummary, Endpoint } from './segments.ts';

/** Wide enough for the longest state name, SYN_RECEIVED. */
const STATE_WIDTH = 12;
/** The narrowest arrow, so that short ladders still look like ladders. */
const MIN_ARROW_WIDTH = 40;

export interface TextOptions {
  /** Draw at most this many rows, then say how many were left out. Default: all. */
  maxRows?: number;
}

/**
 * The largest f(x), at least `floor`. A loop, not Math.max(...xs): spreading a capture's worth of
 * rows as arguments overflows the stack.
 */
export function maxOf<T>(xs: readonly T[], f: (x: T) => number, floor: number): number {
  let m = floor;
  for (const x of xs) m = Math.max(m, f(x));
  return m;
}

export function endpointText(e: Endpoint): string {
  return e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`;
}

/** Seconds with microsecond digits, as Wireshark's relative time. */
export function secondsText(ms: number): string {
  return (ms / 1000).toFixed(6);
}

export function renderText(ladder: Ladder, options: TextOptions = {}): string {
  const shown = ladder.rows.slice(0, options.maxRows ?? ladder.rows.length);
  const labels = shown.map(rowLabel);
  const arrowWidth = maxOf(labels, (l) => l.length + 7, MIN_ARROW_WIDTH);
  const times = shown.map((r) => secondsText(r.at));
  const timeWidth = maxOf(times, (t) => t.length, 8);
  const lifelineA = timeWidth + 1 + STATE_WIDTH + 1;
  const lifelineB = lifelineA + 1 + arrowWidth;

  const lines: string[] = [];
  lines.push(headerLine(endpointText(ladder.a), lifelineA, endpointText(ladder.b), lifelineB));
  lines.push(row('', ladder.initialA, ' '.repeat(arrowWidth), ladder.initialB));
  let stateA = ladder.initialA;
  let stateB = ladder.initialB;
  shown.forEach((r: LadderRow, i) => {
    const arrow =
      r.from === 'a' ? rightArrow(labels[i], arrowWidth) : leftArrow(labels[i], arrowWidth);
    lines.push(
      row(
        times[i],
        r.stateA !== stateA ? r.stateA : '',
        arrow,
        r.stateB !== stateB ? r.stateB : '',
      ),
    );
    stateA = r.stateA;
    stateB = r.stateB;
  });
  const hidden = ladder.rows.length - shown.length;
  if (hidden > 0) lines.push(`… ${hidden} more segment${hidden === 1 ? '' : 's'} not drawn`);
  for (const note of ladder.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;

  function row(time: string, left: string, arrow: string, right: string): string {
    const line = `${time.padStart(timeWidth)} ${left.padEnd(STATE_WIDTH)} |${arrow}| ${right}`;
    return line.trimEnd();
  }
}

/** `--- label ----->`: the label starts four columns in, as on leftArrow. */
function rightArrow(label: string, width: number): string {
  return `--- ${label} ${'-'.repeat(width - label.length - 6)}>`;
}

/** `<-- label ------`. */
function leftArrow(label: string, width: number): string {
  return `<-- ${label} ${'-'.repeat(width - label.length - 5)}`;
}

/** The two endpoint names, each centred over its lifeline (never overlapping). */
function headerLine(a: string, colA: number, b: string, colB: number): string {
  const startA = Math.max(0, colA - Math.floor(a.length / 2));
  const startB = Math.max(startA + a.length + 2, colB - Math.floor(b.length / 2));
  return `${' '.repeat(startA)}${a}${' '.repeat(startB - startA - a.length)}${b}`;
}

/** `--list`: one line per connection. */
export function renderList(summaries: readonly ConnectionSummary[]): string {
  const header = ['#', 'opener', 'peer', 'packets', 'bytes', 'data →', 'data ←', 'duration'];
  const cells = summaries.map((s) => [
    String(s.id),
    endpointText(s.a),
    endpointText(s.b),
    String(s.packets),
    String(s.bytes),
    String(s.dataAtoB),
    String(s.dataBtoA),
    `${secondsText(s.durationMs)} s`,
  ]);
  const widths = header.map((h, i) => maxOf(cells, (c) => c[i].length, h.length));
  // Numbers right-aligned, addresses left-aligned.
  const leftAligned = new Set([1, 2]);
  const fmt = (c: string[]): string =>
    c
      .map((v, i) => (leftAligned.has(i) ? v.padEnd(widths[i]) : v.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[fmt(header), ...cells.map(fmt)].join('\n')}\n`;
}
