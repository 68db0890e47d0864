/**
 * Segments back in packetdrill notation, for reports: `S. 0:0(0) ack 1 win 65535 <mss 1460,...>`.
 *
 * A TcpRepr keeps what the options mean, not their bytes; src/wire/tcp.ts emits them in one fixed
 * layout (Linux's tcp_options_write), so `wireLayout` rebuilds the exact option list the segment
 * carries on the wire, NOPs included, and the printer shows that.
 */
import type { TcpConnection } from '../tcp/conn.ts';
import type { TcpOptions, TcpRepr } from '../wire/tcp-repr.ts';
import { ecnName, type OptionSpec, type SegmentSpec, type Usecs } from './parse.ts';

/** How sequence numbers are shown: `seq - seqBase`, `ack - ackBase` (both modulo 2³²). */
export interface SeqView {
  seqBase: number;
  ackBase: number;
}

const ABSOLUTE: SeqView = { seqBase: 0, ackBase: 0 };

function rel(x: number, base: number): number {
  return (x - base) >>> 0;
}

/** Flags as packetdrill writes them: letters, then '.' for ACK (`S.`, `P.`, `F.`, `R`). */
export function flagText(seg: TcpRepr): string {
  let s = '';
  if (seg.control === 'syn') s += 'S';
  if (seg.control === 'fin') s += 'F';
  if (seg.control === 'rst') s += 'R';
  if (seg.psh) s += 'P';
  if (seg.urg) s += 'U';
  if (seg.ece) s += 'E';
  if (seg.cwr) s += 'W';
  if (seg.ack !== null) s += '.';
  return s === '' ? '-' : s;
}

/**
 * The options exactly as src/wire/tcp.ts lays them out:
 *   MSS | SACK-permitted+TS (or NOP,NOP,TS, or NOP,NOP,SACK-permitted) | NOP,WS | NOP,NOP,SACK
 * SACK blocks are shown as sequence numbers seen through `ackBase` (they acknowledge peer data).
 */
export function wireLayout(o: TcpOptions, ackBase = 0): OptionSpec[] {
  const out: OptionSpec[] = [];
  if (o.mss !== null) out.push({ kind: 'mss', value: o.mss });
  if (o.timestamp !== null) {
    if (o.sackPermitted) out.push({ kind: 'sackOK' });
    else out.push({ kind: 'nop' }, { kind: 'nop' });
    out.push({ kind: 'ts', val: o.timestamp.tsVal, ecr: o.timestamp.tsEcr });
  } else if (o.sackPermitted) {
    out.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sackOK' });
  }
  if (o.windowScale !== null) out.push({ kind: 'nop' }, { kind: 'wscale', value: o.windowScale });
  if (o.sackBlocks.length > 0) {
    out.push({ kind: 'nop' }, { kind: 'nop' });
    out.push({
      kind: 'sack',
      blocks: o.sackBlocks.map((b) => ({
        left: rel(b.left, ackBase),
        right: rel(b.right, ackBase),
      })),
    });
  }
  return out;
}

function num(v: number | null): string {
  return v === null ? '...' : String(v);
}

export function formatOption(o: OptionSpec): string {
  switch (o.kind) {
    case 'nop':
    case 'eol':
    case 'sackOK':
      return o.kind;
    case 'mss':
      return `mss ${num(o.value)}`;
    case 'wscale':
      return `wscale ${num(o.value)}`;
    case 'sack':
      return `sack ${o.blocks.map((b) => `${b.left}:${b.right}`).join(' ')}`;
    case 'ts':
      return `TS val ${num(o.val)} ecr ${num(o.ecr)}`;
    case 'fastOpen':
      return `${o.exp ? 'FOEXP' : 'FO'}${o.cookie === '' ? '' : ` ${o.cookie}`}`;
  }
}

export function formatOptions(opts: OptionSpec[] | 'any'): string {
  if (opts === 'any') return ' <...>';
  return opts.length === 0 ? '' : ` <${opts.map(formatOption).join(',')}>`;
}

/**
 * A segment the stack sent (direction '>') or received ('<') in packetdrill notation, with its
 * sequence number shown relative to `view.seqBase` and its ack relative to `view.ackBase`.
 */
export function formatSegment(
  seg: TcpRepr,
  direction: '<' | '>',
  view: SeqView = ABSOLUTE,
): string {
  const seq = rel(seg.seq, view.seqBase);
  const len = seg.payload.length;
  const ecn = seg.ipEcn ? ` [${ecnName(seg.ipEcn)}]` : '';
  let s = `${direction}${ecn} ${flagText(seg)} ${seq}:${(seq + len) >>> 0}(${len})`;
  if (seg.ack !== null) s += ` ack ${rel(seg.ack, view.ackBase)}`;
  s += ` win ${seg.window}`;
  if (seg.urg) s += ` urg ${seg.urgentPointer}`;
  return s + formatOptions(wireLayout(seg.options, view.ackBase));
}

/** A script's segment as the script wrote it (normalized spacing). */
export function formatSpec(spec: SegmentSpec): string {
  const dir = spec.direction === 'in' ? '<' : '>';
  const ports = spec.ports ? ` ${spec.ports.src}>${spec.ports.dst}` : '';
  const ecn = spec.ecn === null ? '' : ` [${spec.ecn}]`;
  let s = `${dir}${ports}${ecn} ${spec.flagText} ${spec.seq}:${(spec.seq + spec.len) >>> 0}(${spec.len})`;
  if (spec.flags.ack || spec.ack !== 0) s += ` ack ${num(spec.ack)}`;
  if (spec.win !== null || spec.direction === 'in') s += ` win ${num(spec.win)}`;
  if (spec.urg !== 0) s += ` urg ${spec.urg}`;
  return s + formatOptions(spec.options);
}

/** Seconds with 3 decimals, as packetdrill prints times in its reports (µs → "0.140"). */
export function formatSeconds(us: Usecs): string {
  return (us / 1e6).toFixed(3);
}

/** One line of connection state for failure reports, sequence numbers relative to ISS and IRS. */
export function describeConnection(c: TcpConnection | null): string {
  if (c === null) return 'no connection';
  const s = c.snapshot();
  const rel = (x: number) => (x - s.iss) >>> 0;
  const relR = (x: number) => (x - s.irs) >>> 0;
  return [
    s.state,
    `sndUna=${rel(s.sndUna)} sndNxt=${rel(s.sndNxt)} sndWnd=${s.sndWnd}`,
    `rcvNxt=${relR(s.rcvNxt)}(irs+) rcvWnd=${s.rcvWnd}`,
    `cwnd=${s.cwnd} ssthresh=${s.ssthresh} rto=${s.rto} srtt=${s.srtt ?? '-'}`,
    `timer=${s.timer.kind}${s.timer.kind === 'idle' ? '' : `@${s.timer.at}`}`,
    `sendQ=${s.sendQueue} recvQ=${s.recvQueue}`,
    Object.keys(s.drops).length > 0 ? `drops=${JSON.stringify(s.drops)}` : '',
    Object.keys(s.counters).length > 0 ? `counters=${JSON.stringify(s.counters)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}
