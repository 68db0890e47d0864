/**
 * The drill runner: plays a packetdrill script against a DrillTarget in virtual time.
 *
 * Time. Script times are µs; the target's clock is ms (µs / 1000), starting at 0 with the script.
 * A relative time (`+.1`) counts from when the previous event happened: an inbound packet or a
 * call at its scheduled time, an outbound packet when the stack actually sent it (packetdrill's
 * adjust_relative_event_times). The clock moves only forward, and only as far as the next event:
 * to play an inbound packet or a call at T, every target deadline up to T runs first; to check an
 * outbound packet expected at T, the runner steps deadline by deadline until the stack sends
 * something or T + tolerance has passed. So no timer ever runs ahead of the script.
 *
 * Sequence numbers. As packetdrill: inbound seq are literal (the script's ISN is the peer's ISN),
 * inbound ack and SACK blocks are relative to the stack's ISN; outbound seq is shown relative to
 * the stack's ISN, outbound ack and SACK blocks are literal. The stack's ISN is learned from the
 * first SYN it sends on the connection. TS: the first outbound TS val fixes the offset between the
 * stack's TS clock and the script's; inbound TS ecr values are translated back through it.
 *
 * Connections. As packetdrill, one connection is under test at a time: after listen(), the next
 * inbound SYN opens a new one from remote port 40000 (40001, ... for later ones); after
 * connect(), the next outbound SYN does. Ports written in a packet (`< 40100>8080 S ...`)
 * override both.
 *
 * Strictness beyond packetdrill: a segment the stack sends at or before the last event's time that
 * no outbound line accounts for fails the script (packetdrill only notices one when a later
 * outbound line sees it). So "this segment is dropped silently" is testable by a script that ends
 * with the segment.
 */
import type { TcpOptions, TcpRepr } from '../wire/tcp-repr.ts';
import { settingsOf } from './commands.ts';
import { formatSeconds, formatSegment, formatSpec, type SeqView } from './format.ts';
import { describeDiffs, type FieldDiff, type MatchContext, matchSegment } from './match.ts';
import {
  type DrillEvent,
  type DrillScript,
  DrillSyntaxError,
  ecnField,
  parseScript,
  type SegmentSpec,
  type SyscallSpec,
  type Usecs,
} from './parse.ts';
import { checkResult, decodeSyscall, SyscallDecodeError, showResult } from './syscalls.ts';
import type { DrillTarget, SyscallRequest, SyscallResult } from './target.ts';

/** packetdrill's default --tolerance_usecs. */
export const DEFAULT_TOLERANCE_US = 4000;
/** How long `*` waits for an outbound segment before giving up (virtual time). */
const ANY_TIME_LIMIT_US = 3600e6;
/** Trace lines kept for a failure report. */
const RECENT_EVENTS = 6;
/** How far past an outbound deadline to look for a late segment, to report it as late. */
const LATE_LOOKAHEAD_US = 60e6;
/** A target that keeps reporting a deadline at or before now is stuck; stop after this many. */
const MAX_STEPS_PER_ADVANCE = 1_000_000;

export interface RunOptions {
  /** For messages. */
  file?: string;
  /** Overrides the script's --tolerance_usecs. */
  toleranceUs?: number;
  /** `bind(fd, ..., ...)`: the stack's port; also the local port of passive connections. */
  bindPort?: number;
  /** `connect(fd, ..., ...)`: the remote port. */
  connectPort?: number;
  /** First remote port for passive connections. */
  remotePortBase?: number;
  /**
   * Fail on segments sent by the last event's time that no `>` line accounts for (default true).
   * False is packetdrill's behaviour, for Linux's own scripts, which do not list trailing ACKs.
   */
  strictEnd?: boolean;
  /** Called with one line per event as it runs (`0.340 > . 1:1(0) ack 1001 win 32768`). */
  trace?: (line: string) => void;
}

