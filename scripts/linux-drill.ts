/**
 * Run Linux's own packetdrill scripts (a checkout's gtests/net/tcp, given by path, never copied
 * into this repository) through tunstack's drill runner under `--profile linux`, and print a
 * table per directory: passed, failed with its first mismatch, skipped for a feature out of scope.
 *
 *   npx tsx scripts/linux-drill.ts /tmp/pd/gtests/net/tcp [--target core|stack] [--out FILE.md]
 *     [--ip_version ipv4|ipv6|ipv4-mapped-ipv6]   (over IPv6 with MTU 1520, as run_all.py)
 *
 * Every .pkt under PATH runs as `tunstack drill --profile linux --no-strict-end` would run it
 * (Linux's scripts do not list the ACKs after their last line), on a fresh target, in a child
 * process that is killed and replaced when one script takes longer than --timeout seconds of wall
 * clock (a failure, "timed out"). The child's stdout is discarded (the stack target logs there).
 *
 * Skipped = the runner reports something it does not know, named in the reason: grammar it does
 * not parse (a syntax error: ECN's `[ect0]`, an ICMP packet, a TCP option such as MD5), a system
 * call, ioctl, fcntl or symbol it does not have, or a socket option the target refuses with
 * ENOPROTOOPT where the script expects success; or a script about TCP Fast Open that does not
 * pass (by the socket options, flags, sysctl or TCP option it uses: fastOpenUse). Everything else
 * that is not a pass is a failure, with the script line and what differed. The percentage passing
 * is of the scripts not skipped.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDrillFiles } from '../src/cli/drill.ts';
import type { DrillResult } from '../src/drill/run.ts';
import { IP_VERSIONS, type IpVersion } from '../src/drill/target.ts';

export type Target = 'core' | 'stack';

export type Outcome =
  | { kind: 'pass' }
  | { kind: 'fail'; detail: string }
  | { kind: 'skip'; reason: string };

export interface ScriptRow {
  /** Directory relative to the root ('.' for the root itself), with '/' separators. */
  dir: string;
  name: string;
  outcome: Outcome;
}

/** What running one script gave: the runner's result, or why there is none. */
export type RunAnswer = { result: DrillResult } | { error: string } | { timedOut: true };

/** Runs one script (path, target) and answers; may never settle (the pool bounds it). */
export type RunOne = (file: string, target: Target, ipVersion?: IpVersion) => Promise<RunAnswer>;

/** Default wall-clock bound per script, seconds. */
export const DEFAULT_TIMEOUT_S = 20;
/** How much of a script line or a message goes into a table cell. */
const MAX_CELL = 160;

/** Every .pkt under root, sorted by path. */
export function findScripts(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    // Dirents do not follow symlinks (the checkout's common/defaults.sh may be a dangling one).
    const entries = readdirSync(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.pkt')) out.push(p);
    }
  };
  walk(root);
  return out;
}

function clip(s: string, n = MAX_CELL): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/** The script's text at a (1-based) line, on one line. */
function scriptLine(source: string, line: number): string {
  return clip(source.split('\n')[line - 1] ?? '', 100);
}

/** Names for TCP options the grammar does not know, as packetdrill spells them. */
const OPTION_NAMES: Record<string, string> = {
  md5: 'TCP MD5 signature option (RFC 2385)',
};

/**
 * How a script asks for TCP Fast Open (RFC 7413), which tunstack does not have (it answers as
 * Linux without it: TCP_FASTOPEN refused, MSG_FASTOPEN EOPNOTSUPP, the FO option ignored): a
 * TCP_FASTOPEN* socket option, the MSG_FASTOPEN flag, the net.ipv4.tcp_fastopen sysctl, or a
 * segment carrying the FO option (a server script relying on defaults.sh's tcp_fastopen, which
 * lets listeners take data in a SYN). Null when it does not.
 */
