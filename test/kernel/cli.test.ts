/**
 * `tunstack up` as a person runs it: a separate process that creates its namespace, prints one
 * ready line, answers ping, prints stats on SIGUSR1, and on SIGTERM closes and removes the
 * namespace it created (and only that one).
 */
import { expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, parsePing, waitFor } from './harness.ts';
import { msgs, startUp } from './up-process.ts';

kernelDescribe('tunstack up (the CLI)', () => {
  it('creates its namespace, says ready, answers ping, and removes the namespace on SIGTERM', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'udp-echo']);
    try {
      await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
      const ready = up.lines.find((l) => String(l.msg).startsWith('ready:'))!;
      expect(ready).toMatchObject({ address: '10.0.0.2', dev: 'tun0', netns: ns });
      expect(ready.msg).toContain(`ip netns exec ${ns} ping 10.0.0.2`);
      expect(ready.msg).toContain(`ip netns exec ${ns} curl http://10.0.0.2/`);
      expect(await netns.exists(ns)).toBe(true);

      const r = await netns.exec(ns, [
        'ping',
        '-n',
        '-c',
        '3',
        '-i',
        '0.05',
        '-w',
        '5',
        '10.0.0.2',
      ]);
      expect(parsePing(r.stdout).received, r.stdout).toBe(3);

      up.child.kill('SIGUSR1');
      await waitFor(() => msgs(up).includes('stats'), 10_000, 'the stats line');
      const stats = up.lines.find((l) => l.msg === 'stats') as {
        stats: { stack: { icmp: { rxEchoRequests: number } }; tun: { rxPackets: number } };
      };
      expect(stats.stats.stack.icmp.rxEchoRequests).toBe(3);
      expect(stats.stats.tun.rxPackets).toBeGreaterThanOrEqual(3);

      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
      expect(msgs(up)).toContain('stopped');
      expect(await netns.exists(ns)).toBe(false);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('leaves a namespace it did not create in place', async () => {
    const ns = netns.uniqueName();
    await netns.create(ns);
    try {
      const up = startUp(['--netns', ns, '--apps', '']);
      await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
      up.child.kill('SIGINT');
      expect((await up.exited).code).toBe(0);
      expect(await netns.exists(ns)).toBe(true);
      // The device went away with the process.
      const show = await netns.exec(ns, ['ip', 'link', 'show', 'dev', 'tun0']);
      expect(show.code).not.toBe(0);
    } finally {
      await netns.remove(ns);
    }
  });

  it('refuses bad options before creating anything', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--addr', '10.0.0.300']);
    expect((await up.exited).code).not.toBe(0);
    expect(await netns.exists(ns)).toBe(false);
  });
}, ['ping']);

kernelDescribe('tunstack up for a person: log formats and the / page', () => {
  /** Not JSON: a pretty line, or the plain ready text. */
  const isJson = (line: string): boolean => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false;
    }
  };

  it('--log-format pretty: human log lines, the ready text plain; / is HTML for a browser only', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', 'http,styles', '--log-format', 'pretty']);
    try {
      await waitFor(() => up.raw.some((l) => l.startsWith('ready:')), 20_000, 'the ready line');
      const at = up.raw.findIndex((l) => l.startsWith('ready:'));
      expect(up.raw[at]).toBe(
        `ready: stack 10.0.0.2 and fd00::2 on tun0 in netns ${ns} (host side 10.0.0.1/24, fd00::1/64)`,
      );
      const block = up.raw.slice(at, at + 8).join('\n');
      expect(block).toContain(`ip netns exec ${ns} ping 10.0.0.2`);
      expect(block).toContain(`ip netns exec ${ns} ping -6 fd00::2`);
      expect(block).toContain(`ip netns exec ${ns} curl http://10.0.0.2/`);
      expect(block).toContain(`ip netns exec ${ns} curl -6 http://[fd00::2]/`);
      expect(block).toContain('http://10.0.0.2:8080/');
      expect(block).toContain(`tunstack ss -i --netns ${ns}`);
      // Before it, the log as a person reads it: "[time] LEVEL: message {fields}", a line each.
      const before = up.raw.slice(0, at);
      expect(before.some((l) => / INFO: created network namespace \{"netns":/.test(l))).toBe(true);
      for (const l of before) expect(l).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+: \S/);
      expect(up.raw.filter(isJson)).toEqual([]);

      // The HTTP app's / as a browser asks for it, and as curl does.
      const html = await netns.exec(ns, [
        'curl',
        '-s',
        '-m',
        '5',
        '-H',
        'Accept: text/html,*/*;q=0.8',
        'http://10.0.0.2/',
      ]);
      expect(html.stdout.startsWith('<!doctype html>')).toBe(true);
      expect(html.stdout).toContain('<a href="http://10.0.0.2:8080/">');
      const text = await netns.exec(ns, ['curl', '-s', '-m', '5', 'http://10.0.0.2/']);
      expect(text.stdout).toMatch(/^tunstack: a userspace TCP\/IP stack in TypeScript\n/);

      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
      expect(up.raw.some((l) => / INFO: stopped( \{|$)/.test(l))).toBe(true);
      expect(up.raw.filter(isJson)).toEqual([]);
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });

  it('--log-format json: every line one JSON object, the ready record among them', async () => {
    const ns = netns.uniqueName();
    const up = startUp(['--netns', ns, '--apps', '', '--log-format', 'json']);
    try {
      await waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
      up.child.kill('SIGTERM');
      expect((await up.exited).code).toBe(0);
      expect(up.raw.length).toBeGreaterThan(2);
      for (const l of up.raw) expect(isJson(l), l).toBe(true);
      expect(up.lines.find((l) => String(l.msg).startsWith('ready:'))).toMatchObject({
        level: 30,
        netns: ns,
        try: expect.arrayContaining([`ip netns exec ${ns} ping 10.0.0.2`]),
      });
    } finally {
      up.child.kill('SIGKILL');
      await netns.remove(ns);
    }
  });
}, ['curl']);
