/**
 * What each connection style costs, measured: `tunstack up --apps styles` in a namespace of its
 * own, Debian's chromium (playwright-core) inside that namespace on the demo page for a while,
 * then the stack's per-style totals (GET /stats) and the page's latencies as a Markdown table.
 *
 *   npx tsx scripts/styles-measure.ts [--seconds 20] [--pcap FILE]
 *
 * Needs root, /dev/net/tun and /usr/bin/chromium. The namespace (tsk-styles-PID) is created by
 * `up` and removed when it exits; this script stops it with SIGINT and checks that it is gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import * as netns from '../src/link/netns.ts';

const STYLES = ['short', 'long', 'sse', 'ws', 'keepalive'] as const;
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, pcap: { type: 'string' } },
});
const seconds = Number(values.seconds);
if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be in (0, 600]');
const ns = `tsk-styles-${process.pid}`;

interface Totals {
  connections: number;
  segsIn: number;
  segsOut: number;
  bytesIn: number;
  bytesOut: number;
}

async function main(): Promise<void> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'up', '--netns', ns, '--apps', 'styles'];
  if (values.pcap !== undefined) args.push('--pcap', values.pcap);
  const up = spawn(process.execPath, [...args, '--log-level', 'warn'], { stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'tunstack-styles-'));
  try {
    await waitForDemo();
    const wrapper = join(dir, 'chromium-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
    await chmod(wrapper, 0o755);
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: wrapper,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'].concat(
        '--disable-background-networking --disable-component-update --disable-sync'.split(' '),
      ),
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto('http://10.0.0.2:8080/');
      await page.waitForFunction('window.demo && window.demo.ready');
      // Keep-alive: 10 requests one after another, then nothing (its connection idles out).
      await page.evaluate('window.demo.kaRun(10)');
      await page.waitForTimeout(seconds * 1000);
      const per = (await page.evaluate('window.demo.per')) as Record<
        string,
        { count: number; latSum: number }
      >;
      const stats = (await page.evaluate("fetch('/stats').then((r) => r.json())")) as {
        styles: Record<string, Totals>;
      };
      print(per, stats.styles);
    } finally {
      await context.close();
    }
  } finally {
    await stop(up);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Until the demo answers inside the namespace (15 s at most). */
async function waitForDemo(): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await netns.exists(ns)) {
      const r = await netns.exec(ns, ['curl', '-sf', '-m', '1', 'http://10.0.0.2:8080/stats']);
      if (r.code === 0) return;
    }
    if (Date.now() > deadline) throw new Error('the demo did not come up within 15 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stop(up: ChildProcess): Promise<void> {
  if (up.exitCode === null) {
    const exited = new Promise((r) => up.once('exit', r));
    up.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  }
  if (await netns.exists(ns)) await netns.remove(ns);
}

function print(per: Record<string, { count: number; latSum: number }>, t: Record<string, Totals>) {
  const rows = [
    '| style | events | mean latency | TCP connections | segments in / out | bytes in / out | bytes out per event |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of STYLES) {
    const p = per[s];
    const x = t[s];
    const events = p?.count ?? 0;
    const lat = events > 0 ? `${Math.round(p.latSum / events)} ms` : '—';
    const perEvent = events > 0 ? String(Math.round(x.bytesOut / events)) : '—';
    rows.push(
      `| ${s} | ${s === 'keepalive' ? '10 requests' : events} | ${s === 'keepalive' ? '—' : lat} | ` +
        `${x.connections} | ${x.segsIn} / ${x.segsOut} | ${x.bytesIn} / ${x.bytesOut} | ${perEvent} |`,
    );
  }
  console.log(`\n${seconds} s on the demo page (ticker every 500 ms):\n\n${rows.join('\n')}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