export function fastOpenUse(source: string): string | null {
  const code = source.replace(/\/\/.*$/gm, '');
  const opt = /\b(TCP_FASTOPEN(?:_CONNECT|_KEY|_NO_COOKIE)?|MSG_FASTOPEN)\b/.exec(code);
  if (opt) return opt[1];
  if (/\btcp_fastopen\s*=/.test(code)) return 'net.ipv4.tcp_fastopen';
  const fo = /<[^>\n]*\b(FO|FOEXP)\b/.exec(code);
  if (fo) return `the ${fo[1]} option`;
  return null;
}

/** The construct on a line the grammar rejected, named where it is a known one. */
function syntaxConstruct(lineText: string): string {
  const call = /\b(sendmsg|recvmsg)\(/.exec(lineText);
  if (call) return `${call[1]}() with a struct msghdr`;
  const ecn = /\[(ect0|ect1|ect01|ce|noecn)\]/.exec(lineText);
  if (ecn) return `ECN codepoint on a packet ([${ecn[1]}])`;
  if (lineText.startsWith('--')) return `command-line option ${lineText}`;
  const icmp = /^\S+\s+[<>]\s+icmp\b/.exec(lineText);
  if (icmp) return 'an ICMP packet (the runner plays TCP segments only)';
  return `syntax the runner does not parse: ${lineText}`;
}

/**
 * Why the runner could not play the script, when what it reports means "unsupported"; null for
 * an ordinary failure.
 */
export function unsupportedReason(message: string, lineText: string): string | null {
  let m = /^syntax error: unsupported TCP option '([^']+)'/.exec(message);
  if (m) return OPTION_NAMES[m[1]] ?? `TCP option ${m[1]}`;
  m = /^syntax error: (.*)$/.exec(message);
  if (m) return `${syntaxConstruct(lineText)} (syntax error: ${m[1]})`;
  m = /unsupported system call (\S+)/.exec(message);
  if (m) return `system call ${m[1]}`;
  m = /unsupported (ioctl|fcntl) (\S+)/.exec(message);
  if (m) return `${m[1]} ${m[2]}`;
  m = /unknown symbol (\S+) for (.*)$/.exec(message);
  if (m) return `symbol ${m[1]} (${m[2]})`;
  if (/^[gs]etsockopt\(\): expected .* but got -1 ENOPROTOOPT/.test(message)) {
    const o = /[gs]etsockopt\(\s*[^,]+,\s*(\w+)\s*,\s*(\w+)/.exec(lineText);
    return `socket option ${o ? `${o[1]} ${o[2]}` : '(unnamed)'} refused with ENOPROTOOPT`;
  }
  return null;
}

/** Pass, fail with its first mismatch on one line, or skip with the reason. */
export function classify(answer: RunAnswer, source: string, timeoutS: number): Outcome {
  if ('timedOut' in answer)
    return { kind: 'fail', detail: `timed out after ${timeoutS} s of wall clock` };
  if ('error' in answer) return { kind: 'fail', detail: clip(`runner error: ${answer.error}`) };
  const { result } = answer;
  if (result.ok) return { kind: 'pass' };
  const f = result.failure;
  if (!f) return { kind: 'fail', detail: 'failed without a report' };
  const message = f.message.split('\n')[0];
  const text = scriptLine(source, f.line);
  // A script about TCP Fast Open is out of scope however it fails.
  const tfo = fastOpenUse(source);
  if (tfo !== null) return { kind: 'skip', reason: `TCP Fast Open (${tfo})` };
  const reason = unsupportedReason(message, text);
  if (reason !== null) return { kind: 'skip', reason: clip(reason) };
  return { kind: 'fail', detail: clip(`line ${f.line} \`${text}\`: ${message}`) };
}

