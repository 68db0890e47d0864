/**
 * Hostile input, part 3: nmap's scans against the stack (open ports 7 and 80, closed port 81,
 * UDP echo on 7) with the states nmap must report, as it reports them for Linux; and the LAND
 * attack against `tunstack up` as a separate process, as the issue found it (one SYN from
 * 10.0.0.2:80 to 10.0.0.2:80 used to stop the process for good, signals included). Issue 9,
 * items 1, 4 and 5.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, STACK_ADDR, waitFor } from './harness.ts';
import { expectStillServes, hostileGroup, injectRaw, stillServes } from './hostile/inject.ts';
import { tcp } from './hostile/packets.ts';
import { startUp } from './up-process.ts';

/** nmap's XML output: port → state, for one protocol. */
function portStates(xml: string, protocol: 'tcp' | 'udp'): Record<string, string> {
  const out: Record<string, string> = {};
  const re = new RegExp(`<port protocol="${protocol}" portid="(\\d+)"><state state="([^"]+)"`, 'g');
  for (const m of xml.matchAll(re)) out[m[1]] = m[2];
  return out;
}

const SCANS: [string, string[], 'tcp' | 'udp', Record<string, string>][] = [
  ['SYN scan (-sS)', ['-sS', '-p', '7,80,81'], 'tcp', { 7: 'open', 80: 'open', 81: 'closed' }],
  ['connect scan (-sT)', ['-sT', '-p', '7,80,81'], 'tcp', { 7: 'open', 80: 'open', 81: 'closed' }],
  ['UDP scan (-sU)', ['-sU', '-p', '7,81'], 'udp', { 7: 'open', 81: 'closed' }],
  [
    'NULL scan (-sN)',
    ['-sN', '-p', '7,80,81'],
    'tcp',
    { 7: 'open|filtered', 80: 'open|filtered', 81: 'closed' },
  ],
  [
    'FIN scan (-sF)',
    ['-sF', '-p', '7,80,81'],
    'tcp',
    { 7: 'open|filtered', 80: 'open|filtered', 81: 'closed' },
  ],
  [
    'Xmas scan (-sX)',
    ['-sX', '-p', '7,80,81'],
    'tcp',
    { 7: 'open|filtered', 80: 'open|filtered', 81: 'closed' },
  ],
  [
    'ACK scan (-sA)',
    ['-sA', '-p', '7,80,81'],
    'tcp',
    { 7: 'unfiltered', 80: 'unfiltered', 81: 'unfiltered' },
  ],
];

kernelDescribe('hostile input: nmap scans and LAND', () => {
  describe('nmap against the stack (7 and 80 open, 81 closed, UDP 7 open)', () => {
    const g = hostileGroup();
    beforeAll(() => g.open());
    afterAll(() => g.close());

    for (const [name, args, proto, want] of SCANS) {
      it(`${name}: ${Object.entries(want)
        .map(([p, s]) => `${p} ${s}`)
        .join(', ')}`, async () => {
        const r = await g.fx.exec(
          ['nmap', '-n', '-Pn', '-T4', '--max-retries', '2', ...args, '-oX', '-', STACK_ADDR],
          { timeoutMs: 60_000 },
        );
        expect(r.code, r.stderr).toBe(0);
        expect(portStates(r.stdout, proto)).toEqual(want);
      });
    }

    it('OS detection (-O) completes, sees 80 open and 81 closed', async () => {
      const r = await g.fx.exec(
        ['nmap', '-n', '-Pn', '-T4', '-O', '-p', '80,81', '-oX', '-', STACK_ADDR],
        {
          timeoutMs: 90_000,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(portStates(r.stdout, 'tcp')).toEqual({ 80: 'open', 81: 'closed' });
      expect(r.stdout).toMatch(/<os>/);
    }, 90_000);

    it('afterwards the stack still serves (3 pings within 100 ms, curl 200)', () =>
      expectStillServes(g.fx));
  });

  it('LAND: one SYN 10.0.0.2:80 → 10.0.0.2:80 to `tunstack up`: ping and curl answered within a second, SIGUSR1 answered, counted as martian-own-address', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'http,echo']);
    try {
      await waitFor(
        () => up.lines.some((l) => String(l.msg).startsWith('ready:')),
        30_000,
        'the ready line',
      );
      const land = tcp({
        src: STACK_ADDR,
        dst: STACK_ADDR,
        sport: 80,
        dport: 80,
        flags: 'S',
        seq: 0x1234_5678,
      });
      await injectRaw(ns, 'tun0', [land]);
      const fx = {
        exec: (argv: readonly string[], o?: netns.ExecOptions) => netns.exec(ns, argv, o),
      };
      const p = await netns.exec(ns, ['ping', '-n', '-c', '1', '-W', '1', STACK_ADDR]);
      expect(p.stdout, 'ping within a second of LAND').toMatch(/1 received/);
      const c = await netns.exec(ns, [
        'curl',
        '-sS',
        '-m',
        '1',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${STACK_ADDR}/`,
      ]);
      expect(`${c.code} ${c.stdout} ${c.stderr}`, 'curl within a second of LAND').toBe('0 200 ');
      const serves = await stillServes(fx);
      expect(serves.curlOk && serves.pingsAnswered === 3, serves.detail).toBe(true);

      up.child.kill('SIGUSR1');
      await waitFor(() => up.lines.some((l) => l.msg === 'stats'), 10_000, 'the stats line');
      const stats = up.lines.find((l) => l.msg === 'stats') as {
        stats: {
          stack: { ip: { drops: Record<string, number> }; link: { loopbackPackets: number } };
        };
      };
      expect(stats.stats.stack.ip.drops['martian-own-address']).toBe(1);
      expect(stats.stats.stack.link.loopbackPackets).toBe(0);

      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  }, 60_000);
}, ['python3', 'ping', 'curl', 'nmap']);
