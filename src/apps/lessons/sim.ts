/**
 * The harness the lessons run in (src/apps/lessons/): two real stacks, a client at 10.0.0.1 and
 * a server at 10.0.0.2, on one simulated wire in virtual time. The client's end is a HoldLink
 * (hold, inject, cut); the server's end records every packet in and out (RecorderLink) and,
 * when asked, writes them to a pcap file (PcapLink) that `tunstack ladder` draws. The capture
 * point is the server's, as `tcpdump -i tun0` would be on the stack's side.
 *
 * Nothing here sleeps: `advance` moves the VirtualClock deadline by deadline, letting Node's
 * queues (stream events, the stack's flush) drain between steps, so a run is exact.
 */

import type { NetStack } from '../../api/index.ts';
import { createStack } from '../../api/index.ts';
import { HoldLink } from '../../link/hold.ts';
import { PcapLink } from '../../link/pcap.ts';
import { type RecordedPacket, RecorderLink } from '../../link/recorder.ts';
import { SimLink } from '../../link/sim.ts';
import { VirtualClock } from '../../stack/clock.ts';
import type { Link } from '../../stack/link.ts';
import type { StackOptions } from '../../stack/stack.ts';
import { parseIpv4 } from '../../wire/ipv4.ts';
import { ParseError } from '../../wire/parse-error.ts';
import { emitTcpPacket, parseTcpPacket, type TcpPacket } from '../../wire/tcp-packet.ts';
import type { TcpRepr } from '../../wire/tcp-repr.ts';

export const CLIENT_ADDR = '10.0.0.1';
export const SERVER_ADDR = '10.0.0.2';
/** Packets kept by the server's recorder: far more than any lesson sends. */
const RECORD_LIMIT = 100_000;
/** Virtual-time steps `advance` takes at most (each fires at least one timer). */
const MAX_STEPS = 1_000_000;

export interface LessonOptions {
  /** One-way delay of the wire, ms (default 1). */
  delayMs?: number;
  /** Bits per second each way (default 0: infinitely fast). */
  bandwidthBps?: number;
  /** Write the server's packets here as pcap (LINKTYPE_RAW), timestamps in virtual time. */
  pcapPath?: string;
  /** Stack options for both ends (link, address and clock are the harness's). */
  stack?: Partial<Omit<StackOptions, 'link' | 'address' | 'clock'>>;
}

export class Lesson {
  readonly clock = new VirtualClock();
  readonly wireClient: SimLink;
  readonly wireServer: SimLink;
  /** The client's end of the wire: hold its packets, inject others, cut it. */
  clientLink: HoldLink;
  client: NetStack;
  readonly server: NetStack;
  readonly recorder: RecorderLink;
  readonly #pcap: PcapLink | null;
  readonly #stackOptions: LessonOptions['stack'];

  constructor(o: LessonOptions = {}) {
    [this.wireClient, this.wireServer] = SimLink.pair(this.clock, {
      delayMs: o.delayMs ?? 1,
      bandwidthBps: o.bandwidthBps ?? 0,
    });
    this.#stackOptions = o.stack ?? {};
    this.#pcap =
      o.pcapPath === undefined
        ? null
        : new PcapLink(this.wireServer, o.pcapPath, { clock: this.clock });
    const serverLink: Link = this.#pcap ?? this.wireServer;
    this.recorder = new RecorderLink(serverLink, RECORD_LIMIT, { clock: this.clock });
    this.server = this.#stack(this.recorder, SERVER_ADDR, 2);
    this.clientLink = new HoldLink(this.wireClient);
    this.client = this.#stack(this.clientLink, CLIENT_ADDR, 1);
  }

