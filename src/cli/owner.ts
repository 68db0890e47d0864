/**
 * Who runs `tunstack up` for a namespace: one small JSON file beside the control socket,
 * /run/tunstack/<netns>.pid, holding the owner's pid, the process's start time (so that a reused
 * pid is not taken for the owner) and whether that run created the namespace.
 *
 * A run killed with SIGKILL (or a machine's OOM killer) gets no chance to clean up: its namespace,
 * control socket and this file stay. The next `up` for the same namespace reads the file, sees the
 * owner is gone, and reclaims what it left: it deletes the namespace if that run had created it
 * (it then creates it afresh, so this run owns it and removes it in turn) and the stale socket.
 * While the owner is alive a second `up` for its namespace is refused (ERR_NETNS_BUSY).
 * A namespace with no owner file was made by someone else: it is used and left in place.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as netns from '../link/netns.ts';
import { CONTROL_DIR, controlPath } from './control.ts';
import type { Logger } from './logger.ts';

export interface OwnerRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot), or null where there is no /proc. */
  start: string | null;
  netns: string;
  /** That run created the namespace, so it (or whoever reclaims it) must remove it. */
  createdNetns: boolean;
}

/** The owner file of namespace `name` (a plain name: checked as `ip netns` names are). */
export function ownerPath(name: string, dir: string = CONTROL_DIR): string {
  netns.checkNetnsName(name);
  return `${dir}/${name}.pid`;
}

/** Fields 3.. of /proc/PID/stat (state first), or null if there is no such process. */
function statFields(pid: number): string[] | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the
  // last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** When process `pid` started (field 22 of /proc/PID/stat), or null if it does not exist. */
export function processStart(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** Is the process that wrote `rec` still running (the same process, not a reused pid)? */
export function ownerAlive(rec: OwnerRecord): boolean {
  try {
    process.kill(rec.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = statFields(rec.pid);
  if (fields === null) return rec.start === null; // no /proc here: kill(0) is all we know
  // A killed owner nobody has reaped yet is a zombie: it still answers kill(0), but it is gone.
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return rec.start === null || fields[19] === rec.start;
}

/** The record in `file`, or null when there is none or it is not one (then it is stale). */
export function readOwner(file: string): OwnerRecord | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const r = JSON.parse(text) as Partial<OwnerRecord>;
    if (!Number.isInteger(r.pid) || (r.pid as number) <= 0 || typeof r.netns !== 'string')
      return null;
    return {
      pid: r.pid as number,
      start: typeof r.start === 'string' ? r.start : null,
      netns: r.netns,
      createdNetns: r.createdNetns === true,
    };
  } catch {
    return null;
  }
}

function busy(rec: OwnerRecord, name: string): Error {
  return Object.assign(
    new Error(`tunstack (pid ${rec.pid}) is already running in namespace ${name}`),
    { code: 'ERR_NETNS_BUSY' },
  );
}

export interface Claim {
  readonly file: string;
  /** Tell the record that this run created the namespace (written at once). */
  setCreated(created: boolean): void;
  /** Remove the file if it is still ours (synchronous: also called from the 'exit' hook). */
  release(): void;
}

/**
 * Claim namespace `name` for this process. A record left by a dead owner is reclaimed first:
 * its namespace removed if it had created it (unless `inContainer`, where the name only names
 * the socket), its stale control socket and record deleted. Throws ERR_NETNS_BUSY while a live
 * owner holds the name. The record is written with O_EXCL, so of two runs started at once only
 * one gets it.
 */
export async function claimNetns(
  name: string,
  o: { inContainer?: boolean; dir?: string; logger: Logger },
): Promise<Claim> {
  const dir = o.dir ?? CONTROL_DIR;
  const file = ownerPath(name, dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const prev = readOwner(file);
  if (prev !== null && ownerAlive(prev)) throw busy(prev, name);
  let stale = false;
  try {
    readFileSync(file);
    stale = true;
  } catch {}
  if (stale) {
    o.logger.warn(
      { netns: name, pid: prev?.pid, createdNetns: prev?.createdNetns ?? false },
      'reclaiming what a killed tunstack left for this namespace',
    );
    if (prev?.createdNetns && !o.inContainer) await netns.remove(name);
    for (const f of [controlPath(name, dir), file]) {
      try {
        unlinkSync(f);
      } catch {}
    }
  }
  const rec: OwnerRecord = {
    pid: process.pid,
    start: processStart(process.pid),
    netns: name,
    createdNetns: false,
  };
  try {
    writeFileSync(file, `${JSON.stringify(rec)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = readOwner(file);
    throw busy(other ?? { ...rec, pid: 0 }, name);
  }
  let released = false;
  return {
    file,
    setCreated(created: boolean) {
      if (released) return;
      rec.createdNetns = created;
      writeFileSync(file, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    },
    release() {
      if (released) return;
      released = true;
      if (readOwner(file)?.pid !== process.pid) return;
      try {
        unlinkSync(file);
      } catch {}
    },
  };
}
