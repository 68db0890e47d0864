/**
 * A ladder as an SVG picture, written by hand (no dependency): two vertical lifelines, one arrow
 * per segment with its label above it, each end's state beside its lifeline where it changes, and
 * the time since the first segment on the far left. Retransmissions are drawn dashed, resets red.
 *
 * Every row has the same height: time runs downward in order, not to scale.
 */
import { type Ladder, rowLabel } from './ladder.ts';
import { endpointText, maxOf, secondsText } from './render-text.ts';

/** Monospace at 12 px: about 7.2 px a character; the layout allows 7.5. */
const CHAR_W = 7.5;
const ROW_H = 34;
const TOP = 74;
const TIME_W = 84;
const STATE_W = 12 * CHAR_W + 16;
const MIN_ARROW_W = 360;

export interface SvgOptions {
  /** Draw at most this many rows. Default: all. */
  maxRows?: number;
}

export function renderSvg(ladder: Ladder, options: SvgOptions = {}): string {
  const rows = ladder.rows.slice(0, options.maxRows ?? ladder.rows.length);
  const labels = rows.map(rowLabel);
  const arrowW = maxOf(labels, (l) => l.length * CHAR_W + 40, MIN_ARROW_W);
  const xA = TIME_W + STATE_W;
  const xB = xA + arrowW;
  const width = Math.ceil(xB + STATE_W + 8);
  const bottom = TOP + rows.length * ROW_H;
  const hidden = ladder.rows.length - rows.length;
  const footer = [
    ...(hidden > 0 ? [`… ${hidden} more segments not drawn`] : []),
    ...ladder.notes.map((n) => `note: ${n}`),
  ];
  const height = bottom + 16 + footer.length * 16;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    '<style>',
    'text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; fill: #222; }',
    '.end { font-weight: bold; font-size: 13px; }',
    '.state { fill: #1a5fb4; }',
    '.time { fill: #777; }',
    '.life { stroke: #999; stroke-width: 2; }',
    '.seg { stroke: #222; stroke-width: 1.2; }',
    '.retrans { stroke: #c64600; stroke-dasharray: 6 4; }',
    '.rst { stroke: #c01c28; }',
    'text.retrans, text.rst { stroke: none; fill: #c01c28; }',
    '</style>',
    '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker></defs>',
    '<rect width="100%" height="100%" fill="#fff"/>',
    text(xA, 20, 'middle', 'end', endpointText(ladder.a)),
    text(xB, 20, 'middle', 'end', endpointText(ladder.b)),
    `<line class="life" x1="${xA}" y1="30" x2="${xA}" y2="${bottom}"/>`,
    `<line class="life" x1="${xB}" y1="30" x2="${xB}" y2="${bottom}"/>`,
    text(xA - 8, TOP - 24, 'end', 'state', ladder.initialA),
    text(xB + 8, TOP - 24, 'start', 'state', ladder.initialB),
  );
  let stateA = ladder.initialA;
  let stateB = ladder.initialB;
  rows.forEach((r, i) => {
    const y = TOP + i * ROW_H + 14;
    const [x1, x2] = r.from === 'a' ? [xA, xB] : [xB, xA];
    const kind = r.flags.includes('RST') ? ' rst' : r.retransmission ? ' retrans' : '';
    out.push(
      `<line class="seg${kind}" x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" marker-end="url(#head)"/>`,
      text((xA + xB) / 2, y - 5, 'middle', `label${kind}`, labels[i]),
      text(TIME_W - 8, y + 4, 'end', 'time', secondsText(r.at)),
    );
    if (r.stateA !== stateA) out.push(text(xA - 8, y + 4, 'end', 'state', r.stateA));
    if (r.stateB !== stateB) out.push(text(xB + 8, y + 4, 'start', 'state', r.stateB));
    stateA = r.stateA;
    stateB = r.stateB;
  });
  footer.forEach((line, i) => {
    out.push(text(8, bottom + 20 + i * 16, 'start', 'time', line));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function text(x: number, y: number, anchor: string, cls: string, s: string): string {
  return `<text class="${cls}" x="${x}" y="${y}" text-anchor="${anchor}">${escapeXml(s)}</text>`;
}

/** The five characters XML reserves (XML 1.0 §2.4), so that labels like `<mss 1460>` survive. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