export interface DrillFailure {
  line: number;
  message: string;
  /** The script's expectation in packetdrill notation. */
  expected?: string;
  /** What happened instead, in the same notation. */
  actual?: string;
  /** target.describe() at the moment of failure. */
  state?: string;
  /** The last events before the failure, as the trace prints them. */
  recent?: string[];
}

export interface DrillResult {
  ok: boolean;
  failure: DrillFailure | null;
  warnings: string[];
  /** Events run (the failing one included). */
  eventsRun: number;
  /** Virtual time at the end, µs. */
  endTime: Usecs;
}

class Fail extends Error {
  constructor(readonly failure: DrillFailure) {
    super(failure.message);
  }
}

interface Conn {
  localPort: number;
  remotePort: number;
  /** The stack's ISN, once its SYN or SYN-ACK has been seen. */
  localIsn: number | null;
  /** Script TS val -> actual TS val, and the first pair (packetdrill's ts_val_map). */
  tsMap: Map<number, number>;
  tsFirst: { script: number; actual: number } | null;
}

function newConn(localPort: number, remotePort: number): Conn {
  return { localPort, remotePort, localIsn: null, tsMap: new Map(), tsFirst: null };
}

/** When an event is due, and the window (tolerance included) it may happen in, µs. */
interface When {
  at: Usecs;
  from: Usecs;
  to: Usecs;
  /** The tolerance of an exact time; null for a range or `*`. */
  tol: Usecs | null;
}

interface Pending {
  id: number;
  line: number;
  call: SyscallSpec;
  req: SyscallRequest;
  /** Expected return time, µs. */
  end: Usecs;
}

/**
 * What the socket under test (packetdrill's socket_under_test) is waiting for: after listen(),
 * an inbound SYN starts a new connection; after connect(), an outbound SYN does.
 */
type UnderTest = { kind: 'none' } | { kind: 'listening'; port: number } | { kind: 'connecting' };

class Runner {
  now: Usecs = 0;
  readonly tol: Usecs;
  /** --tolerance_percent: a tolerance of this share of the time since the previous event. */
  readonly tolPercent: number;
  readonly tsTickUs: number | null;
  readonly warnings: string[] = [];
  readonly queue: Array<{ at: Usecs; seg: TcpRepr }> = [];
  readonly pending: Pending[] = [];
  conn: Conn | null = null;
  underTest: UnderTest = { kind: 'none' };
  nextRemotePort: number;
  readonly bindPort: number;
  readonly connectPort: number;
  readonly strictEnd: boolean;
  readonly trace: (line: string) => void;
  /** The last few trace lines, for failure reports. */
  readonly recent: string[] = [];
  /** The script line being run, for failures. */
  line = 0;
  /** Events started so far. */
  count = 0;
  /** The port of the last successful bind(), for listen(). */
  boundPort: number | null = null;
  /**
   * Script fd → the target's fd. As packetdrill (its script_fd/live_fd pairs), the number a
   * script gives socket() or accept() names the new socket in later calls, whatever number the
   * target chose; an fd the script never named passes through unchanged.
   */
  readonly fds = new Map<number, number>();

  constructor(
    readonly script: DrillScript,
    readonly target: DrillTarget,
    opts: RunOptions,
  ) {
    const optTol = script.options.get('tolerance_usecs');
    this.tol = opts.toleranceUs ?? (optTol ? Number(optTol) : DEFAULT_TOLERANCE_US);
    const pct = script.options.get('tolerance_percent');
    this.tolPercent = pct ? Number(pct) : 0;
    const tick = script.options.get('tcp_ts_tick_usecs');
    this.tsTickUs = tick ? Number(tick) : null;
    this.bindPort = opts.bindPort ?? 8080;
    this.connectPort = opts.connectPort ?? 8080;
    this.nextRemotePort = opts.remotePortBase ?? 40000;
    this.strictEnd = opts.strictEnd ?? true;
    const userTrace = opts.trace;
    this.trace = (line) => {
      this.recent.push(line);
      if (this.recent.length > RECENT_EVENTS) this.recent.shift();
      userTrace?.(line);
    };
  }

