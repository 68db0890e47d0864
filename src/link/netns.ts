/**
 * Network namespaces, through iproute2's `ip netns` (man ip-netns).
 *
 * Every packet tunstack produces in tests and demos stays inside a namespace we create: the TUN
 * device and its host-side address live there, and kernel-side peers (ping, socat, a Node
 * one-liner) run there with `ip netns exec`. `ip netns add NAME` bind-mounts the new namespace
 * at /var/run/netns/NAME, which is the path the TUN addon setns()es into.
 *
 * Names made here look like `tsk-<pid>-<counter>-<random>` so that cleanupLeftovers() can tell
 * which process created a namespace and remove the ones whose creator has died (a test run that
 * was killed before its finally block).
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';

/** Where `ip netns add` bind-mounts named namespaces. */
export const NETNS_DIR = '/var/run/netns';
/** The project prefix for namespaces we create. */
export const NETNS_PREFIX = 'tsk';

/** iproute2 accepts any file name; we accept a conservative subset (no '/', no '..'). */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

let counter = 0;

/** A fresh name: `<prefix>-<pid>-<counter>-<random>`, unique within and across processes. */
export function uniqueName(prefix: string = NETNS_PREFIX): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8).padEnd(6, '0');
  return `${prefix}-${process.pid}-${counter}-${random}`;
}

/** The path of a named namespace, after checking that the name is a plain file name. */
export function netnsPath(name: string): string {
  checkNetnsName(name);
  return `${NETNS_DIR}/${name}`;
}

/** Throws a TypeError (code ERR_INVALID_ARG_VALUE) unless `name` is a plain file name. */
export function checkNetnsName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw Object.assign(new TypeError(`invalid network namespace name: ${JSON.stringify(name)}`), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  }
}

export interface ExecOptions {
  /** Kill the command after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /** Bytes or text written to the command's stdin. */
  input?: string | Uint8Array;
  /** Signal used on timeout (default SIGKILL: a hung ping must not outlive the test). */
  killSignal?: NodeJS.Signals;
}

export interface ExecResult {
  /** Exit code, or null if the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True if the command was killed because it ran past timeoutMs. */
  timedOut: boolean;
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Run argv[0] with arguments, bounded in time and output. Resolves with the exit status whatever
 * it was (ping exits 1 on loss, and the caller wants to see that); rejects only if the program
 * could not be started at all.
 */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new TypeError('run: empty argv'));
  const timeout = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        timeout,
        killSignal: opts.killSignal ?? 'SIGKILL',
        maxBuffer: MAX_OUTPUT,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string }) | null;
        if (e && typeof e.code === 'string') {
          // ENOENT and friends: the program does not exist or could not be spawned.
          reject(e);
          return;
        }
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          stdout,
          stderr,
          timedOut: e?.killed === true && child.signalCode !== null,
        });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like run(), but a non-zero exit becomes an Error carrying the command's stderr. */
export async function runChecked(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const why = r.timedOut
      ? `timed out after ${opts.timeoutMs ?? 10_000} ms`
      : `exit ${r.code ?? r.signal}`;
    throw Object.assign(new Error(`${argv.join(' ')}: ${why}: ${r.stderr.trim()}`), {
      code: 'ERR_CHILD_FAILED',
      result: r,
    });
  }
  return r.stdout;
}

/** Run a command inside namespace `ns` (`ip netns exec NS argv...`). */
export function exec(
  ns: string,
  argv: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  checkNetnsName(ns);
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

/** Run `ip -n NS args...` (configure links, addresses, routes inside the namespace). */
export function ip(ns: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  checkNetnsName(ns);
  return runChecked(['ip', '-n', ns, ...args], opts);
}

/** Names of all named network namespaces. */
export async function list(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function exists(name: string): Promise<boolean> {
  checkNetnsName(name);
  return (await list()).includes(name);
}

/** Create namespace `name` and bring its loopback up. */
export async function create(name: string): Promise<void> {
  checkNetnsName(name);
  await runChecked(['ip', 'netns', 'add', name]);
  try {
    await ip(name, ['link', 'set', 'dev', 'lo', 'up']);
  } catch (err) {
    await remove(name).catch(() => {});
    throw err;
  }
}

/** Delete namespace `name`. Deleting one that does not exist is not an error. */
export async function remove(name: string): Promise<void> {
  checkNetnsName(name);
  if (!(await exists(name))) return;
  await runChecked(['ip', 'netns', 'delete', name]);
}

/** Is process `pid` alive? (signal 0 checks without sending anything) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove namespaces named `<prefix>-<pid>-...` whose creating process is gone. Returns the names
 * removed. Namespaces of live processes (other test files, other engineers) are left alone.
 */
export async function cleanupLeftovers(prefix: string = NETNS_PREFIX): Promise<string[]> {
  const re = new RegExp(`^${prefix.replace(/[^A-Za-z0-9_]/g, '\\$&')}-(\\d+)-\\d+-[a-z0-9]+$`);
  const removed: string[] = [];
  for (const name of await list()) {
    const m = re.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      await remove(name);
      removed.push(name);
    } catch {
      // Another process may be cleaning up the same leftovers at the same moment.
    }
  }
  return removed;
}
