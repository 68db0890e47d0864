/**
 * tunstack relay against slirp4netns, pasta and the kernel directly (issue 13 item 5), in one
 * run: the same workload through each, with ratios.
 *
 *   npx tsx scripts/relay-compare.ts [--size MB] [--runs N] [--rr N] [--crr N]
 *
 * Safety: everything happens in namespaces this script makes and removes. EGRESS holds the
 * servers (test/kernel/relay-servers.ts on 10.9.0.1, its loopback) and a veth pair with a
 * default route over it (pasta insists on an interface with a default route to copy; the pair's
 * both ends are in EGRESS, so nothing leaves it). Each system gets a client namespace of its own
 * and runs its user-mode network from inside EGRESS:
 *
 *   kernel        the workload runs in EGRESS itself (no user-mode network)
 *   tunstack      ip netns exec EGRESS tunstack relay --netns C -- WORKLOAD
 *   slirp4netns   ip netns exec EGRESS slirp4netns --configure --mtu=1500 --netns-type=path … tap0
 *   pasta         ip netns exec EGRESS pasta --config-net -m 1500 -f --runas 0 --netns …
 *
 * The workload (one shell command, the same for all): curl downloads and uploads SIZE MB
 * (bytes/s as curl reports them, the median of RUNS), then a Node client measures 1-byte
 * request/response round trips on one connection (p50 and p99, µs) and connect/request/close
 * (connections per second). All at MTU 1500. Needs root, curl, slirp4netns, passt.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as netns from '../src/link/netns.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const SERVERS = fileURLToPath(new URL('../test/kernel/relay-servers.ts', import.meta.url));
const SERVER = '10.9.0.1';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}
const SIZE_MB = arg('size', 100);
const RUNS = arg('runs', 3);
const RR = arg('rr', 5000);
const CRR = arg('crr', 1000);

/** The workload's Node client: `rr N` or `crr N` against the echo server. */
const CLIENT = `
const net = require('node:net');
const [mode, n] = [process.argv[2], Number(process.argv[3])];
if (mode === 'rr') {
  const s = net.connect(8083, '${SERVER}', () => {
    s.setNoDelay(true);
    const rtts = [];
    let t = process.hrtime.bigint();
    s.on('data', () => {
      const now = process.hrtime.bigint();
      rtts.push(Number(now - t) / 1000);
      if (rtts.length === n) {
        rtts.sort((a, b) => a - b);
        const q = (p) => rtts[Math.min(n - 1, Math.floor(p * n))].toFixed(1);
        console.log('rr_p50_us ' + q(0.5));
        console.log('rr_p99_us ' + q(0.99));
        s.destroy();
        return;
      }
      t = process.hrtime.bigint();
      s.write('x');
    });
    s.write('x');
  });
} else {
  let i = 0;
  const t0 = process.hrtime.bigint();
  const one = () => {
    if (i++ === n) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log('crr_per_s ' + (n / s).toFixed(0));
      return;
    }
    // Request, response, then the client closes (as an HTTP/1.0 client would).
    const s = net.connect(8083, '${SERVER}', () => s.write('x'));
    s.on('data', () => s.end());
    s.on('close', one);
    s.on('error', (e) => { console.log('crr_error ' + e.code); process.exit(1); });
  };
  one();
}
`;

function workload(file: string, client: string): string {
  const curlDown = `curl -sS -o /dev/null -w 'down %{speed_download}\\n' http://${SERVER}:8080/file`;
  const curlUp =
    `curl -sS -o /dev/null -H 'Expect:' -X POST -T ${file} ` +
    `-w 'up %{speed_upload}\\n' http://${SERVER}:8080/upload`;
  const node = (m: string, n: number) => `${process.execPath} ${client} ${m} ${n}`;
  const lines: string[] = [];
  for (let i = 0; i < RUNS; i++) lines.push(curlDown, curlUp);
  lines.push(node('rr', RR), node('crr', CRR));
  return lines.join('; ');
}

interface Result {
  down: number;
  up: number;
  /** 1-byte round trip, median and 99th percentile, µs. */
  rrUs: number;
  rr99Us: number;
  crr: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)];
};

function parse(out: string): Result {
  const vals = (k: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith(`${k} `))
      .map((l) => Number(l.split(' ')[1]));
  return {
    down: median(vals('down')),
    up: median(vals('up')),
    rrUs: median(vals('rr_p50_us')),
    rr99Us: median(vals('rr_p99_us')),
    crr: median(vals('crr_per_s')),
  };
}

async function sh(ns: string, cmd: string): Promise<string> {
  const r = await netns.exec(ns, ['sh', '-c', cmd], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`workload in ${ns} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A user-mode network process started for client namespace `client`, stopped by the caller. */
function background(egress: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', egress, ...argv], { stdio: 'ignore' });
}

async function waitForAddress(client: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await netns.exec(client, ['ip', '-4', 'route', 'show', 'default']);
    if (r.stdout.includes('default')) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no default route appeared in ${client}`);
}