  fail(message: string, extra: Partial<DrillFailure> = {}): never {
    throw new Fail({
      line: this.line,
      message,
      state: this.target.describe(),
      recent: [...this.recent],
      ...extra,
    });
  }

  // --- time -------------------------------------------------------------------------------

  /** Collect what the target produced since the last look. */
  collect(): void {
    const problems = this.target.takeProblems?.() ?? [];
    if (problems.length > 0) this.fail(`the target reports: ${problems.join('; ')}`);
    for (const o of this.target.takeOutbound())
      this.queue.push({ at: Math.round(o.at * 1000), seg: o.seg });
    for (const c of this.target.takeCompleted()) {
      const i = this.pending.findIndex((p) => p.id === c.id);
      if (i < 0) continue;
      const p = this.pending[i];
      this.pending.splice(i, 1);
      const at = Math.round(c.at * 1000);
      const saved = this.line;
      this.line = p.line;
      if (Math.abs(at - p.end) > this.tol)
        this.fail(
          `timing error: expected ${p.call.name}() to return at ${formatSeconds(p.end)} s but it returned at ${formatSeconds(at)} s (tolerance ${formatSeconds(this.tol)} s)`,
        );
      this.trace(`${formatSeconds(at)} ${p.call.name}() returns ${showResult(c.result)}`);
      const err = checkResult(p.call, p.req, this.scriptFds(p.call, p.req, c.result));
      if (err) this.fail(`${p.call.name}(): ${err}`);
      this.line = saved;
    }
  }

  /** Run one target step: to its next deadline if that is at or before `limit`. */
  async step(limit: Usecs): Promise<boolean> {
    const d = this.target.nextDeadline();
    if (d === null) return false;
    const dUs = Math.max(Math.round(d * 1000), this.now);
    if (dUs > limit) return false;
    this.target.advance(dUs / 1000);
    await this.target.settled?.();
    this.now = dUs;
    this.collect();
    return true;
  }

  /** Move to `t`, running every deadline on the way. */
  async advanceTo(t: Usecs): Promise<void> {
    let n = 0;
    while (await this.step(t))
      if (++n > MAX_STEPS_PER_ADVANCE)
        this.fail('target never settles: its deadline does not move');
    if (t > this.now) {
      this.target.advance(t / 1000);
      await this.target.settled?.();
      this.now = t;
      this.collect();
    }
    this.checkOverdue();
  }

  checkOverdue(): void {
    for (const p of this.pending)
      if (this.now > p.end + this.tol) {
        this.line = p.line;
        this.fail(
          `timing error: expected ${p.call.name}() to return at ${formatSeconds(p.end)} s but it was still blocked at ${formatSeconds(this.now)} s`,
        );
      }
  }

  /** When an event is due (`at`) and the window it may happen in, tolerance included. */
  scheduled(ev: DrillEvent): When {
    const t = ev.time;
    if (t.kind === 'any')
      return { at: this.now, from: this.now, to: this.now + ANY_TIME_LIMIT_US, tol: null };
    const base = t.kind === 'relative' || t.kind === 'relativeRange' ? this.now : 0;
    const at = base + t.at;
    const end = t.kind === 'absoluteRange' || t.kind === 'relativeRange' ? base + t.end : at;
    // packetdrill's verify_time: the larger of the fixed and the proportional tolerance.
    const tol = Math.max(this.tol, (this.tolPercent / 100) * Math.max(0, at - this.now));
    const exact = t.kind === 'absolute' || t.kind === 'relative';
    return { at, from: at - tol, to: end + tol, tol: exact ? tol : null };
  }

  // --- events -----------------------------------------------------------------------------