  #stack(link: Link, address: string, secretByte: number): NetStack {
    const tcp = { isnSecret: new Uint8Array(16).fill(secretByte), ...this.#stackOptions?.tcp };
    return createStack({ ...this.#stackOptions, link, address, clock: this.clock, tcp });
  }

  /**
   * The client host crashes and comes back with no memory of its connections (RFC 9293 §3.5.1):
   * its old stack is cut off the wire (its timers fire into nothing) and a new one with a new
   * ISN secret takes the same address.
   */
  rebootClient(): NetStack {
    this.clientLink.cut();
    this.clientLink = new HoldLink(this.wireClient);
    this.client = this.#stack(this.clientLink, CLIENT_ADDR, 3);
    return this.client;
  }

  /** Advance `ms` of virtual time, deadline by deadline, draining Node's queues between. */
  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (let step = 0; step < MAX_STEPS; step++) {
      await drainTasks();
      const next = this.clock.nextTimerAt();
      if (next === null || next > end) break;
      this.clock.advance(next - this.clock.now());
    }
    await drainTasks();
    this.clock.advance(Math.max(0, end - this.clock.now()));
    await drainTasks();
  }

  /** Advance until `done()` holds; throws after `limitMs` of virtual time. */
  async until(done: () => boolean, limitMs = 60_000, what = 'condition'): Promise<void> {
    const end = this.clock.now() + limitMs;
    while (!done()) {
      if (this.clock.now() >= end) throw new Error(`${what}: not done by t=${this.clock.now()} ms`);
      await this.advance(1);
    }
  }

  /** The TCP segments the server sent and received, in order, with their times. */
  segments(): CapturedSegment[] {
    return tcpSegments(this.recorder.packets());
  }

  /** Write out the pcap (if any) and stop both stacks. */
  async close(): Promise<void> {
    await this.client.close();
    await this.server.close();
    await this.#pcap?.close();
  }
}

export const drainTasks = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One TCP segment as the server's recorder saw it. */
export interface CapturedSegment {
  at: number;
  /** 'in': to the server; 'out': from it. */
  dir: 'in' | 'out';
  src: number;
  dst: number;
  tcp: TcpRepr;
}

export function tcpSegments(packets: readonly RecordedPacket[]): CapturedSegment[] {
  const out: CapturedSegment[] = [];
  for (const p of packets) {
    const d = decodeTcp(p.bytes);
    if (d === null) continue;
    // The payload is a view into the recorder's copy; keep one of its own.
    const tcp = { ...d.tcp, payload: d.tcp.payload.slice() };
    out.push({ at: p.at, dir: p.dir, src: d.src, dst: d.dst, tcp });
  }
  return out;
}

/**
 * A segment as RFC 9293's figures write it, with its direction at the server:
 * `--> <SEQ=100><CTL=SYN>` (to the server), `<-- <SEQ=300><ACK=101><CTL=SYN,ACK>` (from it).
 * Sequence numbers are absolute; a payload adds ` len=N`.
 */
export function rfcLine(s: CapturedSegment): string {
  const t = s.tcp;
  const ctl = [t.control === 'none' ? '' : t.control.toUpperCase(), t.ack === null ? '' : 'ACK']
    .filter((f) => f !== '')
    .join(',');
  const ack = t.ack === null ? '' : `<ACK=${t.ack}>`;
  const len = t.payload.length > 0 ? ` len=${t.payload.length}` : '';
  return `${s.dir === 'in' ? '-->' : '<--'} <SEQ=${t.seq}>${ack}<CTL=${ctl}>${len}`;
}

/** An IPv4 packet carrying `seg` from `src` to `dst` (dotted quads), checksums filled in. */
export function tcpPacket(seg: TcpRepr, src: string, dst: string): Uint8Array {
  return emitTcpPacket(seg, parseIpv4(src), parseIpv4(dst));
}

/** The TCP segment in an IPv4 packet (a view into it) with its addresses, or null. */
function decodeTcp(packet: Uint8Array): TcpPacket | null {
  const d = parseTcpPacket(packet);
  return d instanceof ParseError ? null : d;
}

/** The TCP segment in an IPv4 packet, or null. */
export function tcpOf(packet: Uint8Array): TcpRepr | null {
  return decodeTcp(packet)?.tcp ?? null;
}
