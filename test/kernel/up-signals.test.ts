/**
 * `tunstack up` leaves nothing behind, however it ends (issue 9): SIGHUP (a closed terminal) and
 * a second Ctrl-C clean up as SIGINT and SIGTERM do (the namespace it created, its control socket
 * and its owner file, /run/tunstack/NS.{sock,pid}); after a SIGKILL the next `up` for the
 * namespace reclaims them and, owning the namespace now, removes it when it stops; and a second
 * `up` for a namespace whose owner is alive is refused.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CONTROL_DIR } from '../../src/cli/control.ts';
import * as netns from '../../src/link/netns.ts';
import { kernelDescribe, waitFor } from './harness.ts';
import { msgs, startUp as startUpArgs, type UpProcess as Up } from './up-process.ts';

const startUp = (ns: string): Up => startUpArgs(['--netns', ns, '--apps', 'echo']);

const ready = (up: Up) =>
  waitFor(() => msgs(up).some((m) => m.startsWith('ready:')), 20_000, 'the ready line');
const sock = (ns: string) => `${CONTROL_DIR}/${ns}.sock`;
const pidFile = (ns: string) => `${CONTROL_DIR}/${ns}.pid`;

async function leftovers(ns: string) {
  return {
    netns: await netns.exists(ns),
    socket: existsSync(sock(ns)),
    pidFile: existsSync(pidFile(ns)),
  };
}
const NOTHING = { netns: false, socket: false, pidFile: false };

/** Whatever a test leaves, even on failure. */
async function cleanup(ns: string, ...ups: Up[]) {
  for (const up of ups) if (up.child.exitCode === null) up.child.kill('SIGKILL');
  for (const up of ups) await up.exited;
  await netns.remove(ns);
  for (const f of [sock(ns), pidFile(ns)]) {
    try {
      unlinkSync(f);
    } catch {}
  }
}

kernelDescribe('tunstack up: signals and leftovers', () => {
  it('SIGHUP removes the namespace it created, its control socket and its owner file', async () => {
    const ns = netns.uniqueName();
    const up = startUp(ns);
    try {
      await ready(up);
      expect(await leftovers(ns)).toEqual({ netns: true, socket: true, pidFile: true });
      const owner = JSON.parse(readFileSync(pidFile(ns), 'utf8'));
      expect(owner).toMatchObject({ pid: up.child.pid, netns: ns, createdNetns: true });
      up.child.kill('SIGHUP');
      expect(await up.exited).toEqual({ code: 0, signal: null });
      expect(msgs(up)).toContain('stopped');
      expect(await leftovers(ns)).toEqual(NOTHING);
    } finally {
      await cleanup(ns, up);
    }
  });

  it('a second Ctrl-C exits at once and still removes everything', async () => {
    const ns = netns.uniqueName();
    const up = startUp(ns);
    try {
      await ready(up);
      up.child.kill('SIGINT');
      up.child.kill('SIGINT');
      const { code } = await up.exited;
      // 130 when the second signal came before the orderly close finished (the usual case), 0
      // when it did not: either way nothing stays.
      expect([0, 130]).toContain(code);
      expect(await leftovers(ns)).toEqual(NOTHING);
    } finally {
      await cleanup(ns, up);
    }
  });

  it('after a SIGKILL the next start reclaims the namespace and removes it when it stops; a live owner is not displaced', async () => {
    const ns = netns.uniqueName();
    const first = startUp(ns);
    let second: Up | undefined;
    let third: Up | undefined;
    try {
      await ready(first);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      // A killed process cleans nothing: this is what the next start finds.
      expect(await leftovers(ns)).toEqual({ netns: true, socket: true, pidFile: true });

      second = startUp(ns);
      await ready(second);
      expect(msgs(second)).toContain('reclaiming what a killed tunstack left for this namespace');
      expect(msgs(second)).toContain('created network namespace');
      const owner = JSON.parse(readFileSync(pidFile(ns), 'utf8'));
      expect(owner).toMatchObject({ pid: second.child.pid, createdNetns: true });

      // While it runs, another start for the same namespace is refused and changes nothing.
      third = startUp(ns);
      const refused = await third.exited;
      expect(refused.code).toBe(1);
      expect(third.stderr()).toContain('ERR_NETNS_BUSY');
      expect(await leftovers(ns)).toEqual({ netns: true, socket: true, pidFile: true });
      expect(second.child.exitCode).toBeNull();

      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      expect(await leftovers(ns)).toEqual(NOTHING);
    } finally {
      await cleanup(ns, first, ...(second ? [second] : []), ...(third ? [third] : []));
    }
  });
});
