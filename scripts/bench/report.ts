/**
 * The bench's report: a table on stdout, the whole run as JSON, and an SVG plot written by hand
 * (bars per system for throughput, latency and connection rate, on log scales because the
 * systems differ by orders of magnitude).
 */
import { METRICS, type Measurement, type MetricDef, type MetricId, type Unit } from './metrics.ts';
import { MAIN_SYSTEMS, RELAY_SYSTEMS, type SystemName } from './systems.ts';

export interface SystemResult {
  name: SystemName;
  description: string;
  /** The serving process, e.g. `tcpserve (pid 1234)`. */
  server: string | null;
  /** Why the system could not be set up (all its metrics are then n/a). */
  setupError: string | null;
  metrics: Partial<Record<MetricId, Measurement>>;
  seconds: number;
}

export interface Ratios {
  tunstackOverKernel: number | null;
  tunstackOverBridge: number | null;
  bridgeOverKernel: number | null;
  /** tunstack-plain/bridge: one MTU-sized packet per read()/write() on both sides of the TUN. */
  plainOverBridge: number | null;
  /**
   * A metric measured over IPv6 (MetricDef.ipv4): each system's IPv6 value over its own IPv4
   * value in the same run (issue 12's goal for tunstack: at least 0.90), paired by round
   * (pairedRatio).
   */
  v6OverV4?: Partial<Record<SystemName, number | null>>;
}

/** The relay section's ratios (issue 13's goals: throughput ≥ slirp4netns's, rr ≤ 2× pasta's). */
export interface RelayRatios {
  relayOverKernel: number | null;
  relayOverSlirp4netns: number | null;
  relayOverPasta: number | null;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  host: Record<string, string | number>;
  options: Record<string, unknown>;
  /** What each metric id means: label, unit, which way is better. */
  metrics: readonly MetricDef[];
  systems: SystemResult[];
  ratios: Partial<Record<MetricId, Ratios>>;
  /** The relay section's metrics: relay over kernel, slirp4netns and pasta. */
  relayRatios?: Partial<Record<MetricId, RelayRatios>>;
}

/** Is `def` a metric of the relay section? */
const isRelayMetric = (def: MetricDef): boolean => def.section === 'relay';

export const measuredValue = (m: Measurement | undefined): number | null =>
  m && 'value' in m && Number.isFinite(m.value) ? m.value : null;

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

/**
 * The median of the rounds that produced a number (the upper median for an even count); the
 * rounds' values and details are kept. All rounds n/a: the first reason.
 */
export function combineRounds(rounds: readonly Measurement[]): Measurement {
  const measured = rounds.filter((m): m is { value: number; detail?: unknown } => 'value' in m);
  if (measured.length === 0) return rounds[0] ?? { na: 'not run' };
  if (rounds.length === 1) return rounds[0];
  const sorted = [...measured].sort((a, b) => a.value - b.value);
  const median = sorted[Math.floor(sorted.length / 2)];
  return {
    value: median.value,
    detail: { rounds: rounds.map((m) => ('value' in m ? m.value : m)), median: median.detail },
  };
}

/**
 * tunstack/kernel, tunstack/bridge, bridge/kernel and tunstack-plain/bridge for every metric
 * (plain quotients).
 */
export function computeRatios(systems: readonly SystemResult[]): Partial<Record<MetricId, Ratios>> {
  const get = (name: SystemName, id: MetricId): number | null =>
    measuredValue(systems.find((s) => s.name === name)?.metrics[id]);
  const out: Partial<Record<MetricId, Ratios>> = {};
  for (const def of METRICS) {
    const k = get('kernel', def.id);
    const b = get('bridge', def.id);
    const t = get('tunstack', def.id);
    const p = get('tunstack-plain', def.id);
    out[def.id] = {
      tunstackOverKernel: ratio(t, k),
      tunstackOverBridge: ratio(t, b),
      bridgeOverKernel: ratio(b, k),
      plainOverBridge: ratio(p, b),
    };
    const v4 = (def as MetricDef).ipv4 as MetricId | undefined;
    if (v4 !== undefined) {
      const of = (name: SystemName, id: MetricId) =>
        systems.find((s) => s.name === name)?.metrics[id];
      out[def.id]!.v6OverV4 = Object.fromEntries(
        MAIN_SYSTEMS.map((name) => [name, pairedRatio(of(name, def.id), of(name, v4))]),
      );
    }
  }
  return out;
}

