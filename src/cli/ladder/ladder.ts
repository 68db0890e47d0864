/**
 * A connection as a ladder: one row per segment, sender to receiver, with the numbers a reader
 * wants (relative seq/ack, length, scaled window, time since the first segment) and the state of
 * each end after the segment (observer.ts).
 *
 * Relative numbers are Wireshark's: each side's sequence numbers count from its ISN (its SYN's
 * sequence number, so the SYN is seq=0 and the first data byte seq=1); an ACK counts from the
 * other side's ISN. Without a SYN in the capture, a side's first sequence number seen is its base.
 */
import { seqAdd, seqDiff, seqGeq } from '../../tcp/seq.ts';
import type { TcpState } from '../../tcp/state.ts';
import { segmentLength, type TcpRepr } from '../../wire/tcp-repr.ts';
import { EndObserver } from './observer.ts';
import {
  type CapturedPacket,
  type Connection,
  type Endpoint,
  type Segment,
  traceConnections,
} from './segments.ts';

export type Side = 'a' | 'b';

export interface LadderRow {
  /** The packet's position in the capture (1-based). */
  frame: number;
  /** Milliseconds since the connection's first segment. */
  at: number;
  from: Side;
  /** 'SYN', 'SYN/ACK', 'PSH/ACK', 'FIN/ACK', 'RST', …: SYN FIN RST PSH URG ECE CWR ACK order. */
  flags: string;
  /** Relative to the sender's ISN. */
  seq: number;
  /** Relative to the receiver's ISN; null without the ACK flag. */
  ack: number | null;
  /** Payload bytes. */
  len: number;
  /** The advertised window in bytes: scaled when the handshake negotiated scaling. */
  window: number;
  /** '<mss 1460,sackOK,TS,wscale 7>' on a SYN, '<sack 1-1449>' when SACK blocks ride along. */
  options: string;
  /** The segment occupies sequence space its sender had already sent. */
  retransmission: boolean;
  /** Why the receiver did not take it at face value (an RST it must challenge), or null. */
  note: string | null;
  /** Each end's state after this segment. */
  stateA: TcpState;
  stateB: TcpState;
}

export interface Ladder {
  id: number;
  a: Endpoint;
  b: Endpoint;
  /** Each end's state before the first segment. */
  initialA: TcpState;
  initialB: TcpState;
  rows: LadderRow[];
  /** The shift counts when both SYNs carried window scale (RFC 7323 §2.2), else null. */
  windowScale: { a: number; b: number } | null;
  /** What the capture could not tell: shown under the diagram. */
  notes: string[];
}