  async run(): Promise<void> {
    if (this.script.initCommand) this.command(this.script.initCommand.command);
    // packetdrill wants the first event at time 0; `+0` (relative to the start) is 0 too, and
    // Linux's selftests begin that way.
    const first = this.script.events[0];
    const atZero = (t: DrillEvent['time']) =>
      (t.kind === 'absolute' || t.kind === 'relative') && t.at === 0;
    if (first && !atZero(first.time)) {
      this.line = first.line;
      this.fail('first event should be at time 0');
    }
    for (const ev of this.script.events) {
      this.line = ev.line;
      this.count++;
      const base = this.now;
      const when = this.scheduled(ev);
      if (ev.type === 'packet' && ev.segment.direction === 'out') {
        await this.outbound(ev.segment, when);
        continue;
      }
      await this.advanceTo(Math.max(when.at, this.now));
      if (ev.type === 'packet') await this.inbound(ev.segment);
      else if (ev.type === 'syscall')
        await this.syscall(ev.call, ev.time.kind === 'relative' ? base : 0);
      else if (ev.type === 'command') this.command(ev.command);
      else this.warnings.push(`line ${ev.line}: %{ code }% ignored (no Python here)`);
    }
    await this.finish();
  }

  async finish(): Promise<void> {
    if (this.strictEnd && this.queue.length > 0) {
      const o = this.queue[0];
      this.fail(
        `unexpected outbound segment at ${formatSeconds(o.at)} s, after the script's last expectation`,
        {
          actual: `${formatSeconds(o.at)} ${formatSegment(o.seg, '>', this.view())}`,
        },
      );
    }
    if (this.pending.length > 0) {
      const lastEnd = Math.max(...this.pending.map((p) => p.end));
      await this.advanceTo(lastEnd + this.tol);
      this.queue.length = 0; // segments after the script's end are not its business
    }
  }

  view(): SeqView {
    return { seqBase: this.conn?.localIsn ?? 0, ackBase: 0 };
  }

  command(cmd: string): void {
    const settings = settingsOf(cmd);
    if (settings.length === 0) {
      this.warnings.push(`line ${this.line}: shell command ignored: ${cmd.trim()}`);
      return;
    }
    for (const s of settings)
      if (!this.target.setting(s.name, s.value))
        this.warnings.push(`line ${this.line}: no equivalent for ${s.name}=${s.value}; ignored`);
  }

  // --- packets ----------------------------------------------------------------------------

  /** The connection an inbound segment is for; a SYN after listen() opens a new one. */
  connFor(spec: SegmentSpec): Conn {
    const opensPassive = spec.direction === 'in' && spec.flags.syn && !spec.flags.ack;
    if (this.conn === null || (opensPassive && this.underTest.kind === 'listening')) {
      const localPort = this.underTest.kind === 'listening' ? this.underTest.port : this.bindPort;
      this.conn = newConn(spec.ports?.dst ?? localPort, spec.ports?.src ?? this.nextRemotePort++);
      if (opensPassive) this.underTest = { kind: 'none' };
    }
    return this.conn;
  }