/** Runs one script in-process (no time bound of its own): for tests and --in-process. */
export const runInProcess: RunOne = async (file, target, ipVersion) => {
  try {
    const [r] = await runDrillFiles([file], {
      profile: 'linux',
      target,
      strictEnd: false,
      verbose: false,
      ip_version: ipVersion,
    });
    return { result: r.result };
  } catch (e) {
    return { error: (e as Error).message };
  }
};

/**
 * Runs scripts in a child process (this file with --child), one at a time; a child that outlives
 * a script's bound is killed by its pid and the next script gets a new one.
 */
export class ChildRunner {
  #child: ChildProcess | null = null;
  #waiting: ((a: RunAnswer) => void) | null = null;

  run: RunOne = (file, target, ipVersion) =>
    new Promise<RunAnswer>((resolve) => {
      const child = this.#spawn();
      this.#waiting = resolve;
      child.send({ file, target, ipVersion });
    });

  #spawn(): ChildProcess {
    if (this.#child) return this.#child;
    const child = fork(fileURLToPath(import.meta.url), ['--child'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (a: RunAnswer) => this.#answer(a));
    child.on('exit', (code, signal) => {
      // A child killed for overrunning (kill()) is no longer ours: its exit must not answer the
      // next script's run (it used to, as "child exited (SIGKILL)").
      if (this.#child !== child) return;
      this.#child = null;
      this.#answer({ error: `child exited (${signal ?? code})` });
    });
    this.#child = child;
    return child;
  }

  #answer(a: RunAnswer): void {
    const w = this.#waiting;
    this.#waiting = null;
    w?.(a);
  }

  /** Kill the child (a script overran): the next run starts a new one. */
  kill(): void {
    const child = this.#child;
    this.#child = null;
    this.#waiting = null;
    if (child?.pid !== undefined) child.kill('SIGKILL');
  }

  close(): void {
    this.#child?.disconnect();
    this.#child = null;
  }
}

/** Run every script, each bounded by timeoutS of wall clock; rows in path order. */
export async function runTree(
  root: string,
  opts: {
    target: Target;
    timeoutS: number;
    runOne: RunOne;
    onTimeout?: () => void;
    ipVersion?: IpVersion;
  },
): Promise<ScriptRow[]> {
  const rows: ScriptRow[] = [];
  for (const file of findScripts(root)) {
    const rel = relative(root, file).split(sep).join('/');
    const slash = rel.lastIndexOf('/');
    const dir = slash < 0 ? '.' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<RunAnswer>((resolve) => {
      timer = setTimeout(() => resolve({ timedOut: true }), opts.timeoutS * 1000);
    });
    const answer = await Promise.race([opts.runOne(file, opts.target, opts.ipVersion), bound]);
    clearTimeout(timer);
    if ('timedOut' in answer) opts.onTimeout?.();
    rows.push({ dir, name, outcome: classify(answer, readFileSync(file, 'utf8'), opts.timeoutS) });
  }
  return rows;
}

export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

export function totals(rows: ScriptRow[]): Totals {
  const t: Totals = { passed: 0, failed: 0, skipped: 0 };
  for (const r of rows) {
    if (r.outcome.kind === 'pass') t.passed++;
    else if (r.outcome.kind === 'fail') t.failed++;
    else t.skipped++;
  }
  return t;
}

/** "N passed, N failed, N skipped of N; P % of the N not skipped pass". */
export function totalsLine(t: Totals): string {
  const run = t.passed + t.failed;
  const pct = run === 0 ? '0.0' : ((100 * t.passed) / run).toFixed(1);
  const all = t.passed + t.failed + t.skipped;
  return `${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped of ${all} scripts; ${pct} % of the ${run} not skipped pass`;
}

function byDir(rows: ScriptRow[]): Map<string, ScriptRow[]> {
  const m = new Map<string, ScriptRow[]>();
  for (const r of rows) {
    const list = m.get(r.dir) ?? [];
    list.push(r);
    m.set(r.dir, list);
  }
  return m;
}

function cells(r: ScriptRow): [string, string, string] {
  const o = r.outcome;
  if (o.kind === 'pass') return [r.name, 'pass', ''];
  if (o.kind === 'fail') return [r.name, 'FAIL', o.detail];
  return [r.name, 'skip', o.reason];
}

/** Plain text: a block per directory, columns padded, then the totals. */
export function formatText(rows: ScriptRow[]): string {
  const out: string[] = [];
  for (const [dir, list] of byDir(rows)) {
    const t = totals(list);
    out.push(`${dir}/  (${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped)`);
    const w = Math.max(...list.map((r) => r.name.length));
    for (const r of list) {
      const [name, res, detail] = cells(r);
      out.push(`  ${name.padEnd(w)}  ${res.padEnd(4)}  ${detail}`.trimEnd());
    }
    out.push('');
  }
  out.push(`Total: ${totalsLine(totals(rows))}`);
  return out.join('\n');
}

function mdCell(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/`/g, "'");
}

/** Markdown: a summary table of directories, then a table per directory, then the totals. */
export function formatMarkdown(rows: ScriptRow[]): string {
  const groups = byDir(rows);
  const out: string[] = [
    '| directory | passed | failed | skipped |',
    '| --------- | -----: | -----: | ------: |',
  ];
  for (const [dir, list] of groups) {
    const t = totals(list);
    out.push(`| ${mdCell(dir)} | ${t.passed} | ${t.failed} | ${t.skipped} |`);
  }
  const all = totals(rows);
  out.push(`| **total** | **${all.passed}** | **${all.failed}** | **${all.skipped}** |`, '');
  for (const [dir, list] of groups) {
    out.push(`### ${mdCell(dir)}`, '', '| script | result | first mismatch / reason skipped |');
    out.push('| ------ | ------ | ------------------------------ |');
    for (const r of list) out.push(`| ${cells(r).map(mdCell).join(' | ')} |`);
    out.push('');
  }
  out.push(`**Total: ${totalsLine(all)}.**`);
  return out.join('\n');
}

function usage(): never {
  process.stderr.write(
    'usage: npx tsx scripts/linux-drill.ts PATH [--target core|stack] [--ip_version V] [--out FILE.md] [--timeout SECONDS]\n',
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  let root: string | undefined;
  let target: Target = 'core';
  let out: string | undefined;
  let timeoutS = DEFAULT_TIMEOUT_S;
  let ipVersion: IpVersion = 'ipv4';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') {
      const v = argv[++i];
      if (v !== 'core' && v !== 'stack') usage();
      target = v;
    } else if (a === '--ip_version' || a.startsWith('--ip_version=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!IP_VERSIONS.includes(v as IpVersion)) usage();
      ipVersion = v as IpVersion;
    } else if (a === '--out') {
      out = argv[++i];
      if (!out) usage();
    } else if (a === '--timeout') {
      timeoutS = Number(argv[++i]);
      if (!(timeoutS > 0)) usage();
    } else if (a.startsWith('-') || root !== undefined) usage();
    else root = a;
  }
  if (root === undefined) usage();
  const runner = new ChildRunner();
  const rows = await runTree(root, {
    target,
    timeoutS,
    ipVersion,
    runOne: runner.run,
    onTimeout: () => runner.kill(),
  });
  runner.close();
  process.stdout.write(`${formatText(rows)}\n`);
  if (out) {
    writeFileSync(out, `${formatMarkdown(rows)}\n`);
    process.stdout.write(`wrote ${out}\n`);
  }
}

/** The child: runs the scripts the parent sends, one at a time, and answers each. */
function child(): void {
  process.on('message', async (m: { file: string; target: Target; ipVersion?: IpVersion }) => {
    const answer = await runInProcess(m.file, m.target, m.ipVersion);
    process.send?.(answer);
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--child')) child();
  else
    main(process.argv.slice(2)).catch((e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(1);
    });
}
