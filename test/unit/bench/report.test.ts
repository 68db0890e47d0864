/**
 * The bench's pure parts: value formatting, ratios, the table, the SVG plot, the parsing of a
 * tool's output and of `tunstack up --help`. (The bench itself runs in test/kernel/bench.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  METRICS,
  type Measurement,
  type MetricId,
  socketSlabBytes,
} from '../../../scripts/bench/metrics.ts';
import {
  type BenchResult,
  combineRounds,
  computeRatios,
  computeRelayRatios,
  formatValue,
  pairedRatio,
  renderSvg,
  renderTable,
  type SystemResult,
} from '../../../scripts/bench/report.ts';
import {
  DELAY_STACK_BUFFER_BYTES,
  delayFlags,
  type SystemName,
  upFlags,
} from '../../../scripts/bench/systems.ts';
import { parseToolOutput } from '../../../scripts/bench/tools.ts';

function system(
  name: SystemName,
  metrics: Partial<Record<MetricId, Measurement>>,
  setupError: string | null = null,
): SystemResult {
  return { name, description: name, server: null, setupError, metrics, seconds: 1 };
}

function result(systems: SystemResult[]): BenchResult {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    host: { kernel: '6.18' },
    options: {},
    metrics: METRICS,
    systems,
    ratios: computeRatios(systems),
  };
}

describe('formatValue', () => {
  it('scales each unit for reading', () => {
    expect(formatValue(9.41e9, 'bit/s')).toBe('9.41 Gbit/s');
    expect(formatValue(982.4e6, 'bit/s')).toBe('982 Mbit/s');
    expect(formatValue(5.5e3, 'bit/s')).toBe('5.50 kbit/s');
    expect(formatValue(56.14, 'us')).toBe('56.1 µs');
    expect(formatValue(2900, 'us')).toBe('2.90 ms');
    expect(formatValue(0.045, 'ms')).toBe('45.0 µs');
    expect(formatValue(1.5, 'ms')).toBe('1.50 ms');
    expect(formatValue(11421.3, 'conn/s')).toBe('11421 conn/s');
    expect(formatValue(812, 'B/conn')).toBe('812 B/conn');
    expect(formatValue(20480, 'B/conn')).toBe('20.0 KiB/conn');
    expect(formatValue(512_000_000, 'B/100k')).toBe('488 MiB/100k');
    expect(formatValue(30_720, 'B/100k')).toBe('30.0 KiB/100k');
    expect(formatValue(-2_000, 'B/100k')).toBe('−2000 B/100k');
    expect(formatValue(0, '%')).toBe('0.00 %');
    expect(formatValue(10000, 'conns')).toBe('10000');
    // Three digits that round to 1000 move up a unit.
    expect(formatValue(999.96, 'us')).toBe('1.00 ms');
    expect(formatValue(999.4, 'us')).toBe('999 µs');
    expect(formatValue(999.7e6, 'bit/s')).toBe('1.00 Gbit/s');
    expect(formatValue(999.8e3, 'bit/s')).toBe('1.00 Mbit/s');
    expect(formatValue(0.99996, 'ms')).toBe('1.00 ms');
  });
});

describe('combineRounds', () => {
  it('keeps a single round as it is', () => {
    expect(combineRounds([{ value: 3, detail: { x: 1 } }])).toEqual({ value: 3, detail: { x: 1 } });
    expect(combineRounds([{ na: 'refused' }])).toEqual({ na: 'refused' });
  });

  it('takes the median of the rounds that measured, keeping every round', () => {
    expect(
      combineRounds([{ value: 9 }, { value: 1, detail: 'b' }, { value: 5, detail: 'c' }]),
    ).toEqual({
      value: 5,
      detail: { rounds: [9, 1, 5], median: 'c' },
    });
    // Even count: the upper median; an n/a round is kept in the record but not in the median.
    expect(combineRounds([{ value: 4 }, { na: 'timed out' }, { value: 2 }])).toEqual({
      value: 4,
      detail: { rounds: [4, { na: 'timed out' }, 2], median: undefined },
    });
  });

  it('is n/a with the first reason when no round measured', () => {
    expect(combineRounds([{ na: 'a' }, { na: 'b' }])).toEqual({ na: 'a' });
    expect(combineRounds([])).toEqual({ na: 'not run' });
  });
});

describe('computeRatios', () => {
  it('divides tunstack by kernel and by bridge, and bridge by kernel', () => {
    const r = computeRatios([
      system('kernel', { 'bulk-up-1': { value: 10 } }),
      system('bridge', { 'bulk-up-1': { value: 5 } }),
      system('tunstack', { 'bulk-up-1': { value: 1 } }),
    ]);
    expect(r['bulk-up-1']).toEqual({
      tunstackOverKernel: 0.1,
      tunstackOverBridge: 0.2,
      bridgeOverKernel: 0.5,
      plainOverBridge: null,
    });
  });

  it('gives null where a side is n/a, missing or zero', () => {
    const r = computeRatios([
      system('kernel', { 'bulk-up-1': { value: 0 }, crr: { value: 100 } }),
      system('bridge', { crr: { na: 'setup failed' } }),
      system('tunstack', { 'bulk-up-1': { value: 1 }, crr: { value: 50 } }),
    ]);
    expect(r['bulk-up-1']?.tunstackOverKernel).toBeNull();
    expect(r.crr).toEqual({
      tunstackOverKernel: 0.5,
      tunstackOverBridge: null,
      bridgeOverKernel: null,
      plainOverBridge: null,
    });
    expect(r['rr-p50']).toEqual({
      tunstackOverKernel: null,
      tunstackOverBridge: null,
      bridgeOverKernel: null,
      plainOverBridge: null,
    });
  });
});

describe('renderTable', () => {
  const table = renderTable(
    result([
      system('kernel', { 'bulk-up-1': { value: 1e10 }, 'rr-p50': { value: 20 } }),
      system('bridge', { 'bulk-up-1': { value: 2e9 }, 'rr-p50': { value: 40 } }),
      system('tunstack', {
        'bulk-up-1': { value: 1e8 },
        'rr-p50': { na: 'port 7: connect:\n  Connection refused' },
      }),
    ]),
  );
  const lines = table.split('\n');

  it('has a row per metric, the systems as columns and the ratio columns', () => {
    expect(lines[0]).toMatch(
      /^metric\s+kernel\s+bridge\s+tunstack\s+tunstack\/kernel\s+tunstack\/bridge\s+bridge\/kernel$/,
    );
    const bulk = lines.find((l) => l.startsWith('bulk kernel→server, 1 flow ↑ '));
    expect(bulk).toMatch(
      /10\.0 Gbit\/s\s+2\.00 Gbit\/s\s+100 Mbit\/s\s+0\.010×\s+0\.050×\s+0\.20×$/,
    );
    const all = renderTable(
      result([system('kernel', Object.fromEntries(METRICS.map((d) => [d.id, { value: 1 }])))]),
    );
    for (const def of METRICS) expect(all).toContain(def.label);
  });

  it('marks which way is better', () => {
    expect(table).toMatch(/^1-byte request\/response p50 ↓ /m);
    expect(table).toContain('↑ higher is better, ↓ lower is better');
  });

  it('says why each n/a is n/a, on one line, grouped by reason', () => {
    expect(lines).toContain('tunstack: n/a rr-p50: port 7: connect: Connection refused');
  });

  it('has no row for a metric no system ran (tests left out with --tests)', () => {
    expect(table).not.toContain('bulk kernel→server, 4 flows');
    expect(table).not.toContain('not run');
  });

  it('leaves out the tunstack ratios when tunstack was not measured', () => {
    const t = renderTable(result([system('kernel', {}), system('bridge', {})]));
    expect(t.split('\n')[0]).toMatch(/^metric\s+kernel\s+bridge\s+bridge\/kernel$/);
  });

  it('divides tunstack-plain by the bridge when both ran (the loss and delay rows)', () => {
    const t = renderTable(
      result([
        system('bridge', { 'loss-down-1': { value: 4e8 } }),
        system('tunstack-plain', { 'loss-down-1': { value: 1e8 } }),
      ]),
    );
    const [head, , row] = t.split('\n');
    expect(head).toMatch(/^metric\s+bridge\s+tunstack-plain\s+plain\/bridge$/);
    expect(row).toMatch(/400 Mbit\/s\s+100 Mbit\/s\s+0\.25×$/);
  });

  it('reports a failed setup once instead of per metric', () => {
    const t = renderTable(result([system('tunstack', {}, '`tunstack up` is not available')]));
    expect(t).toContain('tunstack: setup failed: `tunstack up` is not available');
    expect(t).not.toContain('tunstack: n/a');
  });
});

describe('renderSvg', () => {
  const svg = renderSvg(
    result([
      system('kernel', {
        'bulk-up-1': { value: 1e10 },
        'ping-rtt': { value: 0.045 },
        crr: { value: 1e4 },
      }),
      system('bridge', { 'bulk-up-1': { value: 2e9 }, 'ping-rtt': { value: 0.28 } }),
      system('tunstack', { 'bulk-up-1': { na: 'no TCP' }, 'ping-rtt': { value: 0.314 } }),
    ]),
  );

  it('is one <svg> element with a bar (and tooltip) per measured value and n/a for the rest', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<title>/g)).toHaveLength(6);
    expect(svg).toContain('<title>kernel up, 1 flow: 10k Mbit/s</title>');
    expect(svg).toContain('<title>tunstack ping avg: 314 µs</title>');
    expect(svg).toMatch(/>n\/a</);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  });

  it('draws a log axis with a tick per power of ten spanning the values', () => {
    // Throughput spans 2e3..1e4 Mbit/s: ticks 1k and 10k.
    expect(svg).toMatch(/>1k<\/text>/);
    expect(svg).toMatch(/>10k<\/text>/);
  });

  it('escapes text', () => {
    const s = renderSvg({ ...result([]), startedAt: '<&>' });
    expect(s).toContain('&lt;&amp;&gt;');
    expect(s).toContain('no data');
  });

  it('has a panel for the delay rows only when they ran', () => {
    const title = 'Bulk throughput with delay each way';
    expect(svg).not.toContain(title);
    const delayed = renderSvg(
      result([system('bridge', { 'delay-down-1': { value: 5e8 } }), system('tunstack', {})]),
    );
    expect(delayed).toContain(title);
    expect(delayed).toContain('<title>bridge down: 500 Mbit/s</title>');
  });
});

describe('renderTable: the delay rows', () => {
  const systems = [
    system('kernel', { 'delay-down-1': { na: 'no netem' } }),
    system('bridge', { 'delay-down-1': { value: 4e8 } }),
    system('tunstack', { 'delay-down-1': { value: 2e8 } }),
  ];
  it('says what the delay was, once', () => {
    const t = renderTable({ ...result(systems), options: { delayMs: 20 } });
    expect(t).toMatch(/^bulk server→kernel, delay ↑\s+n\/a\s+400 Mbit\/s\s+200 Mbit\/s\s+0\.50×/m);
    expect(
      t.match(/delay rows: every packet held 20 ms each way \(40 ms more round trip\)/g),
    ).toHaveLength(1);
    expect(t).toContain('kernel: n/a delay-down-1: no netem');
  });
  it('says nothing of a delay when no delay row ran', () => {
    const t = renderTable({
      ...result([system('bridge', { 'bulk-up-1': { value: 1 } })]),
      options: { delayMs: 20 },
    });
    expect(t).not.toContain('delay rows');
  });
});

describe('the relay section', () => {
  const systems = [
    system('kernel', { 'bulk-up-1': { value: 1e10 }, 'relay-down': { value: 8e9 } }),
    system('tunstack', { 'bulk-up-1': { value: 1e9 } }),
    system('relay', { 'relay-down': { value: 2e9 }, 'relay-rr-p50': { value: 60 } }),
    system('slirp4netns', { 'relay-down': { value: 1e9 }, 'relay-rr-p50': { value: 80 } }),
    system('pasta', {
      'relay-down': { value: 4e9 },
      'relay-rr-p50': { value: 40 },
      'relay-crr': { na: 'pasta is not installed (Debian package passt)' },
    }),
  ];

  it('divides relay by kernel, slirp4netns and pasta', () => {
    const r = computeRelayRatios(systems);
    expect(r['relay-down']).toEqual({
      relayOverKernel: 0.25,
      relayOverSlirp4netns: 2,
      relayOverPasta: 0.5,
    });
    expect(r['relay-rr-p50']).toEqual({
      relayOverKernel: null,
      relayOverSlirp4netns: 0.75,
      relayOverPasta: 1.5,
    });
    // Main-section metrics have no relay ratios.
    expect(r).not.toHaveProperty('bulk-up-1');
  });

  it('prints its own table after the main one, with the reasons for its n/a', () => {
    const t = renderTable({ ...result(systems), options: { relayBytes: 100e6 } });
    const lines = t.split('\n');
    expect(lines[0]).toMatch(/^metric\s+kernel\s+tunstack\s+tunstack\/kernel\s+tunstack\/bridge$/);
    const head = lines.findIndex((l) => l.startsWith('relay section '));
    expect(head).toBeGreaterThan(2);
    expect(lines[head]).toMatch(
      /^relay section\s+kernel\s+relay\s+slirp4netns\s+pasta\s+relay\/kernel\s+relay\/slirp4netns\s+relay\/pasta$/,
    );
    expect(lines[head + 2]).toMatch(
      /^relayed download \(HTTP GET\) ↑\s+8\.00 Gbit\/s\s+2\.00 Gbit\/s\s+1\.00 Gbit\/s\s+4\.00 Gbit\/s\s+0\.25×\s+2\.00×\s+0\.50×$/,
    );
    // The main table has no relay rows and no relay-only columns.
    expect(lines.slice(0, head).join('\n')).not.toMatch(/relayed|slirp4netns|pasta/);
    expect(t).toContain('100 MB down and up');
    expect(t).toContain('pasta: n/a relay-crr: pasta is not installed (Debian package passt)');
  });

  it('prints the relay table alone when only the relay section ran', () => {
    const t = renderTable(
      result(
        systems
          .filter((s) => s.name !== 'tunstack')
          .map((s) => ({
            ...s,
            metrics: Object.fromEntries(
              Object.entries(s.metrics).filter(([id]) => id.startsWith('relay-')),
            ),
          })),
      ),
    );
    expect(t.split('\n')[0]).toMatch(/^relay section\s+kernel\s+relay\s+slirp4netns\s+pasta\s/);
    expect(t).not.toMatch(/^metric/m);
  });

  it('plots the relay section in panels of its own, with its systems only', () => {
    const svg = renderSvg(result(systems));
    expect(svg).toContain('Relay section: throughput');
    expect(svg).toContain('<title>pasta download: 4k Mbit/s</title>');
    expect(svg).toContain('<title>kernel download: 8k Mbit/s</title>');
    // tunstack takes no part in the relay section: no bar and no n/a there.
    const relayPart = svg.slice(svg.indexOf('Relay section: throughput'));
    expect(relayPart).not.toContain('#54a24b');
    const mainOnly = [system('kernel', { 'bulk-up-1': { value: 1e10 } }), systems[1]];
    expect(renderSvg(result(mainOnly))).not.toContain('Relay section');
  });
});

describe('parseToolOutput', () => {
  const r = (stdout: string, code: number | null = 0, extra = {}) => ({
    code,
    signal: null,
    stdout,
    stderr: '',
    timedOut: false,
    ...extra,
  });

  it('takes the last line as the JSON result', () => {
    expect(parseToolOutput(r('ready\n{"bytes":5}\n'))).toEqual({ ok: true, json: { bytes: 5 } });
  });

  it('turns an error line, a timeout or garbage into a reason', () => {
    expect(parseToolOutput(r('{"error":"connect: Connection refused"}\n', 2))).toEqual({
      ok: false,
      why: 'connect: Connection refused',
    });
    expect(parseToolOutput(r('', null, { timedOut: true, signal: 'SIGKILL' }))).toEqual({
      ok: false,
      why: 'timed out (killed by the driver)',
    });
    expect(parseToolOutput(r('not json', 1, { stderr: 'usage: x\n' }))).toEqual({
      ok: false,
      why: 'exit 1: usage: x',
    });
  });
});

describe('upFlags', () => {
  it('asks for the bench services that `up --apps` lists, and quiet logs', () => {
    const help = `Options:
  --apps <names>       apps to start, comma-separated (udp-echo, echo, discard,
                       http)
  --log-level <level>  pino log level (choices: "debug", "info", "warn")`;
    expect(upFlags(help)).toEqual(['--apps', 'echo,discard,http', '--log-level', 'warn']);
  });

  it('passes nothing the CLI does not offer', () => {
    expect(upFlags('Options:\n  --netns <name>\n')).toEqual([]);
    expect(upFlags('  --apps <names>  apps to start (udp-echo)')).toEqual([]);
  });
});

describe('delayFlags', () => {
  it('delays each way with --impair and opens the buffers for the bandwidth-delay product', () => {
    const help = '  --impair <spec>\n  --snd-buf <bytes>\n  --rcv-buf <bytes>\n';
    const buf = String(DELAY_STACK_BUFFER_BYTES);
    expect(delayFlags(help, 20)).toEqual([
      '--impair',
      'delay=20ms',
      '--snd-buf',
      buf,
      '--rcv-buf',
      buf,
    ]);
    expect(delayFlags('  --impair <spec>\n', 5)).toEqual(['--impair', 'delay=5ms']);
  });

  it('refuses a stack that cannot delay (its rows would not compare)', () => {
    expect(() => delayFlags('  --netns <name>\n', 20)).toThrow(/no --impair/);
  });
});

describe('socketSlabBytes', () => {
  it('sums active objects × object size of the socket caches only', async () => {
    const slabinfo = [
      'slabinfo - version: 2.1',
      '# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables',
      'tw_sock_TCP           96    176    256   16    1 : tunables    0    0    0 : slabdata 11 11 0',
      'TCP                  125    195   2368   13    8 : tunables    0    0    0 : slabdata 15 15 0',
      'eventpoll_epi        418    864    128   32    1 : tunables    0    0    0 : slabdata 27 27 0',
      'sock_inode_cache     308    323    832   19    4 : tunables    0    0    0 : slabdata 17 17 0',
      'filp                1451   1575    192   21    1 : tunables    0    0    0 : slabdata 75 75 0',
      'dentry            108251 109683    192   21    1 : tunables    0    0    0 : slabdata 5223 5223 0',
    ].join('\n');
    expect(await socketSlabBytes(slabinfo)).toBe(125 * 2368 + 418 * 128 + 308 * 832 + 1451 * 192);
  });
});

describe('the IPv6 rows', () => {
  const systems = [
    system('kernel', { 'bulk-up-1': { value: 2e10 }, 'bulk6-up-1': { value: 1.8e10 } }),
    system('bridge', { 'bulk-up-1': { value: 2e9 }, 'bulk6-up-1': { na: 'no IPv6: why' } }),
    system('tunstack', { 'bulk-up-1': { value: 4e9 }, 'bulk6-up-1': { value: 3.8e9 } }),
    system('tunstack-plain', { 'bulk-up-1': { value: 1e9 } }),
  ];

  it('name the IPv4 row each one is compared with, and every IPv6 row has one', () => {
    const v6 = METRICS.filter((d) => 'ipv4' in d);
    expect(v6.map((d) => d.id)).toEqual([
      'bulk6-up-1',
      'bulk6-up-4',
      'bulk6-down-1',
      'bulk6-down-4',
    ]);
    for (const d of v6) {
      const v4 = METRICS.find((x) => x.id === (d as { ipv4: string }).ipv4);
      expect(v4, d.id).toBeDefined();
      expect(v4!.unit).toBe(d.unit);
      // Printed right after the IPv4 rows of the same kind, as the tests run.
      expect(METRICS.indexOf(d)).toBeGreaterThan(METRICS.findIndex((x) => x.id === 'bulk-down-4'));
    }
  });

  it("divide each system's IPv6 value by its own IPv4 value in the same run", () => {
    const r = computeRatios(systems);
    expect(r['bulk6-up-1']?.v6OverV4).toEqual({
      kernel: 0.9,
      bridge: null,
      tunstack: 0.95,
      'tunstack-plain': null,
    });
    // Across systems as for any row: tunstack's IPv6 over the kernel's IPv6.
    expect(r['bulk6-up-1']?.tunstackOverKernel).toBeCloseTo(3.8e9 / 1.8e10);
    expect(r['bulk-up-1']?.v6OverV4).toBeUndefined();
  });

  it("pair the rounds: the median of each round's IPv6/IPv4 quotient, not the medians' quotient", () => {
    const v4 = combineRounds([{ value: 1 }, { value: 10 }, { value: 4 }]);
    const v6 = combineRounds([{ value: 1.1 }, { value: 9 }, { value: 2 }]);
    // Rounds 1.10, 0.90, 0.50: median 0.90 (the medians' quotient would say 2/4 = 0.5).
    expect(pairedRatio(v6, v4)).toBeCloseTo(0.9);
    // An n/a round drops out of the pairing; an even count takes the upper median.
    const gap = combineRounds([{ value: 3 }, { na: 'reset' }, { value: 8 }]);
    expect(pairedRatio(gap, v4)).toBeCloseTo(3);
    // One round (no rounds recorded) or different counts: the values' quotient.
    expect(pairedRatio({ value: 3 }, { value: 4 })).toBe(0.75);
    expect(pairedRatio(v6, combineRounds([{ value: 1 }, { value: 4 }]))).toBeCloseTo(2 / 4);
    expect(pairedRatio({ na: 'x' }, v4)).toBeNull();
    const r = computeRatios([system('tunstack', { 'bulk-down-1': v4, 'bulk6-down-1': v6 })]);
    expect(r['bulk6-down-1']?.v6OverV4?.tunstack).toBeCloseTo(0.9);
  });

  it('print tunstack v6/v4 and kernel v6/v4 columns, filled on the IPv6 rows only', () => {
    const lines = renderTable(result(systems)).split('\n');
    expect(lines[0]).toMatch(/plain\/bridge\s+tunstack v6\/v4\s+kernel v6\/v4$/);
    const v6 = lines.find((l) => l.startsWith('IPv6 bulk kernel→server, 1 flow ↑'));
    expect(v6).toMatch(/3\.80 Gbit\/s\s+n\/a\s+0\.21×\s+\s+\s+0\.95×\s+0\.90×$/);
    const v4 = lines.find((l) => l.startsWith('bulk kernel→server, 1 flow ↑'));
    expect(v4).toMatch(/0\.50×$/); // plain/bridge ends it: no v6/v4 cells on an IPv4 row
    expect(lines).toContain('bridge: n/a bulk6-up-1: no IPv6: why');
    expect(lines.some((l) => l.startsWith('IPv6 rows: the same transfer to fd00::2'))).toBe(true);
  });

  it('leave the v6/v4 columns out of a run without them', () => {
    const t = renderTable(result([system('tunstack', { 'bulk-up-1': { value: 1 } })]));
    expect(t).not.toContain('v6/v4');
    expect(t).not.toContain('IPv6 rows');
  });

  it('get a plot panel of their own when they ran', () => {
    const title = 'Bulk throughput over IPv6';
    expect(renderSvg(result([system('kernel', { 'bulk-up-1': { value: 1 } })]))).not.toContain(
      title,
    );
    const svg = renderSvg(result(systems));
    expect(svg).toContain(title);
    expect(svg).toContain('<title>tunstack up, 1 flow: 3.8k Mbit/s</title>');
  });
});
