/**
 * Does a segment the stack sent match what the script expects? Field by field, as packetdrill's
 * verify_outbound_live_packet (run_packet.c) checks them, with a readable list of differences.
 *
 * Checked: every flag, the sequence number (relative to the stack's ISN), the ack number, the
 * payload length, the window (unless the script leaves it out or writes `win ...`), the urgent
 * pointer, and the options in wire order, NOPs included (unless the script writes `<...>`; no
 * `<...>` at all means "no options"). Within options: MSS, window scale and SACK blocks exactly; the
 * timestamp echo (TS ecr) exactly, since it is in the script's own clock; the timestamp value (TS
 * val) only when a tick is configured, and then within the timing tolerance, as packetdrill's
 * --tcp_ts_tick_usecs. Payload bytes are not compared: scripts write `...` for data.
 */
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { flagText, formatOption, wireLayout } from './format.ts';
import { ecnMatches, ecnName, type OptionSpec, type SegmentSpec, type TcpFlags } from './parse.ts';

export interface MatchContext {
  /** The stack's ISN: outbound sequence numbers are compared as `seq - seqBase`. */
  seqBase: number;
  /** Base for acks and SACK blocks (the peer's sequence space, literal in scripts): usually 0. */
  ackBase: number;
  /**
   * Map an actual TS val into the script's TS space, and the tolerance in TS ticks; null when TS
   * values are not checked.
   */
  tsVal: { toScript(actual: number): number; toleranceTicks: number } | null;
}

export interface FieldDiff {
  field: string;
  expected: string;
  actual: string;
}

const FLAG_NAMES: Array<[keyof TcpFlags, string]> = [
  ['syn', 'SYN'],
  ['fin', 'FIN'],
  ['rst', 'RST'],
  ['psh', 'PSH'],
  ['ack', 'ACK'],
  ['urg', 'URG'],
  ['ece', 'ECE'],
  ['cwr', 'CWR'],
];

export function actualFlags(seg: TcpRepr): TcpFlags {
  return {
    syn: seg.control === 'syn',
    fin: seg.control === 'fin',
    rst: seg.control === 'rst',
    psh: seg.psh,
    ack: seg.ack !== null,
    urg: seg.urg,
    ece: seg.ece,
    cwr: seg.cwr,
  };
}

/** Every difference between the expected segment and the actual one; empty when they match. */
export function matchSegment(spec: SegmentSpec, seg: TcpRepr, ctx: MatchContext): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const diff = (field: string, expected: unknown, actual: unknown) =>
    diffs.push({ field, expected: String(expected), actual: String(actual) });

  // The IP header's ECN field, when the script names a codepoint (packetdrill: else unchecked).
  const field = seg.ipEcn ?? 0;
  if (spec.ecn !== null && !ecnMatches(spec.ecn, field)) diff('ecn', spec.ecn, ecnName(field));

  const got = actualFlags(seg);
  const flagsDiffer = FLAG_NAMES.some(([k]) => got[k] !== spec.flags[k]);
  if (flagsDiffer) diff('flags', spec.flagText, flagText(seg));

  const seq = (seg.seq - ctx.seqBase) >>> 0;
  if (seq !== spec.seq) diff('seq', spec.seq, seq);
  if (seg.payload.length !== spec.len) diff('len', spec.len, seg.payload.length);

  const ack = seg.ack === null ? 0 : (seg.ack - ctx.ackBase) >>> 0;
  if (spec.ack !== null && ack !== spec.ack) diff('ack', spec.ack, ack);

  if (spec.win !== null && seg.window !== spec.win) diff('win', spec.win, seg.window);
  if (spec.urg !== seg.urgentPointer && (spec.flags.urg || seg.urg))
    diff('urg', spec.urg, seg.urgentPointer);

  if (spec.options !== 'any') diffs.push(...matchOptions(spec.options, seg, ctx));
  return diffs;
}

function matchOptions(expected: OptionSpec[], seg: TcpRepr, ctx: MatchContext): FieldDiff[] {
  const actual = wireLayout(seg.options, ctx.ackBase);
  const show = (l: OptionSpec[]) =>
    l.length === 0 ? '(none)' : `<${l.map(formatOption).join(',')}>`;
  const whole = (why: string): FieldDiff[] => [
    { field: `options (${why})`, expected: show(expected), actual: show(actual) },
  ];
  if (expected.length !== actual.length || expected.some((e, i) => e.kind !== actual[i].kind))
    return whole('layout');
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    if (e.kind === 'mss' && a.kind === 'mss' && e.value !== null && e.value !== a.value)
      return whole('mss');
    if (e.kind === 'wscale' && a.kind === 'wscale' && e.value !== null && e.value !== a.value)
      return whole('wscale');
    if (e.kind === 'sack' && a.kind === 'sack') {
      const same =
        e.blocks.length === a.blocks.length &&
        e.blocks.every((b, j) => b.left === a.blocks[j].left && b.right === a.blocks[j].right);
      if (!same) return whole('sack blocks');
    }
    if (e.kind === 'ts' && a.kind === 'ts') {
      if (e.ecr !== null && e.ecr !== a.ecr) return whole('TS ecr');
      if (e.val !== null && ctx.tsVal !== null && a.val !== null) {
        const mapped = ctx.tsVal.toScript(a.val);
        const off = Math.abs((mapped - e.val) | 0);
        if (off > ctx.tsVal.toleranceTicks)
          return [
            { field: 'TS val (script clock)', expected: String(e.val), actual: String(mapped) },
          ];
      }
    }
  }
  return [];
}

/** One line per difference: `ack: expected 1001, got 1`. */
export function describeDiffs(diffs: FieldDiff[]): string {
  return diffs.map((d) => `${d.field}: expected ${d.expected}, got ${d.actual}`).join('; ');
}