/** The rounds' values of a combined measurement (combineRounds), null for an n/a round. */
function roundValues(m: Measurement | undefined): (number | null)[] | null {
  const rounds = m && 'value' in m ? (m.detail as { rounds?: unknown } | undefined)?.rounds : null;
  if (!Array.isArray(rounds)) return null;
  return rounds.map((r) => (typeof r === 'number' && Number.isFinite(r) ? r : null));
}

/**
 * a/b for two measurements of one system in one run: with rounds on both sides, the median of
 * each round's quotient (the upper median for an even count), since round i of a and round i of
 * b ran moments apart, under the same load, while the machine's load moves single rounds by up
 * to 3× between rounds; the quotient of the medians otherwise (one round, or rounds missing).
 */
export function pairedRatio(a: Measurement | undefined, b: Measurement | undefined): number | null {
  const ra = roundValues(a);
  const rb = roundValues(b);
  if (ra !== null && rb !== null && ra.length === rb.length) {
    const q = ra
      .map((x, i) => ratio(x, rb[i]))
      .filter((x): x is number => x !== null)
      .sort((x, y) => x - y);
    if (q.length > 0) return q[Math.floor(q.length / 2)];
  }
  return ratio(measuredValue(a), measuredValue(b));
}

/** relay/kernel, relay/slirp4netns and relay/pasta for every metric of the relay section. */
export function computeRelayRatios(
  systems: readonly SystemResult[],
): Partial<Record<MetricId, RelayRatios>> {
  const get = (name: SystemName, id: MetricId): number | null =>
    measuredValue(systems.find((s) => s.name === name)?.metrics[id]);
  const out: Partial<Record<MetricId, RelayRatios>> = {};
  for (const def of (METRICS as readonly MetricDef[]).filter(isRelayMetric)) {
    const id = def.id as MetricId;
    const r = get('relay', id);
    out[id] = {
      relayOverKernel: ratio(r, get('kernel', id)),
      relayOverSlirp4netns: ratio(r, get('slirp4netns', id)),
      relayOverPasta: ratio(r, get('pasta', id)),
    };
  }
  return out;
}

/** A value with its unit scaled for reading: 9.41 Gbit/s, 56.1 µs, 812 B/conn. */
export function formatValue(value: number, unit: Unit): string {
  const sig = (x: number): string =>
    x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  switch (unit) {
    // Scaled up where three digits would round to 1000 (999.96 µs reads 1.00 ms, not 1000 µs).
    case 'bit/s':
      if (value >= 999.5e6) return `${sig(value / 1e9)} Gbit/s`;
      if (value >= 999.5e3) return `${sig(value / 1e6)} Mbit/s`;
      return `${sig(value / 1e3)} kbit/s`;
    case 'us':
      return value >= 999.5 ? `${sig(value / 1000)} ms` : `${sig(value)} µs`;
    case 'ms':
      return value < 0.9995 ? `${sig(value * 1000)} µs` : `${sig(value)} ms`;
    case 'conn/s':
      return `${sig(value)} conn/s`;
    case 'B/conn':
      return value >= 10_000 ? `${sig(value / 1024)} KiB/conn` : `${sig(value)} B/conn`;
    case 'B/100k': {
      // Growth, so it may be negative (the heap shrank): scale by the magnitude.
      const a = Math.abs(value);
      const sign = value < 0 ? '−' : '';
      if (a >= 2 ** 20) return `${sign}${sig(a / 2 ** 20)} MiB/100k`;
      if (a >= 10_240) return `${sign}${sig(a / 1024)} KiB/100k`;
      return `${sign}${a.toFixed(0)} B/100k`;
    }
    case '%':
      return `${sig(value)} %`;
    case 'conns':
      return `${value.toFixed(0)}`;
  }
}

const formatRatio = (r: number | null): string =>
  r === null
    ? ''
    : r >= 10
      ? `${r.toFixed(1)}×`
      : r >= 0.1
        ? `${r.toFixed(2)}×`
        : `${r.toPrecision(2)}×`;

