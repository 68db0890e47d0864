/**
 * Conversations for the ladder tests: TCP segments emitted with src/wire between 10.0.0.1:40000
 * (a, the opener) and 10.0.0.2:80 (b), recorded by H1's PcapLink under a virtual clock, then read
 * back from the file, the way `tunstack ladder` reads a capture.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapLink } from '../../../src/link/pcap.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { Link } from '../../../src/stack/link.ts';
import { parseIpv4 } from '../../../src/wire/ipv4.ts';
import { emitTcpPacket } from '../../../src/wire/tcp-packet.ts';
import { NO_OPTIONS, type TcpOptions, type TcpRepr } from '../../../src/wire/tcp-repr.ts';

export const A = { addr: parseIpv4('10.0.0.1'), port: 40000 };
export const B = { addr: parseIpv4('10.0.0.2'), port: 80 };
/** a's ISN sits just below 2³², so its relative numbers are checked across the wrap. */
export const ISN_A = 0xfffffffd;
export const ISN_B = 1_000_000;

export const SYN_OPTIONS: TcpOptions = {
  mss: 1460,
  windowScale: 7,
  sackPermitted: true,
  sackBlocks: [],
  timestamp: { tsVal: 1, tsEcr: 0 },
};

export interface SegSpec {
  flags: string; // any of S F R P A, e.g. 'SA', 'PA', 'FA', 'R'
  seq: number;
  ack?: number;
  win?: number;
  data?: string;
  options?: TcpOptions;
}

/** An IPv4 packet carrying one TCP segment from `from` to the other end. */
export function packet(from: 'a' | 'b', s: SegSpec): Uint8Array {
  const [src, dst] = from === 'a' ? [A, B] : [B, A];
  const control = s.flags.includes('S')
    ? 'syn'
    : s.flags.includes('F')
      ? 'fin'
      : s.flags.includes('R')
        ? 'rst'
        : 'none';
  const repr: TcpRepr = {
    srcPort: src.port,
    dstPort: dst.port,
    control,
    psh: s.flags.includes('P'),
    urg: false,
    ece: false,
    cwr: false,
    seq: s.seq >>> 0,
    ack: s.flags.includes('A') ? (s.ack ?? 0) >>> 0 : null,
    window: s.win ?? 502,
    urgentPointer: 0,
    options: s.options ?? NO_OPTIONS,
    payload: new TextEncoder().encode(s.data ?? ''),
  };
  return emitTcpPacket(repr, src.addr, dst.addr);
}

const nullLink: Link = {
  mtu: 65_535,
  attach() {},
  send() {},
  flush() {},
  close: () => Promise.resolve(),
};

/** [ms after the previous packet (multiples of 1/8 ms, exact in binary), sender, segment] */
export type Step = [number, 'a' | 'b', SegSpec];

/** Write the steps to a pcap file with PcapLink (time starts at 1 700 000 000 s); returns its bytes. */
export async function pcapOf(steps: readonly Step[], keepAt?: string): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'ladder-'));
  const file = keepAt ?? join(dir, 'conv.pcap');
  try {
    const clock = new VirtualClock(1_700_000_000_000);
    const pcap = new PcapLink(nullLink, file, { clock });
    for (const [dt, from, spec] of steps) {
      clock.advance(dt);
      pcap.send(packet(from, spec));
    }
    await pcap.close();
    return new Uint8Array(readFileSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const a = (n: number) => (ISN_A + n) >>> 0;
const b = (n: number) => (ISN_B + n) >>> 0;

export const HANDSHAKE: Step[] = [
  [0, 'a', { flags: 'S', seq: a(0), win: 64240, options: SYN_OPTIONS }],
  [0.125, 'b', { flags: 'SA', seq: b(0), ack: a(1), win: 65160, options: SYN_OPTIONS }],
  [0.25, 'a', { flags: 'A', seq: a(1), ack: b(1), win: 502 }],
];

/** Handshake, "hello" and "world", and the four-way close that a starts. */
export const FOUR_WAY: Step[] = [
  ...HANDSHAKE,
  [0.5, 'a', { flags: 'PA', seq: a(1), ack: b(1), data: 'hello' }],
  [0.25, 'b', { flags: 'A', seq: b(1), ack: a(6), win: 509 }],
  [1.5, 'b', { flags: 'PA', seq: b(1), ack: a(6), win: 509, data: 'world' }],
  [0.125, 'a', { flags: 'A', seq: a(6), ack: b(6) }],
  [2, 'a', { flags: 'FA', seq: a(6), ack: b(6) }],
  [0.25, 'b', { flags: 'A', seq: b(6), ack: a(7), win: 509 }],
  [0.5, 'b', { flags: 'FA', seq: b(6), ack: a(7), win: 509 }],
  [0.125, 'a', { flags: 'A', seq: a(7), ack: b(7) }],
];

/** Both ends send FIN before seeing the other's (RFC 9293 Figure 13). */
export const SIMULTANEOUS_CLOSE: Step[] = [
  ...HANDSHAKE,
  [1, 'a', { flags: 'FA', seq: a(1), ack: b(1) }],
  [0.125, 'b', { flags: 'FA', seq: b(1), ack: a(1), win: 509 }],
  [0.125, 'a', { flags: 'A', seq: a(2), ack: b(2) }],
  [0.125, 'b', { flags: 'A', seq: b(2), ack: a(2), win: 509 }],
];

/** b aborts after a's request: RST with ACK at its SND.NXT. */
export const RESET: Step[] = [
  ...HANDSHAKE,
  [1, 'a', { flags: 'PA', seq: a(1), ack: b(1), data: 'GET /' }],
  [0.125, 'b', { flags: 'RA', seq: b(1), ack: a(6), win: 0 }],
];

/** A refused connection: the port is closed, b answers the SYN with RST/ACK. */
export const REFUSED: Step[] = [
  [0, 'a', { flags: 'S', seq: a(0), win: 64240, options: SYN_OPTIONS }],
  [0.125, 'b', { flags: 'RA', seq: 0, ack: a(1), win: 0 }],
];

/** a's first data segment goes unacknowledged and is sent again after the RTO; b's ACK SACKs nothing. */
export const RETRANSMISSION: Step[] = [
  ...HANDSHAKE,
  [1, 'a', { flags: 'PA', seq: a(1), ack: b(1), data: 'abc' }],
  [1, 'a', { flags: 'PA', seq: a(4), ack: b(1), data: 'def' }],
  [
    0.05,
    'b',
    {
      flags: 'A',
      seq: b(1),
      ack: a(1),
      win: 509,
      options: { ...NO_OPTIONS, sackBlocks: [{ left: a(4), right: a(7) }] },
    },
  ],
  [200, 'a', { flags: 'PA', seq: a(1), ack: b(1), data: 'abc' }],
  [0.25, 'b', { flags: 'A', seq: b(1), ack: a(7), win: 509 }],
];