  async inbound(spec: SegmentSpec): Promise<void> {
    const f = spec.flags;
    const controls = [f.syn, f.fin, f.rst].filter(Boolean).length;
    if (controls > 1)
      this.fail(
        `flags ${spec.flagText}: a TcpRepr carries one of SYN, FIN, RST (src/wire/tcp.ts drops the others)`,
      );
    const c = this.connFor(spec);
    const srcPort = spec.ports?.src ?? c.remotePort;
    const dstPort = spec.ports?.dst ?? c.localPort;
    const isn = c.localIsn ?? 0;
    const options: TcpOptions = {
      mss: null,
      windowScale: null,
      sackPermitted: false,
      sackBlocks: [],
      timestamp: null,
    };
    if (spec.options !== 'any')
      for (const o of spec.options) {
        if (o.kind === 'mss') options.mss = o.value;
        else if (o.kind === 'wscale') options.windowScale = o.value;
        else if (o.kind === 'sackOK') options.sackPermitted = true;
        else if (o.kind === 'sack')
          options.sackBlocks = o.blocks.map((b) => ({
            left: (b.left + isn) >>> 0,
            right: (b.right + isn) >>> 0,
          }));
        else if (o.kind === 'ts')
          options.timestamp = { tsVal: o.val ?? 0, tsEcr: this.liveEcr(c, o.ecr ?? 0, f.ack) };
      }
    const seg: TcpRepr = {
      srcPort,
      dstPort,
      control: f.syn ? 'syn' : f.fin ? 'fin' : f.rst ? 'rst' : 'none',
      psh: f.psh,
      urg: f.urg,
      ece: f.ece,
      cwr: f.cwr,
      seq: spec.seq,
      ack: f.ack ? ((spec.ack ?? 0) + isn) >>> 0 : null,
      window: spec.win ?? 0,
      urgentPointer: spec.urg,
      options,
      payload: new Uint8Array(spec.len),
      ...(spec.ecn === null ? {} : { ipEcn: ecnField(spec.ecn) }),
    };
    this.trace(
      `${formatSeconds(this.now)} ${formatSegment(seg, '<', { seqBase: 0, ackBase: isn })}`,
    );
    this.target.inject(seg, this.now / 1000);
    await this.target.settled?.();
    this.collect();
  }

  /** packetdrill's map_inbound_packet for TS ecr: script value -> the stack's own TS val. */
  liveEcr(c: Conn, ecr: number, hasAck: boolean): number {
    if (!hasAck) return ecr;
    const exact = c.tsMap.get(ecr);
    if (exact !== undefined) return exact;
    if (c.tsFirst) return (ecr - c.tsFirst.script + c.tsFirst.actual) >>> 0;
    return ecr;
  }

  async outbound(spec: SegmentSpec, when: When): Promise<void> {
    let n = 0;
    while (this.queue.length === 0 && (await this.step(when.to)))
      if (++n > MAX_STEPS_PER_ADVANCE)
        this.fail('target never settles: its deadline does not move');
    const expected = `${formatSeconds(when.at)} ${formatSpec(spec)}`;
    if (this.queue.length === 0) {
      // Nothing in time: look a while further, so that a late segment is reported as late.
      while (this.queue.length === 0 && (await this.step(when.to + LATE_LOOKAHEAD_US)))
        if (++n > MAX_STEPS_PER_ADVANCE) break;
      if (this.queue.length === 0) {
        await this.advanceTo(when.to);
        this.fail(
          `expected an outbound segment by ${formatSeconds(when.to)} s but the stack sent nothing`,
          { expected },
        );
      }
    }
    const { at, seg: first } = this.queue.shift()!;
    const seg = this.aggregate(spec, first);
    const c = this.outboundConn(spec, seg);
    const ctx: MatchContext = {
      seqBase: c.localIsn ?? 0,
      ackBase: 0,
      tsVal:
        this.tsTickUs && c.tsFirst
          ? {
              toScript: (a) => (c.tsFirst!.script + (a - c.tsFirst!.actual)) >>> 0,
              toleranceTicks: this.tol / this.tsTickUs,
            }
          : null,
    };
    const diffs: FieldDiff[] = matchSegment(spec, seg, ctx);
    const wantSrc = spec.ports?.src ?? c.localPort;
    const wantDst = spec.ports?.dst ?? c.remotePort;
    if (seg.srcPort !== wantSrc || seg.dstPort !== wantDst)
      diffs.unshift({
        field: 'ports',
        expected: `${wantSrc}>${wantDst}`,
        actual: `${seg.srcPort}>${seg.dstPort}`,
      });
    const actual = `${formatSeconds(at)} ${formatSegment(seg, '>', { seqBase: ctx.seqBase, ackBase: 0 })}`;
    if (diffs.length > 0)
      this.fail(`outbound segment mismatch: ${describeDiffs(diffs)}`, { expected, actual });
    if (at < when.from || at > when.to) {
      const win =
        when.tol !== null
          ? `at ${formatSeconds(when.at)} s (tolerance ${formatSeconds(when.tol)} s)`
          : `between ${formatSeconds(when.from)} and ${formatSeconds(when.to)} s`;
      this.fail(
        `timing error: expected outbound segment ${win} but it was sent at ${formatSeconds(at)} s`,
        {
          expected,
          actual,
        },
      );
    }
    this.trace(actual);
    this.recordTs(c, spec, seg);
    this.now = Math.max(this.now, at);
  }