const BETTER_MARK: Record<MetricDef['better'], string> = { higher: '↑', lower: '↓', none: '' };

/** A table: a header, a rule, then the rows, the first column left-aligned. */
function layout(rows: readonly string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

/** The metrics of one section that some system measured (--tests may leave rows out). */
function ranIn(systems: readonly SystemResult[], relay: boolean): MetricDef[] {
  return (METRICS as readonly MetricDef[]).filter(
    (def) =>
      isRelayMetric(def) === relay &&
      systems.some((s) => s.metrics[def.id as MetricId] !== undefined),
  );
}

const valueCell = (s: SystemResult, def: MetricDef): string => {
  const v = measuredValue(s.metrics[def.id as MetricId]);
  return v === null ? 'n/a' : formatValue(v, def.unit);
};

const metricCell = (def: MetricDef): string => `${def.label} ${BETTER_MARK[def.better]}`.trimEnd();

/** The main section's table: its systems as columns, the ratios tunstack/kernel and others. */
function mainTable(result: BenchResult, ran: readonly MetricDef[]): string[] {
  // A system of the relay section only (relay, slirp4netns, pasta) has no column here; kernel
  // has, when it ran a main test.
  const relayOnly = (s: SystemResult): boolean =>
    ran.every((d) => !(d.id in s.metrics)) &&
    (METRICS as readonly MetricDef[]).some((d) => isRelayMetric(d) && d.id in s.metrics);
  const systems = result.systems.filter(
    (s) => MAIN_SYSTEMS.includes(s.name) && !(s.name === 'kernel' && relayOnly(s)),
  );
  const has = (name: SystemName): boolean => systems.some((s) => s.name === name);
  const header = [
    'metric',
    ...systems.map((s) => s.name),
    ...(has('tunstack') ? ['tunstack/kernel', 'tunstack/bridge'] : []),
    ...(has('bridge') && has('kernel') ? ['bridge/kernel'] : []),
    ...(has('bridge') && has('tunstack-plain') ? ['plain/bridge'] : []),
    // The IPv6 rows: each one over its IPv4 row, same system, same run.
    ...(ran.some((d) => d.ipv4 !== undefined)
      ? (['tunstack', 'kernel'] as const).filter(has).map((n) => `${n} v6/v4`)
      : []),
  ];
  const rows: string[][] = [header];
  for (const def of ran) {
    const r = result.ratios[def.id as MetricId];
    const row = [metricCell(def), ...systems.map((s) => valueCell(s, def))];
    if (header.includes('tunstack/kernel')) {
      row.push(
        formatRatio(r?.tunstackOverKernel ?? null),
        formatRatio(r?.tunstackOverBridge ?? null),
      );
    }
    if (header.includes('bridge/kernel')) row.push(formatRatio(r?.bridgeOverKernel ?? null));
    if (header.includes('plain/bridge')) row.push(formatRatio(r?.plainOverBridge ?? null));
    for (const name of ['tunstack', 'kernel'] as const) {
      if (header.includes(`${name} v6/v4`)) row.push(formatRatio(r?.v6OverV4?.[name] ?? null));
    }
    rows.push(row);
  }
  return layout(rows);
}

/** The relay section's table: kernel, relay, slirp4netns, pasta, and relay over each. */
function relayTable(result: BenchResult, ran: readonly MetricDef[]): string[] {
  const systems = result.systems.filter(
    (s) => RELAY_SYSTEMS.includes(s.name) && ran.some((d) => d.id in s.metrics),
  );
  const has = (name: SystemName): boolean => systems.some((s) => s.name === name);
  const ratios = has('relay')
    ? (
        [
          ['kernel', 'relay/kernel', 'relayOverKernel'],
          ['slirp4netns', 'relay/slirp4netns', 'relayOverSlirp4netns'],
          ['pasta', 'relay/pasta', 'relayOverPasta'],
        ] as const
      ).filter(([name]) => has(name))
    : [];
  const header = ['relay section', ...systems.map((s) => s.name), ...ratios.map(([, h]) => h)];
  const relayRatios = result.relayRatios ?? computeRelayRatios(result.systems);
  const rows: string[][] = [header];
  for (const def of ran) {
    const r = relayRatios[def.id as MetricId];
    rows.push([
      metricCell(def),
      ...systems.map((s) => valueCell(s, def)),
      ...ratios.map(([, , key]) => formatRatio(r?.[key] ?? null)),
    ]);
  }
  return layout(rows);
}

/** The table printed at the end of a run (the relay section's apart), then every n/a's reason. */
export function renderTable(result: BenchResult): string {
  const systems = result.systems;
  const ranMain = ranIn(systems, false);
  const ranRelay = ranIn(systems, true);
  const out: string[] = [];
  // The main table whenever it has a row or nothing ran at all (an empty table says so).
  if (ranMain.length > 0 || ranRelay.length === 0) out.push(...mainTable(result, ranMain));
  if (ranRelay.length > 0) {
    if (out.length > 0) out.push('');
    out.push(...relayTable(result, ranRelay));
  }

  const reasons: string[] = [];
  for (const s of systems) {
    if (s.setupError) {
      reasons.push(`${s.name}: setup failed: ${oneLine(s.setupError)}`);
      continue;
    }
    const byReason = new Map<string, string[]>();
    for (const def of METRICS) {
      const m = s.metrics[def.id];
      if (m === undefined || !('na' in m)) continue;
      const why = m.na;
      byReason.set(why, [...(byReason.get(why) ?? []), def.id]);
    }
    for (const [why, ids] of byReason) {
      reasons.push(`${s.name}: n/a ${ids.join(', ')}: ${oneLine(why)}`);
    }
  }
  out.push('', '↑ higher is better, ↓ lower is better; ratios are plain quotients of the values');
  if (ranMain.some((def) => def.ipv4 !== undefined)) {
    out.push(
      "IPv6 rows: the same transfer to fd00::2 from fd00::1; v6/v4: a system's IPv6 row over its " +
        "IPv4 row in this run, the median of the rounds' quotients (each IPv6 round runs right " +
        "after its IPv4 round); issue 12's goal: tunstack's at least 0.90",
    );
  }
  const delayMs = result.options.delayMs;
  if (ranMain.some((def) => def.id.startsWith('delay-')) && typeof delayMs === 'number') {
    out.push(
      `delay rows: every packet held ${delayMs} ms each way (${2 * delayMs} ms more round trip) ` +
        "by tunbridge or the stack's --impair, which turns offloads off (tunstack runs as " +
        'tunstack-plain there); the kernel has no netem',
    );
  }
  if (ranRelay.length > 0) {
    const mb = result.options.relayBytes;
    out.push(
      'relay section: the C clients in a client namespace given its network by each system from ' +
        'an egress namespace holding tcpserve (kernel: the clients in the egress namespace itself)' +
        (typeof mb === 'number' ? `; ${+(mb / 1e6).toFixed(1)} MB down and up` : '') +
        "; issue 13's goals: relay/slirp4netns ≥ 1 on throughput, relay/pasta ≤ 2 on rr",
    );
  }
  if (reasons.length > 0) out.push('', ...reasons);
  return out.join('\n');
}

/** A reason on one line of at most 200 characters (the JSON keeps the whole text). */
function oneLine(why: string): string {
  const flat = why.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

// ---------------------------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------------------------

const COLORS: Record<SystemName, string> = {
  kernel: '#4c78a8',
  bridge: '#f58518',
  tunstack: '#54a24b',
  'tunstack-plain': '#b79a20',
  relay: '#2e8b57',
  slirp4netns: '#9467bd',
  pasta: '#e45756',
};

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Panel {
  title: string;
  height: number;
  /** Axis unit after scaling: every value is divided by `scale`. */
  axisUnit: string;
  scale: number;
  metrics: { id: MetricId; label: string; toAxis?: (v: number) => number }[];
  /** Left out of a run whose tests measured none of its metrics (rather than "no data"). */
  optional?: boolean;
  /** A panel of the relay section: its systems' bars only (the others', elsewhere). */
  relay?: boolean;
}

const PANELS: Panel[] = [
  {
    title: 'Bulk throughput (higher is better)',
    height: 300,
    axisUnit: 'Mbit/s',
    scale: 1e6,
    metrics: [
      { id: 'bulk-up-1', label: 'up, 1 flow' },
      { id: 'bulk-up-4', label: 'up, 4 flows' },
      { id: 'bulk-down-1', label: 'down, 1 flow' },
      { id: 'bulk-down-4', label: 'down, 4 flows' },
      { id: 'loss-up-1', label: 'up, 5% loss' },
      { id: 'loss-down-1', label: 'down, 5% loss' },
      { id: 'loss1-up-1', label: 'up, 1% loss' },
      { id: 'loss1-down-1', label: 'down, 1% loss' },
      { id: 'loss10-up-1', label: 'up, 10% loss' },
      { id: 'loss10-down-1', label: 'down, 10% loss' },
    ],
  },
  {
    title: 'Bulk throughput over IPv6 (higher is better)',
    height: 260,
    optional: true,
    axisUnit: 'Mbit/s',
    scale: 1e6,
    metrics: [
      { id: 'bulk6-up-1', label: 'up, 1 flow' },
      { id: 'bulk6-up-4', label: 'up, 4 flows' },
      { id: 'bulk6-down-1', label: 'down, 1 flow' },
      { id: 'bulk6-down-4', label: 'down, 4 flows' },
    ],
  },
  {
    title: 'Bulk throughput with delay each way (higher is better)',
    height: 300,
    optional: true,
    axisUnit: 'Mbit/s',
    scale: 1e6,
    metrics: [
      { id: 'delay-up-1', label: 'up' },
      { id: 'delay-down-1', label: 'down' },
      { id: 'delay-loss-up-1', label: 'up, 5% loss' },
      { id: 'delay-loss-down-1', label: 'down, 5% loss' },
    ],
  },
  {
    title: 'Latency (lower is better)',
    height: 300,
    axisUnit: 'µs',
    scale: 1,
    metrics: [
      { id: 'rr-p50', label: 'RR p50' },
      { id: 'rr-p99', label: 'RR p99' },
      { id: 'rr-p999', label: 'RR p99.9' },
      { id: 'idle-rr-p50', label: 'RR p50, idle held' },
      { id: 'idle-rr-p99', label: 'RR p99, idle held' },
      { id: 'ping-rtt', label: 'ping avg', toAxis: (ms) => ms * 1000 },
    ],
  },
  {
    title: 'Connection rate (higher is better)',
    height: 200,
    axisUnit: 'conn/s',
    scale: 1,
    metrics: [{ id: 'crr', label: 'connect, request, close' }],
  },
  {
    title: 'Relay section: throughput (higher is better)',
    height: 260,
    optional: true,
    relay: true,
    axisUnit: 'Mbit/s',
    scale: 1e6,
    metrics: [
      { id: 'relay-down', label: 'download' },
      { id: 'relay-up', label: 'upload' },
    ],
  },
  {
    title: 'Relay section: latency (lower is better)',
    height: 260,
    optional: true,
    relay: true,
    axisUnit: 'µs',
    scale: 1,
    metrics: [
      { id: 'relay-rr-p50', label: 'RR p50' },
      { id: 'relay-rr-p99', label: 'RR p99' },
    ],
  },
  {
    title: 'Relay section: connection rate (higher is better)',
    height: 200,
    optional: true,
    relay: true,
    axisUnit: 'conn/s',
    scale: 1,
    metrics: [{ id: 'relay-crr', label: 'connect, request, close' }],
  },
];

/** The systems whose bars a panel draws: those of its section that measured something there. */
function panelSystems(panel: Panel, systems: readonly SystemResult[]): SystemResult[] {
  const section = panel.relay ? RELAY_SYSTEMS : MAIN_SYSTEMS;
  const inSection = systems.filter((s) => section.includes(s.name));
  const ids = (METRICS as readonly MetricDef[])
    .filter((d) => isRelayMetric(d) === (panel.relay === true))
    .map((d) => d.id);
  // kernel is in both sections: only where it ran that section's tests.
  return inSection.filter((s) => s.name !== 'kernel' || ids.some((id) => id in s.metrics));
}

/** The plot: one panel per group of metrics, a bar per system, log-scaled value axis. */
export function renderSvg(result: BenchResult): string {
  const width = 960;
  const top = 60;
  const left = 80;
  const right = 20;
  const systems = result.systems;
  const parts: string[] = [];
  let y0 = top;
  const relayRan = ranIn(systems, true).length > 0;
  for (const panel of PANELS) {
    // The delay rows' and the relay section's panels only when they ran (--quick leaves them out).
    const ran = panel.metrics.some((m) => systems.some((s) => s.metrics[m.id] !== undefined));
    if (panel.optional && !ran) continue;
    // A run of the relay section alone: no empty panels of the main section.
    if (!panel.relay && !ran && relayRan) continue;
    const drawn = panelSystems(panel, systems);
    parts.push(renderPanel(panel, drawn, left, y0, width - left - right, panel.height));
    y0 += panel.height + 70;
  }
  const legend = systems
    .map(
      (s, i) =>
        `<rect x="${left + i * 150}" y="30" width="14" height="14" fill="${COLORS[s.name]}"/>` +
        `<text x="${left + i * 150 + 20}" y="42">${escapeXml(s.name)}</text>`,
    )
    .join('');
  const height = y0;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="15" font-weight="bold">tunstack bench ${escapeXml(result.startedAt)} (${escapeXml(String(result.host.kernel ?? ''))})</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function renderPanel(
  panel: Panel,
  systems: readonly SystemResult[],
  x: number,
  y: number,
  w: number,
  h: number,
): string {
  const plotTop = y + 30;
  const plotHeight = h - 60;
  const baseline = plotTop + plotHeight;
  const values = panel.metrics.map((m) =>
    systems.map((s) => {
      const v = measuredValue(s.metrics[m.id]);
      if (v === null || v <= 0) return null;
      return (m.toAxis ? m.toAxis(v) : v) / panel.scale;
    }),
  );
  const present = values.flat().filter((v): v is number => v !== null);
  const out: string[] = [
    `<text x="${x}" y="${y + 16}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
  ];
  if (present.length === 0) {
    out.push(
      `<text x="${x + w / 2}" y="${plotTop + plotHeight / 2}" text-anchor="middle">no data</text>`,
    );
    return out.join('\n');
  }
  const lo = Math.floor(Math.log10(Math.min(...present)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...present))));
  const yOf = (v: number): number => baseline - ((Math.log10(v) - lo) / (hi - lo)) * plotHeight;
  for (let e = lo; e <= hi; e++) {
    const ty = yOf(10 ** e);
    out.push(
      `<line x1="${x}" x2="${x + w}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${x - 6}" y="${(ty + 4).toFixed(1)}" text-anchor="end">${formatTick(10 ** e)}</text>`,
    );
  }
  out.push(
    `<text x="${x - 60}" y="${plotTop + plotHeight / 2}" transform="rotate(-90 ${x - 60} ${plotTop + plotHeight / 2})" text-anchor="middle">${escapeXml(panel.axisUnit)} (log)</text>`,
    `<line x1="${x}" x2="${x + w}" y1="${baseline}" y2="${baseline}" stroke="#333"/>`,
  );
  const groupWidth = w / panel.metrics.length;
  const barWidth = Math.min(40, (groupWidth * 0.8) / systems.length);
  panel.metrics.forEach((m, gi) => {
    const gx = x + gi * groupWidth + (groupWidth - barWidth * systems.length) / 2;
    systems.forEach((s, si) => {
      const v = values[gi][si];
      const bx = gx + si * barWidth;
      if (v === null) {
        out.push(
          `<text x="${(bx + barWidth / 2).toFixed(1)}" y="${baseline - 4}" text-anchor="middle" font-size="9" fill="${COLORS[s.name]}">n/a</text>`,
        );
        return;
      }
      const by = Math.min(yOf(v), baseline - 1);
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(baseline - by).toFixed(1)}" fill="${COLORS[s.name]}"><title>${escapeXml(`${s.name} ${m.label}: ${formatTick(v)} ${panel.axisUnit}`)}</title></rect>`,
        `<text x="${(bx + barWidth / 2 - 1).toFixed(1)}" y="${(by - 3).toFixed(1)}" text-anchor="middle" font-size="9">${formatTick(v)}</text>`,
      );
    });
    out.push(
      `<text x="${(x + gi * groupWidth + groupWidth / 2).toFixed(1)}" y="${baseline + 16}" text-anchor="middle">${escapeXml(m.label)}</text>`,
    );
  });
  return out.join('\n');
}

function formatTick(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}
