import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  claimNetns,
  ownerAlive,
  ownerPath,
  processStart,
  readOwner,
} from '../../../src/cli/owner.ts';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tunstack-owner-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('owner file', () => {
  it('refuses a name that is not a plain file name', () => {
    expect(() => ownerPath('../etc')).toThrow(/invalid network namespace name/);
  });

  it('tells a live owner from a dead one and from a reused pid', () => {
    const me = {
      pid: process.pid,
      start: processStart(process.pid),
      netns: 'x',
      createdNetns: false,
    };
    expect(me.start).toMatch(/^\d+$/);
    expect(ownerAlive(me)).toBe(true);
    expect(ownerAlive({ ...me, pid: deadPid() })).toBe(false);
    // The same pid with another start time is another process.
    expect(ownerAlive({ ...me, start: '1' })).toBe(false);
  });

  it('reads a malformed or foreign file as no record', () => {
    const d = tempDir();
    const f = join(d, 'n.pid');
    for (const text of ['', 'not json', '{"pid":-1,"netns":"n"}', '{"pid":3}', '[]']) {
      writeFileSync(f, text);
      expect(readOwner(f)).toBeNull();
    }
    expect(readOwner(join(d, 'absent.pid'))).toBeNull();
  });

  it('claims, refuses a second claim while alive, and releases', async () => {
    const dir = tempDir();
    const claim = await claimNetns('ns1', { dir, inContainer: true, logger });
    expect(readOwner(claim.file)).toMatchObject({ pid: process.pid, createdNetns: false });
    claim.setCreated(true);
    expect(readOwner(claim.file)?.createdNetns).toBe(true);
    await expect(claimNetns('ns1', { dir, inContainer: true, logger })).rejects.toMatchObject({
      code: 'ERR_NETNS_BUSY',
    });
    claim.release();
    expect(existsSync(claim.file)).toBe(false);
    const again = await claimNetns('ns1', { dir, inContainer: true, logger });
    again.release();
  });

  it("reclaims a dead owner's record and stale socket (in a container: no namespace to remove)", async () => {
    const dir = tempDir();
    const file = ownerPath('ns2', dir);
    writeFileSync(
      file,
      JSON.stringify({ pid: deadPid(), start: '5', netns: 'ns2', createdNetns: true }),
    );
    writeFileSync(join(dir, 'ns2.sock'), '');
    const claim = await claimNetns('ns2', { dir, inContainer: true, logger });
    expect(existsSync(join(dir, 'ns2.sock'))).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid });
    claim.release();
  });
});
