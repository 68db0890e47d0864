/**
 * `tunstack relay` over IPv6 against the kernel: the client namespace gets fd00:2::100/64 on tun0
 * and a default route via the stack (fd00:2::2), and the relay carries its IPv6 flows through
 * udp6/TCP-over-IPv6 kernel sockets and `ping -6` on the egress side. As in relay.test.ts, the
 * test makes the egress namespace and its servers (fd09::1 on its loopback) and runs `ip netns
 * exec EGRESS tunstack relay --netns CLIENT -- COMMAND`: nothing leaves the test's namespaces.
 *
 *   EGRESS (the test's): lo fd09::1/128, an HTTP server (8080), TCP echo (8083), UDP echo (7)
 *   CLIENT (the relay's): tun0 10.0.2.100/24 and fd00:2::100/64, default routes via the stack
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { controlPath, queryControl } from '../../src/cli/control.ts';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe } from './harness.ts';
import { type Egress, relayRunner, startEgress } from './relay-run.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SERVER6 = 'fd09::1';
const SIZE = 4 * 1024 * 1024;

/** The egress side's servers, all on [fd09::1]; prints "ready" once every port listens. */
const SERVERS = `
const http = require('node:http'), net = require('node:net'), dgram = require('node:dgram');
const { createHash } = require('node:crypto'), fs = require('node:fs');
const [addr, file] = process.argv.slice(1);
let n = 0;
const up = () => { if (++n === 3) console.log('ready'); };
http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/file') return void fs.createReadStream(file).pipe(res);
  if (req.method === 'POST' && req.url === '/upload') {
    const h = createHash('sha256'); let len = 0;
    req.on('data', (d) => { h.update(d); len += d.length; });
    req.on('end', () => res.end(h.digest('hex') + ' ' + len + '\\n'));
    return;
  }
  res.statusCode = 404; res.end('not found\\n');
}).listen(8080, addr, up);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(8083, addr, up);
const u = dgram.createSocket('udp6');
u.on('message', (m, r) => u.send(m, r.port, r.address));
u.bind(7, addr, up);
`;

const { startRelay, relay } = relayRunner('10.9.0.53', 'relay6');