async function main(): Promise<void> {
  const egress = netns.uniqueName();
  const dir = mkdtempSync(join(tmpdir(), 'relay-compare-'));
  const file = join(dir, 'file');
  writeFileSync(file, randomBytes(SIZE_MB * 1024 * 1024));
  const clients: string[] = [];
  let servers: ChildProcess | null = null;
  const results: Record<string, Result> = {};
  try {
    await netns.create(egress);
    await netns.ip(egress, ['addr', 'add', `${SERVER}/32`, 'dev', 'lo']);
    await netns.ip(egress, ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await netns.ip(egress, ['addr', 'add', '10.8.0.1/24', 'dev', 'v0']);
    await netns.ip(egress, ['link', 'set', 'v0', 'up']);
    await netns.ip(egress, ['link', 'set', 'v1', 'up']);
    await netns.ip(egress, ['route', 'add', 'default', 'via', '10.8.0.254', 'dev', 'v0']);
    servers = spawn(
      'ip',
      ['netns', 'exec', egress, process.execPath, '--import', 'tsx', SERVERS, SERVER, file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) =>
      servers?.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
    );
    const clientScript = join(dir, 'client.cjs');
    writeFileSync(clientScript, CLIENT);
    const cmd = workload(file, clientScript);

    process.stderr.write('kernel…\n');
    results.kernel = parse(await sh(egress, cmd));

    process.stderr.write('tunstack relay…\n');
    {
      const client = netns.uniqueName();
      clients.push(client);
      const r = await netns.exec(
        egress,
        [
          process.execPath,
          '--import',
          'tsx',
          MAIN,
          'relay',
          '--netns',
          client,
          '--no-summary',
        ].concat(['--log-level', 'warn', '--', 'sh', '-c', cmd]),
        { timeoutMs: 600_000 },
      );
      if (r.code !== 0) throw new Error(`tunstack relay exited ${r.code}: ${r.stderr}`);
      results['tunstack relay'] = parse(r.stdout);
    }

    process.stderr.write('slirp4netns…\n');
    {
      const client = netns.uniqueName();
      clients.push(client);
      await netns.create(client);
      const p = background(egress, [
        'slirp4netns',
        '--configure',
        '--mtu=1500',
        '--disable-host-loopback',
        '--netns-type=path',
        `/var/run/netns/${client}`,
        'tap0',
      ]);
      try {
        await waitForAddress(client);
        results.slirp4netns = parse(await sh(client, cmd));
      } finally {
        p.kill('SIGTERM');
      }
    }

    process.stderr.write('pasta…\n');
    {
      const client = netns.uniqueName();
      clients.push(client);
      await netns.create(client);
      const p = background(egress, [
        'pasta',
        '--config-net',
        '-m',
        '1500',
        '-f',
        '--runas',
        '0',
        '--netns',
        `/var/run/netns/${client}`,
      ]);
      try {
        await waitForAddress(client);
        results.pasta = parse(await sh(client, cmd));
      } finally {
        p.kill('SIGTERM');
      }
    }
  } finally {
    servers?.kill('SIGKILL');
    for (const c of clients) await netns.remove(c).catch(() => {});
    await netns.remove(egress).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }

  const k = results.kernel;
  const mbit = (bps: number) => ((bps * 8) / 1e6).toFixed(0);
  const head = [
    'system',
    'down Mbit/s',
    'up Mbit/s',
    'rr p50 µs',
    'rr p99 µs',
    'crr /s',
    'down/kernel',
    'up/kernel',
  ];
  const rows = Object.entries(results).map(([name, r]) => [
    name,
    mbit(r.down),
    mbit(r.up),
    r.rrUs.toFixed(1),
    r.rr99Us.toFixed(1),
    r.crr.toFixed(0),
    (r.down / k.down).toFixed(2),
    (r.up / k.up).toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  console.log(`relay comparison, ${SIZE_MB} MB x ${RUNS} each way, rr ${RR}, crr ${CRR}, MTU 1500`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const t = results['tunstack relay'];
  const s = results.slirp4netns;
  const p = results.pasta;
  if (t && s && p) {
    console.log(
      `tunstack/slirp4netns: down ${(t.down / s.down).toFixed(2)}, up ${(t.up / s.up).toFixed(2)}; ` +
        `tunstack rr p50 / pasta's: ${(t.rrUs / p.rrUs).toFixed(2)} (goal ≤ 2); ` +
        `crr tunstack/pasta ${(t.crr / p.crr).toFixed(2)}`,
    );
  }
}

await main();