  /**
   * A script segment longer than the one the stack sent (`> P. 1:5841(5840)` for four MSS-sized
   * segments, as Linux's TSO/GSO traces read) matches the run of contiguous segments sent with it,
   * as packetdrill aggregates fragments: same ack, each starting where the last ended. The result
   * has the first segment's header, the last one's PSH and FIN, and the total length.
   */
  aggregate(spec: SegmentSpec, first: TcpRepr): TcpRepr {
    if (spec.len <= first.payload.length || first.payload.length === 0) return first;
    let last = first;
    let total = first.payload.length;
    while (total < spec.len && this.queue.length > 0) {
      const next = this.queue[0].seg;
      const contiguous = next.seq === (last.seq + last.payload.length) >>> 0;
      if (!contiguous || next.ack !== first.ack || next.payload.length === 0) break;
      if (next.control === 'syn' || next.control === 'rst' || last.control === 'fin') break;
      this.queue.shift();
      total += next.payload.length;
      last = next;
    }
    if (last === first) return first;
    return { ...first, psh: last.psh, control: last.control, payload: new Uint8Array(total) };
  }

  /** The connection an outbound segment belongs to; an active open starts one. */
  outboundConn(spec: SegmentSpec, seg: TcpRepr): Conn {
    const opensActive =
      seg.control === 'syn' && seg.ack === null && spec.flags.syn && !spec.flags.ack;
    if (this.conn === null || (opensActive && this.underTest.kind === 'connecting')) {
      this.conn = newConn(seg.srcPort, seg.dstPort);
      if (opensActive) this.underTest = { kind: 'none' };
    }
    const c = this.conn;
    // packetdrill learns the stack's ISN from its SYN: script seq maps onto live seq.
    if (seg.control === 'syn' && spec.flags.syn) c.localIsn = (seg.seq - spec.seq) >>> 0;
    return c;
  }

  recordTs(c: Conn, spec: SegmentSpec, seg: TcpRepr): void {
    const actual = seg.options.timestamp;
    if (spec.options === 'any' || actual === null) return;
    const ts = spec.options.find((o) => o.kind === 'ts');
    if (ts?.kind !== 'ts' || ts.val === null) return;
    c.tsMap.set(ts.val, actual.tsVal);
    if (c.tsFirst === null) c.tsFirst = { script: ts.val, actual: actual.tsVal };
  }

  // --- system calls -----------------------------------------------------------------------

  /** Run a call; a blocking one must return at `endBase + call.end` (packetdrill: the end of a
   * relative call counts from the same point as its start). */
  async syscall(call: SyscallSpec, endBase: Usecs): Promise<void> {
    let req: SyscallRequest;
    try {
      req = decodeSyscall(call, this.target.addresses, {
        bindPort: this.bindPort,
        connectPort: this.connectPort,
      });
    } catch (e) {
      if (e instanceof SyscallDecodeError) this.fail(`${call.name}(): ${e.message}`);
      throw e;
    }
    req = this.liveFds(req);
    const out = this.target.syscall(req, this.now / 1000);
    await this.target.settled?.();
    this.trace(
      `${formatSeconds(this.now)} ${call.name}() ${out.kind === 'done' ? `= ${showResult(out.result)}` : 'blocks'}`,
    );
    if (req.name === 'listen') {
      const port = this.boundPort ?? this.bindPort;
      if (out.kind === 'done' && out.result.ret === 0) this.underTest = { kind: 'listening', port };
    }
    if (req.name === 'bind' && out.kind === 'done' && out.result.ret === 0)
      this.boundPort = req.port;
    if (req.name === 'connect') this.underTest = { kind: 'connecting' };
    if (out.kind === 'blocked') {
      if (call.end === null)
        this.fail(
          `${call.name}() blocked, but the script expects it to return at once (write ...END_TIME before the call for a blocking one)`,
        );
      this.pending.push({ id: out.id, line: this.line, call, req, end: endBase + call.end });
      this.collect();
      return;
    }
    if (call.end !== null) {
      const end = endBase + call.end;
      if (Math.abs(this.now - end) > this.tol)
        this.fail(
          `timing error: expected ${call.name}() to block until ${formatSeconds(end)} s but it returned at ${formatSeconds(this.now)} s: ${showResult(out.result)}`,
        );
    }
    const err = checkResult(call, req, this.scriptFds(call, req, out.result));
    if (err) this.fail(`${call.name}(): ${err}`);
    this.collect();
  }