kernelDescribe('tunstack relay over IPv6', () => {
  let egress = '';
  let dir = '';
  let file = '';
  let sha = '';
  let eg: Egress | null = null;

  beforeAll(async () => {
    eg = await startEgress({
      addr: SERVER6,
      size: SIZE,
      tag: 'relay6',
      serverArgs: (f) => ['-e', SERVERS, SERVER6, f],
    });
    ({ ns: egress, dir, file, sha } = eg);
  }, 60_000);

  afterAll(async () => {
    await eg?.stop();
  });

  it('curl -6 downloads and uploads with sha256 intact, and exits 0', async () => {
    const r = await relay(egress, [
      'sh',
      '-c',
      `ip -6 addr show dev tun0; ip -6 route; ` +
        `curl -6 -sS http://[${SERVER6}]:8080/file | sha256sum && ` +
        `curl -6 -sS --data-binary @${file} http://[${SERVER6}]:8080/upload`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('inet6 fd00:2::100/64');
    expect(r.stdout).toMatch(/^default via fd00:2::2 dev tun0/m);
    const lines = r.stdout.trim().split('\n');
    const [down, up] = lines.slice(-2);
    expect(down.split(/\s+/)[0]).toBe(sha);
    expect(up).toBe(`${sha} ${SIZE}`);
    expect(r.stderr).toMatch(/2 TCP dials \(2 connected/);
    expect(r.stderr).toContain(`[${SERVER6}]:8080`);
  }, 90_000);

  it('a closed IPv6 port is refused, an unreachable IPv6 network fails, as without the relay', async () => {
    const closed = await relay(egress, ['curl', '-6', '-sS', `http://[${SERVER6}]:9/`]);
    expect(closed.code).toBe(7);
    expect(closed.stderr).toMatch(/1 refused/);
    // fd09:9::9 has no route on the egress side: the same failure there and through the relay.
    const url = 'http://[fd09:9::9]/';
    const direct = await netns.exec(egress, ['curl', '-sS', '-m', '20', url], {
      timeoutMs: 30_000,
    });
    const relayed = await relay(egress, ['curl', '-sS', '-m', '20', url]);
    expect(direct.code).toBe(7);
    expect(relayed.code).toBe(direct.code);
    expect(relayed.stderr).toMatch(/1 unreachable/);
  }, 90_000);

  it('answers ICMPv6 address unreachable for an IPv6 host silent past --connect-timeout', async () => {
    // A silent host inside EGRESS: fd09:7::/64 via a neighbour whose MAC nobody has, on a veth
    // pair whose both ends are in EGRESS (the SYNs die at v1; nothing leaves the namespace).
    await netns.ip(egress, ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    try {
      await netns.ip(egress, ['-6', 'addr', 'add', 'fd08::1/64', 'dev', 'v0', 'nodad']);
      await netns.ip(egress, ['link', 'set', 'v0', 'up']);
      await netns.ip(egress, ['link', 'set', 'v1', 'up']);
      await netns.ip(egress, [
        '-6',
        'neigh',
        'add',
        'fd08::2',
        'lladdr',
        '02:00:00:00:00:01',
        'dev',
        'v0',
        'nud',
        'permanent',
      ]);
      await netns.ip(egress, ['-6', 'route', 'add', 'fd09:7::/64', 'via', 'fd08::2', 'dev', 'v0']);
      const r = await relay(egress, ['curl', '-sS', '-m', '30', 'http://[fd09:7::7]/'], 60_000, [
        '--connect-timeout',
        '1500',
      ]);
      // curl hears the ICMPv6 error (code 3, EHOSTUNREACH): exit 7, not its own -m timeout's 28.
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/1 unreachable/);
    } finally {
      await netns.ip(egress, ['link', 'del', 'v0']).catch(() => {});
    }
  }, 60_000);

  it('--no-ipv6 leaves the client IPv4 only', async () => {
    const r = await relay(
      egress,
      [
        'sh',
        '-c',
        `ip -6 addr show dev tun0 | grep -c inet6; ` +
          `curl -6 -sS -m 10 http://[${SERVER6}]:8080/nope; echo "curl=$?"`,
      ],
      60_000,
      ['--no-ipv6'],
    );
    expect(r.stdout).toMatch(/^0$/m);
    // No IPv6 route: the client's kernel refuses at once (curl 7), the relay saw nothing.
    expect(r.stdout).toMatch(/^curl=7$/m);
    expect(r.stderr).toMatch(/0 TCP dials/);
  }, 60_000);

  it('relays UDP over IPv6 (udp6 on both sides) and ping -6', async () => {
    const script = `
      const s = require('node:dgram').createSocket('udp6');
      const got = [];
      s.on('message', (m, r) => {
        got.push(m.toString() + ' from ' + r.address + ' ' + r.port);
        if (got.length < 2) return;
        console.log(got.sort().join('\\n'));
        // ping -6 through the relay too (the egress side's ping answers for it).
        require('node:child_process').execFileSync('ping', ['-6', '-c', '2', '-W', '5', '${SERVER6}'], { stdio: 'inherit' });
        process.exit(0);
      });
      s.send('one', 7, '${SERVER6}');
      s.send('two', 7, '${SERVER6}');
      setTimeout(() => { console.log('got ' + got.length); process.exit(1); }, 20000);
    `;
    const r = await relay(egress, [process.execPath, '-e', script]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`one from ${SERVER6} 7\ntwo from ${SERVER6} 7`);
    expect(r.stdout).toMatch(/2 received/);
    expect(r.stderr).toContain(`[${SERVER6}]:7`);
  }, 60_000);

  it('tunstack ss shows an open IPv6 flow with both sides', async () => {
    const client = netns.uniqueName();
    // A connection to the echo server that stays open until the test makes the file `go` (at
    // most 60 s), however slowly the machine runs `tunstack ss`.
    const go = join(dir, 'go');
    const r = startRelay(egress, client, [
      'sh',
      '-c',
      `(echo hi; i=0; while [ ! -e ${go} ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done) | ` +
        `socat -t 1 - TCP6:[${SERVER6}]:8083`,
    ]);
    const kill = setTimeout(() => r.child.kill('SIGKILL'), 60_000);
    try {
      type Answer = { tcp: { dst: string; client: string; upstreamRemote: string | null }[] };
      let flow: Answer['tcp'][number] | undefined;
      const deadline = Date.now() + 30_000;
      while (flow === undefined && Date.now() < deadline) {
        const a = (await queryControl(controlPath(client), 'relay').catch(
          () => null,
        )) as Answer | null;
        flow = a?.tcp.find((x) => x.dst === `[${SERVER6}]:8083`);
        if (flow === undefined) await new Promise((res) => setTimeout(res, 200));
      }
      expect(flow?.client).toMatch(/^\[fd00:2::100\]:\d+$/);
      expect(flow?.upstreamRemote).toBe(`[${SERVER6}]:8083`);
      const ss = await netns.run(
        [process.execPath, '--import', 'tsx', MAIN, 'ss', '--netns', client],
        { timeoutMs: 20_000 },
      );
      expect(ss.code).toBe(0);
      expect(ss.stdout).toContain(`[${SERVER6}]:8083`);
      expect(ss.stdout).toMatch(/\[fd00:2::100\]:\d+/);
      writeFileSync(go, '');
      const out = await r.done;
      expect(out.code).toBe(0);
      expect(out.stdout).toBe('hi\n');
    } finally {
      clearTimeout(kill);
      r.child.kill('SIGKILL');
      await netns.remove(client).catch(() => {});
    }
  }, 90_000);
}, ['curl', 'socat', 'ping']);