/** Draw connection `conn` of a trace. */
export function buildLadder(conn: Connection): Ladder {
  const sideOf = (seg: Segment): Side =>
    seg.src === conn.a.addr && seg.tcp.srcPort === conn.a.port ? 'a' : 'b';
  const segs = conn.segments;
  const notes: string[] = [];

  const firstSyn = (side: Side): TcpRepr | undefined =>
    segs.find((s) => sideOf(s) === side && s.tcp.control === 'syn')?.tcp;
  const synA = firstSyn('a');
  const synB = firstSyn('b');
  const base = { a: baseOf('a', synA), b: baseOf('b', synB) };

  function baseOf(side: Side, syn: TcpRepr | undefined): number {
    if (syn !== undefined) return syn.seq;
    const own = segs.find((s) => sideOf(s) === side);
    if (own !== undefined) return own.tcp.seq;
    const acked = segs.find((s) => sideOf(s) !== side && s.tcp.ack !== null);
    return acked?.tcp.ack ?? 0;
  }

  // RFC 7323 §2.2: scaling is on in both directions only if both SYNs carried the option. The
  // opener's SYN missing from the capture leaves it unknown.
  let windowScale: Ladder['windowScale'] = null;
  const wa = synA?.options.windowScale ?? null;
  const wb = synB?.options.windowScale ?? null;
  if (wa !== null && wb !== null) windowScale = { a: wa, b: wb };

  // Where each end starts (observer.ts explains the inference).
  let initialA: TcpState;
  let initialB: TcpState;
  const first = segs[0]?.tcp;
  if (first !== undefined && first.control === 'syn' && first.ack === null) {
    initialA = 'CLOSED';
    initialB = synB !== undefined && synB.ack !== null ? 'LISTEN' : 'CLOSED';
  } else if (first !== undefined && first.control === 'syn') {
    // The SYN/ACK is first: the SYN it answers was sent before the capture began.
    initialA = 'SYN_SENT';
    initialB = 'LISTEN';
    notes.push('capture starts after the SYN: windows shown unscaled');
  } else {
    initialA = 'ESTABLISHED';
    initialB = 'ESTABLISHED';
    notes.push('capture starts mid-connection: both ends assumed ESTABLISHED, windows unscaled');
  }
  const ends = {
    a: new EndObserver(initialA, false),
    b: new EndObserver(initialB, initialB === 'LISTEN'),
  };
  if (initialA === 'SYN_SENT' && first?.ack != null) ends.a.iss = seqAdd(first.ack, -1);

  // When did the receiver take each segment? At its capture, unless the receiver's next segment
  // does not acknowledge it: then the receiver sent that one first, and took this one after. (A
  // capture near one end sees its own FIN leave before the peer's crossing FIN arrives; without
  // this, a simultaneous close would look like a passive one.)
  const nextFrom: Record<Side, number> = { a: -1, b: -1 };
  const nextReply: number[] = new Array(segs.length);
  for (let i = segs.length - 1; i >= 0; i--) {
    const from = sideOf(segs[i]);
    nextReply[i] = nextFrom[from === 'a' ? 'b' : 'a'];
    nextFrom[from] = i;
  }
  const takenAfter = segs.map((seg, i) => {
    const j = nextReply[i];
    if (j < 0 || segmentLength(seg.tcp) === 0) return -1;
    const reply = segs[j].tcp.ack;
    const end = seqAdd(seg.tcp.seq, segmentLength(seg.tcp));
    return reply !== null && seqGeq(reply, end) ? -1 : j;
  });
  const deferred = new Map<number, number[]>();
  takenAfter.forEach((j, i) => {
    if (j < 0) return;
    const list = deferred.get(j);
    if (list === undefined) deferred.set(j, [i]);
    else list.push(i);
  });

  const t0 = segs[0]?.at ?? 0;
  const rows: LadderRow[] = [];
  segs.forEach((seg, i) => {
    const from = sideOf(seg);
    const to: Side = from === 'a' ? 'b' : 'a';
    const { tcp } = seg;
    const shift = windowScale !== null && tcp.control !== 'syn' ? windowScale[from] : 0;
    const window = tcp.window * 2 ** shift;
    const retransmission = ends[from].isRetransmission(tcp);
    ends[from].sent(tcp, window);
    for (const k of deferred.get(i) ?? []) rows[k].note = ends[from].received(segs[k].tcp);
    const note = takenAfter[i] < 0 ? ends[to].received(tcp) : null;
    rows.push({
      frame: seg.frame,
      at: seg.at - t0,
      from,
      flags: flagNames(tcp),
      seq: rel(tcp.seq, base[from]),
      ack: tcp.ack === null ? null : rel(tcp.ack, base[to]),
      len: tcp.payload.length,
      window,
      options: optionsText(tcp, base[to]),
      retransmission,
      note,
      stateA: ends.a.state,
      stateB: ends.b.state,
    });
  });
  return { id: conn.id, a: conn.a, b: conn.b, initialA, initialB, rows, windowScale, notes };
}

/** A sequence number relative to `base`, in [0, 2³²). */
function rel(n: number, base: number): number {
  return seqDiff(n, base) >>> 0;
}

export function flagNames(tcp: TcpRepr): string {
  const names: string[] = [];
  if (tcp.control === 'syn') names.push('SYN');
  if (tcp.control === 'fin') names.push('FIN');
  if (tcp.control === 'rst') names.push('RST');
  if (tcp.psh) names.push('PSH');
  if (tcp.urg) names.push('URG');
  if (tcp.ece) names.push('ECE');
  if (tcp.cwr) names.push('CWR');
  if (tcp.ack !== null) names.push('ACK');
  return names.join('/');
}

/** SYN options in tcpdump's words (timestamps' values left out), SACK blocks made relative. */
function optionsText(tcp: TcpRepr, peerBase: number): string {
  const o = tcp.options;
  const parts: string[] = [];
  if (tcp.control === 'syn') {
    if (o.mss !== null) parts.push(`mss ${o.mss}`);
    if (o.sackPermitted) parts.push('sackOK');
    if (o.timestamp !== null) parts.push('TS');
    if (o.windowScale !== null) parts.push(`wscale ${o.windowScale}`);
  }
  if (o.sackBlocks.length > 0) {
    const blocks = o.sackBlocks.map((b) => `${rel(b.left, peerBase)}-${rel(b.right, peerBase)}`);
    parts.push(`sack ${blocks.join(' ')}`);
  }
  return parts.length === 0 ? '' : `<${parts.join(',')}>`;
}

/** The text on a row's arrow: flags, numbers, options, and marks. */
export function rowLabel(row: LadderRow): string {
  let s = `${row.flags} seq=${row.seq}`;
  if (row.ack !== null) s += ` ack=${row.ack}`;
  if (row.len > 0) s += ` len=${row.len}`;
  s += ` win=${row.window}`;
  if (row.options !== '') s += ` ${row.options}`;
  if (row.retransmission) s += ' [retransmission]';
  if (row.note !== null) s += ` [${row.note}]`;
  return s;
}

/**
 * The ladder of connection `conn` (1-based, default the first) among `packets`: what a live
 * stack's RecorderLink (src/link/recorder.ts) hands over, or the IPv4 packets of a pcap.
 * Returns null when there is no such connection.
 */
export function ladderFromPackets(packets: readonly CapturedPacket[], conn = 1): Ladder | null {
  const c = traceConnections(packets).connections[conn - 1];
  return c === undefined ? null : buildLadder(c);
}
