/**
 * `tunstack relay` against the kernel (issue 13), with the network safety the issue asks for:
 * the test makes an egress namespace of its own holding the servers (relay-servers.ts on
 * 10.9.0.1, a loopback address inside it), and runs `ip netns exec EGRESS tunstack relay
 * --netns CLIENT -- COMMAND`: the relay dials from EGRESS, so no relayed packet leaves the
 * namespaces the test made. Nothing here relays from the root namespace.
 *
 *   EGRESS (the test's): lo 10.9.0.1/32, the servers, `tunstack relay` (the stack 10.0.2.2)
 *   CLIENT (the relay's): tun0 10.0.2.100/24, default via 10.0.2.2, resolv.conf → 10.0.2.3
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { controlPath, queryControl } from '../../src/cli/control.ts';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, waitFor } from './harness.ts';
import { type Egress, relayRunner, startEgress } from './relay-run.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SERVERS = fileURLToPath(new URL('./relay-servers.ts', import.meta.url));
const SERVER = '10.9.0.1';
const SIZE = 100 * 1024 * 1024;

/** Poll an async condition every `everyMs` until it holds; the bound only limits a failure. */
async function waitForAsync(
  pred: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const { startRelay, relay } = relayRunner(SERVER, 'relay');

kernelDescribe('tunstack relay: a namespace networked through the stack', () => {
  let egress = '';
  let dir = '';
  let file = '';
  let sha = '';
  let serverOut: string[] = [];
  let eg: Egress | null = null;

  beforeAll(async () => {
    eg = await startEgress({
      addr: SERVER,
      size: SIZE,
      tag: 'relay',
      serverArgs: (f) => ['--import', 'tsx', SERVERS, SERVER, f],
    });
    ({ ns: egress, dir, file, sha, serverOut } = eg);
  }, 60_000);

  afterAll(async () => {
    await eg?.stop();
  });

  it('downloads and uploads 100 MB with sha256 intact, and exits 0 as curl did', async () => {
    const r = await relay(egress, [
      'sh',
      '-c',
      `curl -sS http://${SERVER}:8080/file | sha256sum && ` +
        `curl -sS --data-binary @${file} http://${SERVER}:8080/upload`,
    ]);
    expect(r.code).toBe(0);
    const [down, up] = r.stdout.trim().split('\n');
    expect(down.split(/\s+/)[0]).toBe(sha);
    expect(up).toBe(`${sha} ${SIZE}`);
    // The exit summary names the destination and the bytes.
    expect(r.stderr).toMatch(/2 TCP dials \(2 connected/);
    expect(r.stderr).toContain(`${SERVER}:8080`);
  }, 120_000);

  it("exits with the command's status", async () => {
    const notFound = await relay(egress, [
      'curl',
      '-sSf',
      '-o',
      '/dev/null',
      `http://${SERVER}:8080/nope`,
    ]);
    expect(notFound.code).toBe(22);
    const three = await relay(egress, ['sh', '-c', 'exit 3']);
    expect(three.code).toBe(3);
  }, 60_000);

  it('a closed port is refused and an unreachable host fails, as without the relay', async () => {
    const closed = await relay(egress, ['curl', '-sS', `http://${SERVER}:9/`]);
    expect(closed.code).toBe(7);
    expect(closed.stderr).toMatch(/1 refused/);
    // 10.9.9.9 has no route on the egress side: the same failure there and through the relay.
    const direct = await netns.exec(egress, ['curl', '-sS', '-m', '20', 'http://10.9.9.9/'], {
      timeoutMs: 30_000,
    });
    const relayed = await relay(egress, ['curl', '-sS', '-m', '20', 'http://10.9.9.9/']);
    expect(direct.code).toBe(7);
    expect(relayed.code).toBe(direct.code);
    expect(relayed.stderr).toMatch(/1 unreachable/);
  }, 90_000);

  it('answers ICMP host unreachable for a host silent past --connect-timeout', async () => {
    // A silent host inside EGRESS: 10.9.7.0/24 via a neighbour whose MAC nobody has, on a veth
    // pair whose both ends are in EGRESS (the SYNs die at v1; nothing leaves the namespace).
    await netns.ip(egress, ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await netns.ip(egress, ['addr', 'add', '10.8.0.1/24', 'dev', 'v0']);
    await netns.ip(egress, ['link', 'set', 'v0', 'up']);
    await netns.ip(egress, ['link', 'set', 'v1', 'up']);
    await netns.ip(egress, [
      'neigh',
      'add',
      '10.8.0.2',
      'lladdr',
      '02:00:00:00:00:01',
      'dev',
      'v0',
      'nud',
      'permanent',
    ]);
    await netns.ip(egress, ['route', 'add', '10.9.7.0/24', 'via', '10.8.0.2', 'dev', 'v0']);
    try {
      const r = await relay(egress, ['curl', '-sS', '-m', '30', 'http://10.9.7.7/'], 60_000, [
        '--connect-timeout',
        '1500',
      ]);
      // curl hears "no route to host" (the ICMP), long before its own 30 s.
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/1 unreachable/);
      expect(r.stderr).toMatch(/10\.9\.7\.7:80.*unreachable/);
    } finally {
      await netns.ip(egress, ['link', 'del', 'v0']).catch(() => {});
    }
  }, 60_000);

  it('resolves a name through the relayed DNS (resolv.conf → 10.0.2.3 → the egress resolver)', async () => {
    const r = await relay(egress, [
      'sh',
      '-c',
      'cat /etc/resolv.conf; getent hosts relay.test; ' +
        `curl -s -o /dev/null -w '%{http_code}\\n' http://relay.test:8080/nope`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nameserver 10.0.2.3');
    expect(r.stdout).toMatch(/^10\.9\.0\.1\s+relay\.test$/m);
    expect(r.stdout).toMatch(/^404$/m);
    expect(r.stderr).toMatch(/DNS queries/);
  }, 60_000);

  it('records relayed flows with --pcap, and tunstack ladder draws them', async () => {
    const pcap = join(dir, 'relay.pcap');
    const r = await relay(
      egress,
      ['curl', '-sS', '-o', '/dev/null', `http://${SERVER}:8080/nope`],
      60_000,
      ['--pcap', pcap],
    );
    expect(r.code).toBe(0);
    const list = await netns.run(
      [process.execPath, '--import', 'tsx', MAIN, 'ladder', pcap, '--list'],
      { timeoutMs: 20_000 },
    );
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`10\\.0\\.2\\.100:\\d+\\s+${SERVER.replace(/\./g, '\\.')}:8080`),
    );
    const ladder = await netns.run([process.execPath, '--import', 'tsx', MAIN, 'ladder', pcap], {
      timeoutMs: 20_000,
    });
    expect(ladder.stdout).toMatch(/SYN\/ACK/);
    expect(ladder.stdout).toMatch(/TIME_WAIT|CLOSED/);
  }, 60_000);

  it('answers ping to a far address through the egress side', async () => {
    const r = await relay(egress, ['ping', '-c', '2', '-W', '5', SERVER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 received/);
  }, 60_000);

  it('keeps a half-close: the answer after the client FIN still arrives, then FIN', async () => {
    // socat shuts down its sending side at stdin's EOF and reads on (-t: up to 20 s).
    const r = await relay(egress, [
      'sh',
      '-c',
      `printf hello | socat -t 20 - TCP:${SERVER}:8083; echo " socat=$?"`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hello socat=0\n');
  }, 60_000);

  it('resets both sides of a flow idle past --idle-timeout', async () => {
    // A connection that says nothing for 30 s; the relay gives up on the idle flow long before.
    const script = `
      const s = require('node:net').connect(8083, '${SERVER}');
      s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
      s.on('close', () => { console.log('closed'); process.exit(0); });
      setTimeout(() => { console.log('still open'); process.exit(0); }, 30000);
    `;
    const r = await relay(egress, [process.execPath, '-e', script], 60_000, [
      '--idle-timeout',
      '1000',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('error ECONNRESET\n');
    expect(r.stderr).toMatch(/8083.*reset/);
  }, 60_000);

  it('carries 1 000 concurrent connections', async () => {
    const n = 1000;
    const script = `
        const net = require('node:net');
        const N = ${n};
        let open = 0, done = 0, failed = 0;
        const socks = [];
        const finish = () => { if (done + failed === N) { console.log('done ' + done + ' failed ' + failed); process.exit(failed ? 1 : 0); } };
        for (let i = 0; i < N; i++) {
          const s = net.connect(8083, '${SERVER}');
          socks.push(s);
          let got = '';
          s.on('error', () => { failed++; finish(); });
          s.on('connect', () => {
            // All N open at once before any of them speaks.
            if (++open === N) for (const t of socks) t.write('hello ' + socks.indexOf(t) + '\\n');
          });
          s.on('data', (d) => {
            got += d;
            if (got.endsWith('\\n')) { if (got === 'hello ' + i + '\\n') done++; else failed++; s.end(); finish(); }
          });
        }
        setTimeout(() => { console.log('open ' + open + ' done ' + done); process.exit(2); }, 90000);
      `;
    const r = await relay(egress, [process.execPath, '-e', script], 120_000);
    expect(r.stdout.trim()).toBe(`done ${n} failed 0`);
    expect(r.code).toBe(0);
  }, 150_000);

  it('a slow reader upstream stalls the flow instead of growing memory; ss shows both sides', async () => {
    const total = 50_000_000;
    const client = netns.uniqueName();
    const r = startRelay(egress, client, [
      'sh',
      '-c',
      `head -c ${total} /dev/zero | socat -u - TCP:${SERVER}:8082`,
    ]);
    const kill = setTimeout(() => r.child.kill('SIGKILL'), 120_000);
    try {
      type Answer = {
        tcp: { dst: string; bytesUp: number; upstreamRemote: string | null; client: string }[];
        memory: NodeJS.MemoryUsage;
      };
      const ask = async () =>
        (await queryControl(controlPath(client), 'relay').catch(() => null)) as Answer | null;
      // Wait until the flow exists and its byte count stops moving: the sink reads nothing.
      let last = -1;
      let still = 0;
      let a: Answer | null = null;
      await waitForAsync(
        async () => {
          a = await ask();
          const f = a?.tcp.find((x) => x.dst === `${SERVER}:8082`);
          if (f === undefined) return false;
          still = f.bytesUp === last && f.bytesUp > 0 ? still + 1 : 0;
          last = f.bytesUp;
          return still >= 4;
        },
        60_000,
        'the flow to stall',
        250,
      );
      const answer = a as unknown as Answer;
      const flow = answer.tcp.find((x) => x.dst === `${SERVER}:8082`);
      expect(flow?.upstreamRemote).toBe(`${SERVER}:8082`);
      expect(flow?.client).toMatch(/^10\.0\.2\.100:\d+$/);
      // Most of the 50 MB is still at the client: the window closed, nothing piled up here.
      console.log(
        `[relay] slow sink: stalled at ${last} B of ${total} relayed; relay heap ` +
          `${answer.memory.heapUsed} B, arrayBuffers ${answer.memory.arrayBuffers} B`,
      );
      expect(last).toBeLessThan(total / 2);
      expect(answer.memory.arrayBuffers).toBeLessThan(24 * 1024 * 1024);
      // `tunstack ss` prints the relayed flow with both sides.
      const ss = await netns.run(
        [process.execPath, '--import', 'tsx', MAIN, 'ss', '--netns', client],
        { timeoutMs: 20_000 },
      );
      expect(ss.code).toBe(0);
      expect(ss.stdout).toMatch(/relayed/i);
      expect(ss.stdout).toContain(`${SERVER}:8082`);
      // Let the sink read: every byte arrives, and the relay exits with socat's status.
      await netns.exec(egress, ['curl', '-sS', `http://${SERVER}:8080/release`]);
      const out = await r.done;
      expect(out.code).toBe(0);
      await waitFor(() => serverOut.includes(`slow ${total}`), 30_000, 'the sink to count');
    } finally {
      clearTimeout(kill);
      r.child.kill('SIGKILL');
      await netns.remove(client).catch(() => {});
    }
  }, 150_000);
}, ['curl', 'socat', 'ping']);