  /** The request with the script's fds replaced by the target's. */
  liveFds(req: SyscallRequest): SyscallRequest {
    const live = (fd: number) => this.fds.get(fd) ?? fd;
    if (req.name === 'socket') return req;
    if (req.name === 'poll') return { ...req, fds: req.fds.map((f) => ({ ...f, fd: live(f.fd) })) };
    return { ...req, fd: live(req.fd) };
  }

  /**
   * A finished call's result seen from the script: a new socket's fd becomes the number the
   * script gave it (remembered for later calls); close() forgets the pair.
   */
  scriptFds(call: SyscallSpec, req: SyscallRequest, got: SyscallResult): SyscallResult {
    if (req.name === 'close' && got.ret === 0) {
      for (const [script, live] of this.fds) if (live === req.fd) this.fds.delete(script);
      return got;
    }
    if ((req.name !== 'socket' && req.name !== 'accept') || got.ret < 0) return got;
    if (call.result.kind !== 'int' || call.result.value < 0) return got;
    this.fds.set(call.result.value, got.ret);
    return { ...got, ret: call.result.value };
  }
}

/**
 * Run a parsed script. Never rejects for script or stack errors: they come back as the failure.
 * Asynchronous only so that a target's deferred work (`settled`) can run between events; time is
 * virtual throughout.
 */
export async function runScript(
  script: DrillScript,
  target: DrillTarget,
  opts: RunOptions = {},
): Promise<DrillResult> {
  const r = new Runner(script, target, opts);
  try {
    await r.run();
    return { ok: true, failure: null, warnings: r.warnings, eventsRun: r.count, endTime: r.now };
  } catch (e) {
    if (e instanceof Fail)
      return {
        ok: false,
        failure: e.failure,
        warnings: r.warnings,
        eventsRun: r.count,
        endTime: r.now,
      };
    throw e;
  }
}

/** Parse and run; a syntax error is a failure at its line. */
export async function runSource(
  src: string,
  target: DrillTarget,
  opts: RunOptions = {},
): Promise<DrillResult> {
  let script: DrillScript;
  try {
    script = parseScript(src);
  } catch (e) {
    if (e instanceof DrillSyntaxError)
      return {
        ok: false,
        failure: { line: e.line, message: `syntax error: ${e.detail}` },
        warnings: [],
        eventsRun: 0,
        endTime: 0,
      };
    throw e;
  }
  return runScript(script, target, opts);
}

/** A failure as a report block: `file:line: message`, then script/actual/state lines. */
export function formatFailure(file: string, f: DrillFailure): string {
  const lines = [`${file}:${f.line}: ${f.message}`];
  if (f.expected) lines.push(`  script: ${f.expected}`);
  if (f.actual) lines.push(`  actual: ${f.actual}`);
  if (f.state) lines.push(`  state:  ${f.state}`);
  if (f.recent && f.recent.length > 0) {
    lines.push('  before:');
    for (const r of f.recent) lines.push(`    ${r}`);
  }
  return lines.join('\n');
}
