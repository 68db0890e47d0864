/**
 * src/link/netns.ts against iproute2: names, create/remove, exec with timeouts, and the cleanup
 * of namespaces whose creator died.
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe } from './harness.ts';

kernelDescribe('netns helpers', () => {
  it('makes unique, parseable names and refuses path-like ones', () => {
    const a = netns.uniqueName();
    const b = netns.uniqueName();
    expect(a).toMatch(new RegExp(`^tsk-${process.pid}-\\d+-[a-z0-9]{6}$`));
    expect(a).not.toBe(b);
    expect(netns.netnsPath(a)).toBe(`/var/run/netns/${a}`);
    for (const bad of ['', '../etc', 'a/b', '.hidden', 'x'.repeat(64)]) {
      expect(() => netns.netnsPath(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
      );
    }
  });

  it('creates a namespace with loopback up, runs commands in it, and removes it', async () => {
    const ns = netns.uniqueName();
    await netns.create(ns);
    try {
      expect(await netns.exists(ns)).toBe(true);
      const lo = await netns.ip(ns, ['-o', 'link', 'show', 'dev', 'lo']);
      expect(lo).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
      const ping = await netns.exec(ns, ['ping', '-n', '-c', '1', '-W', '1', '127.0.0.1']);
      expect(ping.code, ping.stderr).toBe(0);
      // Inside, only lo: the root namespace's devices are not visible.
      const links = await netns.ip(ns, ['-o', 'link', 'show']);
      expect(links.trim().split('\n')).toHaveLength(1);

      const slow = await netns.exec(ns, ['sleep', '5'], { timeoutMs: 200 });
      expect(slow).toMatchObject({ timedOut: true, signal: 'SIGKILL', code: null });
      const failed = await netns.exec(ns, ['sh', '-c', 'echo oops >&2; exit 3']);
      expect(failed).toMatchObject({ code: 3, stderr: 'oops\n', timedOut: false });
      await expect(netns.ip(ns, ['link', 'show', 'dev', 'nope0'])).rejects.toMatchObject({
        code: 'ERR_CHILD_FAILED',
      });
    } finally {
      await netns.remove(ns);
    }
    expect(await netns.exists(ns)).toBe(false);
    await netns.remove(ns); // removing twice is fine
  });

  it('cleanupLeftovers removes the namespaces of dead creators only', async () => {
    const prefix = `tskh2t${process.pid}`;
    const dead = spawnSync('true').pid!; // a pid that has exited
    const orphan = `${prefix}-${dead}-1-abcdef`;
    const mine = `${prefix}-${process.pid}-1-abcdef`;
    const other = `${prefix}x-${dead}-1-abcdef`; // another prefix: not ours to touch
    for (const n of [orphan, mine, other]) await netns.create(n);
    try {
      expect(await netns.cleanupLeftovers(prefix)).toEqual([orphan]);
      expect(await netns.exists(orphan)).toBe(false);
      expect(await netns.exists(mine)).toBe(true);
      expect(await netns.exists(other)).toBe(true);
    } finally {
      for (const n of [orphan, mine, other]) await netns.remove(n);
    }
  });
}, ['ping']);
