/**
 * The fuzzer's world and its invariants.
 *
 *   peer Stack 10.0.0.1 ──SimLink──► TapLink ──► target Stack 10.0.0.2
 *   (real connections, echo,          │ records what passes both ways (the corpus and each
 *    pings, datagrams)                │ flow's sequence numbers) and injects mutated packets
 *
 * Both stacks share one VirtualClock. The peer keeps real connections open to the target (echo,
 * discard, HTTP, a sink that never reads) and the target opens some of its own, so that the
 * target's connections pass through every state; the fuzzer then mutates and replays their
 * segments (sequence and acknowledgment numbers at the window's edges, flags, options, lengths),
 * builds SYNs, ICMP, UDP and fragments from scratch, and repairs the checksums of most.
 *
 * After each packet: no exception reached the link, nothing was logged at error, the table and
 * reassembly memory are within their bounds, and nothing the target sent was malformed or sent
 * to itself. After each batch: every connection's queues, every listener's queues, the owners.
 * At the end: every connection drains out of the table, the wire falls silent, and a fresh
 * handshake, an echoed exchange, a UDP echo and a ping still complete.
 *
 * The run is a pure function of its seed: a failure names the seed and the packet index.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { serveHttp } from '../../src/api/http.ts';
import { createStack } from '../../src/api/index.ts';
import type { Server, Socket } from '../../src/api/net.ts';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import type { TcpHandle, TcpOwner } from '../../src/stack/tcp.ts';
import type { TcpSnapshot } from '../../src/tcp/conn.ts';
import type { TcpEvent } from '../../src/tcp/events.ts';
import { seqDiff, seqLeq } from '../../src/tcp/seq.ts';
import { internetChecksum, pseudoHeaderSum, pseudoHeaderSum6 } from '../../src/wire/checksum.ts';
import { parseIpv6 } from '../../src/wire/ipv6.ts';
import {
  F_ACK,
  F_CWR,
  F_ECE,
  F_FIN,
  F_PSH,
  F_RST,
  F_SYN,
  F_URG,
  fragment,
  get16,
  get32,
  hex,
  icmpBytes,
  ipPacket,
  mutateBytes,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  Rng,
  repairChecksums,
  tcpBytes,
  tcpOptions,
  tcpValidOptions,
  udpBytes,
} from './packets.ts';
import {
  extensionChain,
  fragment6,
  icmp6Bytes,
  ipv6Packet,
  mutate6,
  NH_FRAGMENT,
  NH_HOP,
  NH_ICMPV6,
  NH_TCP,
  NH_UDP,
  repairChecksums6,
  upperLayer,
} from './packets6.ts';

export interface FuzzOptions {
  packets: number;
  seed: number;
  /** Packets injected between two batch checks and two clock advances. */
  batch?: number;
  /** Heap samples (after a forced GC) every this many packets. */
  heapEvery?: number;
  /** Largest growth of the GC'd heap over its first sample, MiB. */
  maxHeapGrowthMb?: number;
  /**
   * Run the batch checks (queues, buffers, every connection's numbers) after every packet, not
   * every batch: slower, but a failure then names the very packet. Same packets, same run.
   */
  strict?: boolean;
  /** Progress lines (to `log`) every this many packets; 0: none. */
  progressEvery?: number;
  log?: (line: string) => void;
  /**
   * Both stacks dual-stack (fd00::1, fd00::2), IPv6 traffic between them and IPv6 packets among
   * the fuzzer's (default true; false: the IPv4-only fuzzer, as before IPv6).
   */
  ipv6?: boolean;
}

export interface FuzzFailure {
  seed: number;
  /** Index of the last packet injected when the failure was seen (-1: before or after them). */
  packetIndex: number;
  message: string;
  /** The packet at packetIndex, and the ones of the same batch before it. */
  packetHex: string | null;
  recentHex: string[];
}

export interface FuzzResult {
  seed: number;
  packets: number;
  failure: FuzzFailure | null;
  /** The whole run, the final drain and exchange included. */
  seconds: number;
  /** Packets per second of the injection loop (checks and peer traffic included). */
  packetsPerSecond: number;
  heapStartBytes: number;
  heapEndBytes: number;
  heapMaxBytes: number;
  /** Whether the heap figures follow a forced GC. */
  gc: boolean;
  virtualMs: number;
  /** Counters that show which paths the run reached. */
  reached: Record<string, number>;
}

const PEER = 0x0a000001;
const TARGET = 0x0a000002;
const PEER_S = '10.0.0.1';
const TARGET_S = '10.0.0.2';
const PEER6_S = 'fd00::1';
const TARGET6_S = 'fd00::2';
const PEER6 = parseIpv6(PEER6_S);
const TARGET6 = parseIpv6(TARGET6_S);

/** The target's bounds: small, so that the fuzzer reaches them. */
export const LIMITS = {
  maxConnections: 64,
  synBacklog: 8,
  backlog: 4,
  rcvBuf: 16 * 1024,
  sndBuf: 16 * 1024,
  maxOoo: 8 * 1024,
  reassemblyBytes: 64 * 1024,
  /** IPv6 reassembly memory (its own reassembler, IPv4's bound). */
  reassembly6Bytes: 64 * 1024,
  /** IPv6 peers the TCP layer holds at once (tcp.maxIpv6Peers; default 16 384). */
  maxIpv6Peers: 8,
} as const;

/**
 * Servers drop a connection idle this long (virtual ms), as real ones do, so that connections
 * from spoofed sources, which never speak again, do not keep the table full for the whole run.
 */
const IDLE_MS = 30_000;

const PORT_ECHO = 7;
const PORT_DISCARD = 9;
const PORT_HTTP = 80;
const PORT_SINK = 5001;
const PORT_CLOSED = 81;
const TARGET_PORTS = [
  PORT_ECHO,
  PORT_ECHO,
  PORT_DISCARD,
  PORT_HTTP,
  PORT_SINK,
  PORT_SINK,
  PORT_CLOSED,
  0,
];

/** The failure that ends a run. */
class Failure extends Error {}

/** A flow as seen from the target's output: what it sent last to one remote end. */
interface Flow {
  key: string;
  remote: number;
  localPort: number;
  remotePort: number;
  /** The target's next sequence number (seq + length of its last segment). */
  sndNxt: number;
  /** The target's last acknowledgment (its RCV.NXT), or null before it acked anything. */
  rcvNxt: number | null;
  win: number;
  /** Last timestamp values: the target's, and the remote's (from packets towards the target). */
  tsTarget: number | null;
  tsRemote: number | null;
}

const MAX_FLOWS = 256;
const CORPUS = 512;

/** One packet in must not make the target send more than this many at once (a burst of a window at most). */
const MAX_TX_PER_PACKET = 64;

/** Where option `kind` starts in a TCP header's options [at, end), or null. */
function findOption(p: Uint8Array, at: number, end: number, kind: number): number | null {
  for (let i = at; i < end; ) {
    const k = p[i];
    if (k === 0) return null;
    if (k === 1) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len === undefined || len < 2 || i + len > end) return null;
    if (k === kind) return i;
    i += len;
  }
  return null;
}

/** The TCP timestamp option's TSval in a TCP header at `at`, or null. */
function findTsval(p: Uint8Array, at: number, end: number): number | null {
  for (let i = at; i < end; ) {
    const kind = p[i];
    if (kind === 0) return null;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len === undefined || len < 2) return null;
    if (kind === 8 && len === 10 && i + 10 <= end) return get32(p, i + 2);
    i += len;
  }
  return null;
}

function isMartian(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224;
}

/** `p[at, at + 16)` equals the address `a`. */
function eq6(p: Uint8Array, at: number, a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (p[at + i] !== a[i]) return false;
  return true;
}

/** An IPv6 address at `at` the target must never send to: multicast, ::, ::1, IPv4-mapped. */
function isMartian6(p: Uint8Array, at: number): boolean {
  if (p[at] === 0xff) return true;
  let zeros = 0;
  while (zeros < 10 && p[at + zeros] === 0) zeros++;
  if (zeros < 10) return false;
  if (p[at + 10] === 0xff && p[at + 11] === 0xff) return true; // ::ffff:a.b.c.d
  for (let i = 10; i < 15; i++) if (p[at + i] !== 0) return false;
  return p[at + 15] <= 1; // :: and ::1
}

/**
 * Whether an IPv6 packet carries an ICMPv6 error message (type < 128), as far as its Payload
 * Length reaches, past extension headers and the Fragment header of a first fragment (as Linux's
 * icmpv6_send looks before it answers): RFC 4443 §2.4 (e.1) forbids answering one with an error.
 */
function carriesIcmp6Error(p: Uint8Array): boolean {
  if (p.length < 40 || p[0] >>> 4 !== 6) return false;
  const end = Math.min(p.length, 40 + get16(p, 4));
  let next = p[6];
  let at = 40;
  for (let i = 0; i < 16 && at < end; i++) {
    if (next === 0 || next === 60 || next === 43) {
      if (at + 2 > end) return false;
      next = p[at];
      at += (p[at + 1] + 1) * 8;
    } else if (next === NH_FRAGMENT) {
      if (at + 8 > end || (get16(p, at + 2) & 0xfff8) !== 0) return false;
      next = p[at];
      at += 8;
    } else return next === NH_ICMPV6 && at < end && p[at] < 128;
  }
  return false;
}

/**
 * The protected flow: the peer's connections to this port of the target echo a known byte
 * stream, and the fuzzer never sends, mutates or quotes their packets; the tap only drops,
 * duplicates and reorders some. Whatever the fuzzer does to everything else, every byte must
 * come back, in order, and the connection must not fail.
 */
const PORT_SAFE = 7007;
/** Bytes each protected connection carries before it closes and the next one opens. */
const SAFE_BYTES = 64 * 1024;

type Fault = 'pass' | 'drop' | 'dup' | 'hold';

/** A TCP packet of the protected flow (or an ICMP error quoting one). */
function isProtected(p: Uint8Array): boolean {
  if (p.length < 24 || (p[0] & 0x0f) !== 5) return false;
  if (p[9] === PROTO_TCP) return get16(p, 20) === PORT_SAFE || get16(p, 22) === PORT_SAFE;
  if (p[9] === PROTO_ICMP && p.length >= 52 && (p[28] & 0x0f) === 5)
    return get16(p, 48) === PORT_SAFE || get16(p, 50) === PORT_SAFE;
  return false;
}

/** The protected stream's byte at `i`. */
function safeByte(i: number): number {
  return (i * 31 + (i >>> 8) * 7 + 1) & 0xff;
}

/** The Link interface's receiving side (declared here: the fuzzer needs only its shape). */
interface LinkReceiver {
  packet(packet: Uint8Array, flags?: number): void;
  batchEnd?(): void;
}

/** The part of a Link the tap wraps (SimLink has it). */
interface InnerLink {
  readonly mtu: number;
  attach(rx: LinkReceiver): void;
  send(packet: Uint8Array): void;
  flush(): void;
  close(): Promise<void>;
}

/** A link that records what passes and lets the fuzzer inject packets into the target. */
class TapLink {
  readonly mtu: number;
  #rx: LinkReceiver | null = null;
  /** Packets of the protected flow held back, delivered at the batch's end (reordered). */
  #held: Uint8Array[] = [];
  constructor(
    private readonly inner: InnerLink,
    private readonly onRx: (p: Uint8Array) => void,
    private readonly onTx: (p: Uint8Array) => void,
    /** For the protected flow's packets only: what the wire does to them. */
    private readonly fault: (p: Uint8Array) => Fault,
  ) {
    this.mtu = inner.mtu;
  }
  attach(rx: LinkReceiver): void {
    this.#rx = rx;
    this.inner.attach({
      packet: (p, flags) => {
        if (isProtected(p)) {
          const f = this.fault(p);
          if (f === 'drop') return;
          if (f === 'hold') {
            this.#held.push(p);
            return;
          }
          rx.packet(p, flags);
          if (f === 'dup') rx.packet(p, flags);
          return;
        }
        this.onRx(p);
        rx.packet(p, flags);
      },
      batchEnd: () => {
        const held = this.#held;
        this.#held = [];
        for (const p of held) rx.packet(p);
        rx.batchEnd?.();
      },
    });
  }
  send(packet: Uint8Array): void {
    this.onTx(packet);
    if (isProtected(packet)) {
      const f = this.fault(packet);
      if (f === 'drop') return;
      if (f === 'dup') this.inner.send(packet);
    }
    this.inner.send(packet);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  inject(p: Uint8Array): void {
    this.#rx?.packet(p);
  }
  injectEnd(): void {
    this.#rx?.batchEnd?.();
  }
}

const FLAG_SETS = [
  F_ACK,
  F_ACK,
  F_ACK,
  F_ACK | F_PSH,
  F_ACK | F_PSH,
  F_RST,
  F_RST | F_ACK,
  F_SYN,
  F_SYN | F_ACK,
  F_FIN | F_ACK,
  F_FIN | F_ACK,
  F_FIN | F_ACK | F_PSH,
  F_FIN,
  0,
  F_FIN | F_PSH | F_URG,
  F_SYN | F_FIN,
  F_SYN | F_RST,
  F_ACK | F_URG,
  F_ACK | F_ECE | F_CWR,
];

function gcFunction(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const seed = o.seed >>> 0;
  const total = o.packets;
  const batchSize = o.batch ?? 32;
  const strict = o.strict ?? false;
  const heapEvery = o.heapEvery ?? 100_000;
  const maxHeapGrowth = (o.maxHeapGrowthMb ?? 64) * 1024 * 1024;
  const log = o.log ?? (() => {});
  const progressEvery = o.progressEvery ?? 0;
  const ipv6 = o.ipv6 ?? true;
  const rng = new Rng(seed);
  const act = new Rng((seed * 2654435761 + 1) >>> 0); // the peer's and owners' actions
  const gc = gcFunction();

  const heap = (): number => {
    gc?.();
    return process.memoryUsage().heapUsed;
  };

  // -------------------------------------------------------------------------------------------
  // The world

  const errorLogs: string[] = [];
  const logger = pino(
    { level: 'error' },
    {
      write: (line: string) => {
        errorLogs.push(line);
      },
    },
  );
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const txProblems: string[] = [];
  const corpusIn: Uint8Array[] = []; // peer -> target, as they arrived
  const corpusOut: Uint8Array[] = []; // target -> anyone
  let corpusInAt = 0;
  let corpusOutAt = 0;
  const flows = new Map<string, Flow>();
  const flowList: Flow[] = [];

  const scratchFlow: Flow = {
    key: '',
    remote: 0,
    localPort: 0,
    remotePort: 0,
    sndNxt: 0,
    rcvNxt: null,
    win: 0,
    tsTarget: null,
    tsRemote: null,
  };
  const flowFor = (remote: number, localPort: number, remotePort: number): Flow => {
    const key = `${remote}:${localPort}:${remotePort}`;
    let f = flows.get(key);
    if (f === undefined) {
      f = {
        key,
        remote,
        localPort,
        remotePort,
        sndNxt: 0,
        rcvNxt: null,
        win: 0,
        tsTarget: null,
        tsRemote: null,
      };
      if (flowList.length < MAX_FLOWS) flowList.push(f);
      else {
        const i = rng.int(0, MAX_FLOWS - 1);
        flows.delete(flowList[i].key);
        flowList[i] = f;
      }
      flows.set(key, f);
    }
    return f;
  };

  const onRx = (p: Uint8Array): void => {
    if (corpusIn.length < CORPUS) corpusIn.push(p);
    else corpusIn[corpusInAt++ % CORPUS] = p;
    if (p[9] === PROTO_TCP && (p[0] & 0x0f) === 5 && p.length >= 40) {
      const f = flows.get(`${get32(p, 12)}:${get16(p, 22)}:${get16(p, 20)}`);
      if (f !== undefined) f.tsRemote = findTsval(p, 40, 20 + (p[32] >>> 4) * 4);
    }
  };

  /**
   * While a TCP RST is being injected: "source:sport:dport:seq:ack" of the RST that RFC 9293
   * §3.10.7.1's reset rule would make from it (`<SEQ=SEG.ACK>` or `<SEQ=0><ACK=SEG.SEQ+LEN>`),
   * else null. A connection's own abort RST that happens to leave in the same turn differs.
   */
  let injectingRst: string | null = null;
  /** Packets the target sent while one packet was being injected. */
  let txDuringInject = 0;
  const onTx = (p: Uint8Array): void => {
    txDuringInject++;
    const prot = isProtected(p);
    if (prot) {
      // counted apart: the protected flow's own burst is not the fuzzer's doing
      txDuringInject--;
    } else if (corpusOut.length < CORPUS) corpusOut.push(p);
    else corpusOut[corpusOutAt++ % CORPUS] = p;
    // What the target sends must be well formed, from itself, to someone else.
    if (p.length > 0 && p[0] >>> 4 === 6 && ipv6) {
      onTx6(p);
      return;
    }
    const ihl = (p[0] & 0x0f) * 4;
    if (p.length < 20 || p[0] >>> 4 !== 4 || ihl < 20 || ihl > p.length)
      txProblems.push(`target sent a malformed IP header: ${hex(p.subarray(0, 60))}`);
    else if (get16(p, 2) !== p.length)
      txProblems.push(`target sent total length ${get16(p, 2)} in ${p.length} bytes`);
    else if (p.length > la.mtu) txProblems.push(`target sent ${p.length} bytes > MTU`);
    else if (internetChecksum(p, 0, ihl) !== 0)
      txProblems.push(`target sent a bad IP header checksum: ${hex(p.subarray(0, ihl))}`);
    else if (get32(p, 12) !== TARGET)
      txProblems.push(`target sent from ${get32(p, 12).toString(16)}`);
    else if (get32(p, 16) === TARGET) txProblems.push('target sent a packet to itself');
    else if (isMartian(get32(p, 16)))
      txProblems.push(`target answered a martian: ${hex(p.subarray(0, 40))}`);
    else if (p[9] === PROTO_TCP && (get16(p, 6) & 0x3fff) === 0) {
      const len = p.length - ihl;
      const sum = pseudoHeaderSum(get32(p, 12), get32(p, 16), PROTO_TCP, len);
      if (len < 20 || internetChecksum(p, ihl, p.length, sum) !== 0)
        txProblems.push(`target sent a bad TCP checksum: ${hex(p.subarray(0, 60))}`);
      else {
        const f = prot ? scratchFlow : flowFor(get32(p, 16), get16(p, ihl), get16(p, ihl + 2));
        checkTcpOut(p, ihl, len, f, String(get32(p, 16)));
      }
    }
  };

  /** A TCP segment the target sent (at `t`, `len` bytes, checksum right): its flags and options. */
  const checkTcpOut = (p: Uint8Array, t: number, len: number, f: Flow, dstKey: string): void => {
    const flags = p[t + 13];
    const hl = (p[t + 12] >>> 4) * 4;
    const dataLen = len - hl;
    if (hl < 20 || hl > len) txProblems.push(`target sent TCP data offset ${hl}`);
    if (flags & F_RST && dataLen > 0) txProblems.push('target sent a RST with data');
    if (
      (flags & (F_SYN | F_FIN)) === (F_SYN | F_FIN) ||
      (flags & (F_SYN | F_RST)) === (F_SYN | F_RST)
    )
      txProblems.push(`target sent flags ${flags.toString(16)}`);
    const ws = findOption(p, t + 20, t + hl, 3);
    if (ws !== null && (!(flags & F_SYN) || p[ws + 2] > 14))
      txProblems.push(`target sent window scale ${p[ws + 2]} (flags ${flags.toString(16)})`);
    const mss = findOption(p, t + 20, t + hl, 2);
    if (mss !== null && (!(flags & F_SYN) || get16(p, mss + 2) < 64))
      txProblems.push(`target sent MSS ${get16(p, mss + 2)} (flags ${flags.toString(16)})`);
    // Never a RST for a RST (RFC 9293 §3.10.7.1): the packet being injected was one.
    if (
      flags & F_RST &&
      injectingRst !== null &&
      injectingRst ===
        `${dstKey}:${get16(p, t + 2)}:${get16(p, t)}:${get32(p, t + 4)}:${flags & F_ACK ? get32(p, t + 8) : 0}`
    )
      txProblems.push(`target answered a RST with a RST: ${hex(p.subarray(0, 60))}`);
    f.sndNxt =
      (get32(p, t + 4) + dataLen + (flags & F_SYN ? 1 : 0) + (flags & F_FIN ? 1 : 0)) >>> 0;
    if (flags & F_ACK) f.rcvNxt = get32(p, t + 8);
    f.win = get16(p, t + 14);
    const ts = findTsval(p, t + 20, t + hl);
    if (ts !== null) f.tsTarget = ts;
  };

  /** IPv6 flows (the remote's address in `remote6`), as `flows` for IPv4. */
  const flows6 = new Map<string, Flow & { remote6: Uint8Array }>();
  const flowList6: (Flow & { remote6: Uint8Array })[] = [];
  const flowFor6 = (p: Uint8Array, t: number): Flow => {
    const dstKey = hex(p.subarray(24, 40));
    const key = `${dstKey}:${get16(p, t)}:${get16(p, t + 2)}`;
    let f = flows6.get(key);
    if (f === undefined) {
      f = {
        key,
        remote: -1,
        remote6: p.slice(24, 40),
        localPort: get16(p, t),
        remotePort: get16(p, t + 2),
        sndNxt: 0,
        rcvNxt: null,
        win: 0,
        tsTarget: null,
        tsRemote: null,
      };
      if (flowList6.length < MAX_FLOWS) flowList6.push(f);
      else {
        const i = rng.int(0, MAX_FLOWS - 1);
        flows6.delete(flowList6[i].key);
        flowList6[i] = f;
      }
      flows6.set(key, f);
    }
    return f;
  };

  /** Set while an IPv6 packet carrying an ICMPv6 error is injected: no error may answer it. */
  let injectingIcmp6Error = false;

  /** An IPv6 packet the target sent: well formed, from its own address, to no martian. */
  const onTx6 = (p: Uint8Array): void => {
    if (p.length < 40 || get16(p, 4) + 40 !== p.length) {
      txProblems.push(`target sent a malformed IPv6 header: ${hex(p.subarray(0, 60))}`);
      return;
    }
    if (p.length > la.mtu) txProblems.push(`target sent ${p.length} bytes > MTU`);
    else if (!eq6(p, 8, TARGET6)) txProblems.push(`target sent from ${hex(p.subarray(8, 24))}`);
    else if (eq6(p, 24, TARGET6)) txProblems.push('target sent an IPv6 packet to itself');
    else if (isMartian6(p, 24))
      txProblems.push(`target answered an IPv6 martian: ${hex(p.subarray(0, 60))}`);
    if (txProblems.length > 0) return;
    let next = p[6];
    let t = 40;
    if (next === NH_FRAGMENT) {
      // We send no other extension header; a fragment's upper layer is checked whole elsewhere.
      if (p.length < 48 || p[41] !== 0 || (p[43] & 0x06) !== 0)
        txProblems.push(`target sent a bad Fragment header: ${hex(p.subarray(0, 60))}`);
      if ((get16(p, 42) & 0xfff8) !== 0) return;
      next = p[40];
      t = 48;
      if ((p[43] & 1) === 0) {
        txProblems.push('target sent an atomic fragment');
        return;
      }
      if (next === NH_ICMPV6 && p[t] < 128) txProblems.push('target fragmented an ICMPv6 error');
      return;
    }
    if (next !== NH_TCP && next !== NH_UDP && next !== NH_ICMPV6) {
      txProblems.push(`target sent Next Header ${next}`);
      return;
    }
    const len = p.length - t;
    const sum = pseudoHeaderSum6(p.subarray(8, 24), p.subarray(24, 40), next, len);
    if (len < (next === NH_TCP ? 20 : next === NH_UDP ? 8 : 4))
      txProblems.push(`target sent a short protocol ${next} header`);
    else if (internetChecksum(p, t, p.length, sum) !== 0)
      txProblems.push(`target sent a bad protocol ${next} checksum: ${hex(p.subarray(0, 80))}`);
    else if (next === NH_ICMPV6 && p[t] < 128) {
      // Whenever it is sent (a reassembly timeout fires between packets), an error never quotes
      // a packet that carries one.
      if (carriesIcmp6Error(p.subarray(t + 8)))
        txProblems.push(
          `target sent ICMPv6 error ${p[t]}/${p[t + 1]} about an ICMPv6 error (RFC 4443 §2.4 (e.1)): ${hex(p.subarray(0, 100))}`,
        );
      if (injectingIcmp6Error)
        txProblems.push(
          `target answered an ICMPv6 error with ICMPv6 error ${p[t]}/${p[t + 1]} (RFC 4443 §2.4 (e.1)): ${hex(p.subarray(0, 100))}`,
        );
      if (p.length > 1280) txProblems.push(`target sent a ${p.length}-byte ICMPv6 error (> 1280)`);
    } else if (next === NH_TCP) checkTcpOut(p, t, len, flowFor6(p, t), hex(p.subarray(24, 40)));
  };

  const [peerLink, targetInner] = [la, lb];
  const faults = new Rng((seed * 40503 + 7) >>> 0);
  const tap = new TapLink(targetInner, onRx, onTx, () => {
    const r = faults.next();
    return r < 0.03 ? 'drop' : r < 0.05 ? 'dup' : r < 0.1 ? 'hold' : 'pass';
  });
  const isnSecret = new Uint8Array(16).fill(seed & 0xff);
  const peer = createStack({
    link: peerLink,
    address: PEER_S,
    ...(ipv6 ? { address6: PEER6_S } : {}),
    clock,
    logger,
    ip6: { initialId: seed },
    tcp: { isnSecret },
  });
  const target = createStack({
    link: tap,
    address: TARGET_S,
    ...(ipv6 ? { address6: TARGET6_S } : {}),
    clock,
    logger,
    reassembly: { maxBytes: LIMITS.reassemblyBytes },
    // A fixed first Identification (default random): the run is a function of its seed.
    ip6: { reassembly: { maxBytes: LIMITS.reassembly6Bytes }, initialId: seed ^ 0x5a5a5a5a },
    tcp: {
      isnSecret,
      maxConnections: LIMITS.maxConnections,
      synBacklog: LIMITS.synBacklog,
      maxIpv6Peers: LIMITS.maxIpv6Peers,
      conn: { rcvBuf: LIMITS.rcvBuf, sndBuf: LIMITS.sndBuf, maxOoo: LIMITS.maxOoo },
    },
  });

  // Exceptions that escape to the event loop (an owner's handler rethrown by the stack).
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };

  // Which states the target's connections went through (each connection counted once a state).
  const statesSeen = new Map<string, number>();
  target.tcp.onConnectionGone((row) => {
    for (const st of new Set(row.history.map((x) => x.state)))
      statesSeen.set(st, (statesSeen.get(st) ?? 0) + 1);
  });

  // The target's handles, for per-connection checks (the table itself is private).
  const handles = new Set<TcpHandle>();
  const serverSockets = new Set<Socket>();
  const wrapAccept = (server: Server): void => {
    const accept = server.accept.bind(server);
    server.accept = (h: TcpHandle): TcpOwner | null => {
      handles.add(h);
      return accept(h);
    };
  };

  // Target services: echo, discard (node:net-shaped), HTTP (node:http), a sink that never reads.
  const echo = target.net.createServer({ allowHalfOpen: true }, (s) => {
    serverSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => serverSockets.delete(s));
    s.setTimeout(IDLE_MS, () => s.destroy()); // a server's idle timeout (the stack's clock)
    s.pipe(s);
  });
  wrapAccept(echo);
  echo.listen({ port: PORT_ECHO, backlog: LIMITS.backlog });
  const safeEcho = target.net.createServer({ allowHalfOpen: true }, (s) => {
    serverSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => serverSockets.delete(s));
    s.pipe(s);
  });
  wrapAccept(safeEcho);
  safeEcho.listen({ port: PORT_SAFE, backlog: LIMITS.backlog });
  const discard = target.net.createServer({}, (s) => {
    serverSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => serverSockets.delete(s));
    s.setTimeout(IDLE_MS, () => s.destroy()); // a server's idle timeout (the stack's clock)
    s.resume();
  });
  wrapAccept(discard);
  discard.listen({ port: PORT_DISCARD, backlog: LIMITS.backlog });
  const http = serveHttp(target, PORT_HTTP, (_req, res) => res.end('x'.repeat(2000)), {
    backlog: LIMITS.backlog,
  });
  wrapAccept(http.server);
  http.http.timeout = IDLE_MS; // node:http sets it on each socket: the stack's clock
  await startUdpEcho(target, PORT_ECHO); // the app itself: its bugs are the stack's

  const sink = new Set<TcpHandle>();
  const sinkOwner: TcpOwner = {
    tcpEvent(h: TcpHandle, e: TcpEvent) {
      if (e.type === 'closed') sink.delete(h);
    },
  };
  target.tcp.listen(
    PORT_SINK,
    {
      accept(h) {
        handles.add(h);
        sink.add(h);
        h.setFlowing(false); // held data fills the receive buffer and closes the window
        return sinkOwner;
      },
    },
    LIMITS.backlog,
  );

  // Active opens from the target to the peer's echo (and to a closed port).
  const active = new Set<TcpHandle>();
  const activeOwner: TcpOwner = {
    tcpEvent(h: TcpHandle, e: TcpEvent) {
      if (e.type === 'closed') active.delete(h);
    },
  };

  // The peer: echo server for the target's active opens, and clients.
  const peerEcho = peer.net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  peerEcho.listen(PORT_ECHO);
  const clients = new Set<Socket>();
  const peerUdp = peer.dgram.createSocket('udp4');
  peerUdp.on('error', () => {});
  peerUdp.on('message', () => {});
  peerUdp.bind(4000);
  const peerUdp6 = ipv6 ? peer.dgram.createSocket('udp6') : null;
  if (peerUdp6 !== null) {
    peerUdp6.on('error', () => {});
    peerUdp6.on('message', () => {});
    peerUdp6.bind(4001);
  }

  await immediate();

  // -------------------------------------------------------------------------------------------
  // The peer's and the owners' actions between batches

  const integrity: string[] = [];
  let safeVerified = 0;
  let safeConnections = 0;
  let safe: { s: Socket; sent: number; got: number; connected: boolean; done: boolean } | null =
    null;
  const safeStep = (): void => {
    if (safe === null) {
      const st = {
        s: peer.net.connect(PORT_SAFE, TARGET_S),
        sent: 0,
        got: 0,
        connected: false,
        done: false,
      };
      safe = st;
      st.s.on('connect', () => {
        st.connected = true;
        safeConnections++;
      });
      st.s.on('data', (d: Buffer) => {
        for (let i = 0; i < d.length; i++) {
          if (d[i] !== safeByte(st.got + i)) {
            integrity.push(
              `protected stream: byte ${st.got + i} is ${d[i]}, not ${safeByte(st.got + i)}`,
            );
            break;
          }
        }
        st.got += d.length;
        safeVerified += d.length;
        if (st.got > st.sent)
          integrity.push(`protected stream: ${st.got} bytes back of ${st.sent} sent`);
        if (st.got === SAFE_BYTES && !st.done) {
          st.done = true;
          st.s.end();
        }
      });
      st.s.on('error', (e: NodeJS.ErrnoException) => {
        // Before the handshake the table may be full (the fuzzer's doing): only later is it a failure.
        if (st.connected && !st.done)
          integrity.push(`protected connection failed: ${e.code ?? e.message}`);
      });
      st.s.on('close', () => {
        if (st.connected && !st.done && integrity.length === 0)
          integrity.push(`protected connection closed after ${st.got} of ${st.sent} bytes`);
        if (safe === st) safe = null;
      });
      return;
    }
    const st = safe;
    if (!st.connected || st.sent >= SAFE_BYTES || !act.chance(0.5)) return;
    const n = Math.min(SAFE_BYTES - st.sent, act.int(1, 4000));
    const chunk = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) chunk[i] = safeByte(st.sent + i);
    st.sent += n;
    st.s.write(chunk);
  };

  const peerActions = (): void => {
    safeStep();
    if (clients.size < 10 && act.chance(0.3)) {
      const port = act.pick([
        PORT_ECHO,
        PORT_ECHO,
        PORT_DISCARD,
        PORT_HTTP,
        PORT_SINK,
        PORT_CLOSED,
      ]);
      // A third of them over IPv6 (the target's servers listen on '::' for both families).
      const s = peer.net.connect(port, ipv6 && act.chance(0.33) ? TARGET6_S : TARGET_S);
      clients.add(s);
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('close', () => clients.delete(s));
      s.on('connect', () => {
        if (port === PORT_HTTP) s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        else s.write(act.bytes(act.int(0, 3000)));
      });
    }
    for (const s of clients) {
      if (!act.chance(0.15) || s.connecting) continue;
      switch (act.int(0, 7)) {
        case 0:
        case 1:
          s.write(act.bytes(act.int(1, 20_000)));
          break;
        case 2:
          s.end();
          break;
        case 3:
          s.destroy();
          break;
        case 4:
          s.pause();
          break;
        case 5:
          s.resume();
          break;
        default:
          s.write(act.bytes(act.int(1, 100)));
      }
    }
    if (active.size < 3 && act.chance(0.05)) {
      const h = target.tcp.connect(PEER, act.chance(0.8) ? PORT_ECHO : 82, activeOwner);
      if (typeof h !== 'string') {
        handles.add(h);
        active.add(h);
      }
    }
    for (const h of active) {
      if (!act.chance(0.2)) continue;
      switch (act.int(0, 6)) {
        case 0:
        case 1:
          h.send(act.bytes(act.int(1, 8000)));
          break;
        case 2:
          h.shutdown();
          break;
        case 3:
          h.close();
          active.delete(h);
          break;
        case 4:
          h.abort();
          active.delete(h);
          break;
        case 5:
          h.setFlowing(act.chance(0.5));
          break;
        default:
          h.recv(act.int(1, 5000));
      }
    }
    for (const h of sink) {
      if (!act.chance(0.05)) continue;
      switch (act.int(0, 3)) {
        case 0:
          h.recv(act.int(1, 4000));
          break;
        case 1:
          h.close();
          sink.delete(h);
          break;
        case 2:
          h.abort();
          sink.delete(h);
          break;
        default:
          h.send(act.bytes(act.int(1, 3000)));
      }
    }
    if (act.chance(0.05)) peerUdp.send(act.bytes(act.int(0, 1400)), PORT_ECHO, TARGET_S);
    if (act.chance(0.03)) peer.sendEchoRequest(TARGET, 1, act.int(0, 65535), act.bytes(56));
    if (peerUdp6 !== null) {
      // Datagrams up to 3000 bytes (fragmented both ways) and pings, some as large.
      if (act.chance(0.03)) peerUdp6.send(act.bytes(act.int(0, 3000)), PORT_ECHO, TARGET6_S);
      if (act.chance(0.02))
        peer.sendEchoRequest6(TARGET6, 2, act.int(0, 65535), act.bytes(act.pick([56, 2000])));
    }
  };

  // -------------------------------------------------------------------------------------------
  // Packet generators: each returns the packets to inject, in order

  const spoofSrc = (): number => {
    const r = rng.next();
    if (r < 0.6) return PEER;
    if (r < 0.9) return (0x0a000000 | rng.int(3, 254)) >>> 0;
    if (r < 0.95) return rng.pick([TARGET, 0x7f000001, 0, 0xe0000001, 0xffffffff, 0xf0000001]);
    return rng.u32();
  };
  const targetPort = (): number => (rng.chance(0.9) ? rng.pick(TARGET_PORTS) : rng.int(0, 65535));
  const payloadLen = (max: number): number => {
    const r = rng.next();
    if (r < 0.5) return 0;
    if (r < 0.7) return Math.min(max, rng.int(1, 10));
    if (r < 0.9) return Math.min(max, rng.int(11, 1000));
    return Math.max(0, Math.min(max, rng.int(1001, 1460)));
  };
  const flags = (): number => (rng.chance(0.04) ? rng.int(0, 255) : rng.pick(FLAG_SETS));
  const seqDelta = (w: number): number => {
    switch (rng.int(0, 11)) {
      case 0:
      case 1:
      case 2:
        return 0;
      case 3:
        return 1;
      case 4:
        return -1;
      case 5:
        return w;
      case 6:
        return w - 1;
      case 7:
        return w + 1;
      case 8:
        return -w;
      case 9:
        return rng.pick([0x7fffffff, 0x80000000, -0x7fffffff]);
      case 10:
        return rng.int(-3000, 3000);
      default:
        return rng.u32();
    }
  };
  const checksumMaybe = (p: Uint8Array, p0 = 0.9): Uint8Array => {
    if (rng.chance(p0)) repairChecksums(p);
    else if (rng.chance(0.5)) repairChecksums(p, false); // IP header only: L4 checksum wrong
    return p;
  };

  /** A segment from a flow's remote end, placed against what the target last said. */
  const genReflect = (): Uint8Array[] => {
    if (flowList.length === 0) return genSyn();
    const f = rng.pick(flowList);
    const w = f.win << rng.pick([0, 0, 7, rng.int(0, 14)]);
    const base = f.rcvNxt ?? rng.u32();
    const seq = (base + seqDelta(w)) >>> 0;
    const ack = (f.sndNxt + rng.pick([0, 0, 0, 0, 1, -1, -w, rng.int(-70_000, 70_000)])) >>> 0;
    let options: Uint8Array | undefined;
    const r = rng.next();
    if (r < 0.45 && f.tsTarget !== null) {
      const tsv = ((f.tsRemote ?? rng.u32()) + rng.pick([0, 1, 10, 1000, -1, 0x7fffffff])) >>> 0;
      const ecr = rng.chance(0.9) ? f.tsTarget : rng.u32();
      options = Uint8Array.of(1, 1, 8, 10, ...be32(tsv), ...be32(ecr));
    } else if (r < 0.62) options = tcpValidOptions(rng, f.sndNxt);
    else if (r < 0.7) options = tcpOptions(rng, seq);
    const room = 1500 - 20 - 20 - Math.min(40, ((options?.length ?? 0) + 3) & ~3);
    const payload = rng.bytes(payloadLen(room));
    const seg = tcpBytes({
      srcPort: f.remotePort,
      dstPort: f.localPort,
      seq,
      ack,
      flags: flags(),
      window: rng.pick([f.win, 0, 1, 65535, rng.int(0, 65535)]),
      urgent: rng.chance(0.05) ? rng.int(0, 65535) : 0,
      options,
      payload,
    });
    const p = ipPacket(
      { src: f.remote, dst: TARGET, protocol: PROTO_TCP, id: rng.int(0, 65535) },
      seg,
    );
    return [checksumMaybe(p, 0.92)];
  };

  const corpusTcp = (): Uint8Array | null => {
    for (let i = 0; i < 8 && corpusIn.length > 0; i++) {
      const p = rng.pick(corpusIn);
      if (p[9] === PROTO_TCP && (p[0] & 0x0f) === 5 && p.length >= 40) return p;
    }
    return null;
  };

  /** A recorded segment with its header fields changed. */
  const genMutateTcp = (): Uint8Array[] => {
    const orig = corpusTcp();
    if (orig === null) return genReflect();
    let p: Uint8Array = Uint8Array.from(orig);
    const ops = rng.int(1, 3);
    for (let i = 0; i < ops; i++) {
      switch (rng.int(0, 9)) {
        case 0:
          p.set(be32((get32(p, 24) + seqDelta(65535)) >>> 0), 24);
          break;
        case 1:
          p.set(be32((get32(p, 28) + seqDelta(65535)) >>> 0), 28);
          break;
        case 2:
          p[33] = flags();
          break;
        case 3:
          p.set(be16(rng.pick([0, 1, 65535, rng.int(0, 65535)])), 34);
          break;
        case 4:
          p[32] = (rng.int(0, 15) << 4) | (p[32] & 0x0f);
          break;
        case 5: {
          // new options, same payload
          const hl = Math.max(20, (p[32] >>> 4) * 4);
          const seg = tcpBytes({
            srcPort: get16(p, 20),
            dstPort: get16(p, 22),
            seq: get32(p, 24),
            ack: get32(p, 28),
            flags: p[33],
            window: get16(p, 34),
            options: tcpOptions(rng, get32(p, 28)),
            payload: p.subarray(Math.min(p.length, 20 + hl)).slice(0, 1400),
          });
          p = ipPacket(
            { src: get32(p, 12), dst: TARGET, protocol: PROTO_TCP, id: get16(p, 4) },
            seg,
          );
          break;
        }
        case 6: // cut or grow the payload
          p = rng.chance(0.5)
            ? p.slice(0, rng.int(40, p.length))
            : concat(p, rng.bytes(rng.int(1, Math.max(1, 1500 - p.length))));
          p.set(be16(p.length), 2);
          break;
        case 7:
          p.set(be16(targetPort()), 22);
          break;
        case 8:
          p.set(be32(spoofSrc()), 12);
          break;
        default:
          p.set(be16(rng.int(0, 65535)), 38); // urgent pointer
          p[33] |= F_URG;
      }
    }
    return [checksumMaybe(p, 0.85)];
  };

  /** Any recorded packet (either way, addresses turned towards the target), bytes mangled. */
  const genBytes = (): Uint8Array[] => {
    const pool = rng.chance(0.7) || corpusOut.length === 0 ? corpusIn : corpusOut;
    if (pool.length === 0) return genSyn();
    const p = Uint8Array.from(rng.pick(pool));
    if (get32(p, 16) !== TARGET) {
      p.set(p.subarray(16, 20), 12);
      p.set(be32(TARGET), 16);
    }
    const m = mutateBytes(rng, p);
    if (rng.chance(0.5)) repairChecksums(m);
    return [m];
  };

  const genSyn = (): Uint8Array[] => {
    const f = rng.pick([
      F_SYN,
      F_SYN,
      F_SYN,
      F_SYN | F_FIN,
      F_SYN | F_RST,
      F_SYN | F_ACK,
      F_SYN | F_PSH,
    ]);
    const options = rng.chance(0.7) ? tcpOptions(rng, 0) : undefined;
    const seg = tcpBytes({
      srcPort: rng.int(0, 65535),
      dstPort: targetPort(),
      seq: rng.u32(),
      ack: rng.chance(0.8) ? 0 : rng.u32(),
      flags: rng.chance(0.05) ? rng.int(0, 255) : f,
      window: rng.int(0, 65535),
      options,
      payload: rng.chance(0.1) ? rng.bytes(rng.int(1, 500)) : undefined,
    });
    const p = ipPacket(
      { src: spoofSrc(), dst: TARGET, protocol: PROTO_TCP, id: rng.int(0, 65535) },
      seg,
    );
    return [checksumMaybe(p, 0.95)];
  };

  const genIcmp = (): Uint8Array[] => {
    let msg: Uint8Array;
    let src = spoofSrc();
    if (rng.chance(0.4) || corpusOut.length === 0) {
      msg = icmpBytes(
        rng.chance(0.9) ? 8 : rng.int(0, 255),
        rng.chance(0.9) ? 0 : rng.int(0, 255),
        rng.u32(),
        rng.bytes(rng.int(0, 1400)),
      );
    } else {
      // An error quoting something the target sent (possibly mangled), from its destination.
      const q = rng.pick(corpusOut);
      src = rng.chance(0.8) ? get32(q, 16) : src;
      let quote = q.subarray(0, rng.pick([8, 20, 28, 40, q.length, rng.int(0, q.length)]));
      if (rng.chance(0.2)) quote = mutateBytes(rng, quote, 3);
      const type = rng.pick([3, 3, 3, 11, 4, 12, 5, rng.int(0, 255)]);
      const code = type === 3 ? rng.pick([0, 1, 2, 3, 4, 4, 13, rng.int(0, 255)]) : rng.int(0, 2);
      const rest =
        type === 3 && code === 4 ? rng.pick([0, 1, 68, 296, 576, 1280, 1500, 65535]) : rng.u32();
      msg = icmpBytes(type, code, rest, quote);
    }
    const p = ipPacket({ src, dst: TARGET, protocol: PROTO_ICMP, id: rng.int(0, 65535) }, msg);
    return [checksumMaybe(p, 0.9)];
  };

  const genUdp = (): Uint8Array[] => {
    const payload = rng.bytes(rng.int(0, 1400));
    const u = udpBytes(rng.int(0, 65535), rng.chance(0.6) ? PORT_ECHO : rng.int(0, 65535), payload);
    if (rng.chance(0.1)) u.set(be16(rng.pick([0, 7, 9, u.length + 1, 65535])), 4);
    const p = ipPacket(
      { src: spoofSrc(), dst: TARGET, protocol: PROTO_UDP, id: rng.int(0, 65535) },
      u,
    );
    if (rng.chance(0.9)) repairChecksums(p);
    if (rng.chance(0.1)) p.set([0, 0], 26); // "no checksum"
    return [p];
  };

  const genFrag = (): Uint8Array[] => {
    let whole: Uint8Array;
    const kind = rng.int(0, 3);
    const src = rng.chance(0.7) ? PEER : spoofSrc();
    const id = rng.chance(0.3) ? 0x1234 : rng.int(0, 65535);
    if (kind === 0) {
      const u = udpBytes(4000, PORT_ECHO, rng.bytes(rng.int(1, 4000)));
      whole = ipPacket({ src, dst: TARGET, protocol: PROTO_UDP, id }, u);
    } else if (kind === 1) {
      whole = ipPacket(
        { src, dst: TARGET, protocol: PROTO_ICMP, id },
        icmpBytes(8, 0, rng.u32(), rng.bytes(rng.int(1, 5000))),
      );
    } else {
      const [seg] = kind === 2 ? genReflect() : genSyn();
      whole = Uint8Array.from(seg);
      whole.set(be16(id), 4);
    }
    repairChecksums(whole);
    const len = whole.length - 20;
    const min = Math.max(8, Math.ceil(len / 48));
    const pieces = fragment(rng, whole, {
      size: rng.int(min, Math.max(min, 1480)),
      overlap: rng.chance(0.15),
      duplicate: rng.chance(0.1),
      dropOne: rng.chance(0.15),
      shuffle: rng.chance(0.3),
      oversize: kind === 1 && rng.chance(0.1),
    });
    if (pieces.length > 0 && rng.chance(0.1)) {
      const i = rng.int(0, pieces.length - 1);
      pieces[i] = mutateBytes(rng, pieces[i], 2);
      if (rng.chance(0.7)) repairChecksums(pieces[i], false);
    }
    return pieces;
  };

  const genReplay = (): Uint8Array[] => {
    if (corpusIn.length === 0) return genSyn();
    return [rng.pick(corpusIn)];
  };

  // ---- IPv6: the same kinds of packet, and what only IPv6 has (extension headers, ND, MLD)

  const SPOOF6 = [
    '::',
    '::1',
    'ff02::1',
    'fe80::1',
    '::ffff:10.0.0.1',
    '2001:db8::1',
    TARGET6_S,
  ].map(parseIpv6);
  const ODD_DST6 = [
    'ff02::1',
    'ff02::2',
    'ff02::16',
    'ff02::1:ff00:2',
    'fd00::3',
    '::ffff:10.0.0.2',
    '::1',
  ].map(parseIpv6);
  const spoofSrc6 = (): Uint8Array => {
    const r = rng.next();
    if (r < 0.6) return PEER6;
    if (r < 0.88) {
      const a = PEER6.slice(); // fd00::xxyy: more peers than tcp.maxIpv6Peers
      a[14] = rng.int(0, 255);
      a[15] = rng.int(2, 255);
      return a;
    }
    if (r < 0.95) return rng.pick(SPOOF6);
    return rng.bytes(16);
  };
  const dst6 = (): Uint8Array => (rng.chance(0.93) ? TARGET6 : rng.pick(ODD_DST6));
  const corpus6 = (pool: Uint8Array[]): Uint8Array | null => {
    for (let i = 0; i < 8 && pool.length > 0; i++) {
      const p = rng.pick(pool);
      if (p.length >= 40 && p[0] >>> 4 === 6) return p;
    }
    return null;
  };
  const packet6 = (
    src: Uint8Array,
    dst: Uint8Array,
    next: number,
    body: Uint8Array,
    hopLimit = 64,
  ): Uint8Array =>
    ipv6Packet({ src, dst, next, hopLimit, trafficClass: rng.chance(0.05) ? 3 : 0 }, body);

  /** An ICMPv6 message: echo, errors quoting what the target sent, ND and MLD, junk types. */
  const icmp6Body = (): Uint8Array => {
    const r = rng.next();
    if (r < 0.45) {
      return icmp6Bytes(rng.chance(0.9) ? 128 : 129, 0, rng.u32(), rng.bytes(rng.int(0, 1400)));
    }
    if (r < 0.75) {
      const q = corpus6(corpusOut);
      let quote: Uint8Array =
        q === null ? rng.bytes(rng.int(0, 80)) : q.subarray(0, rng.pick([40, 48, 60, q.length]));
      if (rng.chance(0.2)) quote = mutateBytes(rng, quote, 3);
      const type = rng.pick([1, 1, 1, 2, 3, 4, rng.int(0, 127)]);
      const code = type === 1 ? rng.pick([0, 1, 3, 4, 4, 5, 6, rng.int(0, 255)]) : rng.int(0, 3);
      const rest = type === 2 ? rng.pick([0, 68, 1279, 1280, 1500, 65535, rng.u32()]) : rng.u32();
      return icmp6Bytes(type, code, rest, quote);
    }
    if (r < 0.9) {
      // Neighbor Discovery (133-137) and MLD (130-132, 143), as the kernel sends them.
      const type = rng.pick([130, 131, 132, 133, 134, 135, 136, 137, 143]);
      return icmp6Bytes(type, 0, rng.u32(), rng.bytes(rng.pick([0, 16, 20, 24, rng.int(0, 64)])));
    }
    return icmp6Bytes(rng.int(0, 255), rng.int(0, 255), rng.u32(), rng.bytes(rng.int(0, 64)));
  };

  const udp6Body = (): Uint8Array => {
    const u = udpBytes(
      rng.int(0, 65535),
      rng.chance(0.6) ? PORT_ECHO : rng.int(0, 65535),
      rng.bytes(rng.int(0, 1400)),
    );
    if (rng.chance(0.1)) u.set(be16(rng.pick([0, 7, 9, u.length + 1, 65535])), 4);
    return u;
  };

  /** A TCP segment over IPv6: on a live IPv6 flow (placed as genReflect places it) or a SYN. */
  const tcp6 = (): { src: Uint8Array; body: Uint8Array } => {
    if (flowList6.length > 0 && rng.chance(0.6)) {
      const f = rng.pick(flowList6);
      const w = f.win << rng.pick([0, 0, 7, rng.int(0, 14)]);
      const seq = ((f.rcvNxt ?? rng.u32()) + seqDelta(w)) >>> 0;
      const ack = (f.sndNxt + rng.pick([0, 0, 0, 1, -1, -w, rng.int(-70_000, 70_000)])) >>> 0;
      const r = rng.next();
      const options =
        r < 0.2 ? tcpValidOptions(rng, f.sndNxt) : r < 0.3 ? tcpOptions(rng, seq) : undefined;
      const body = tcpBytes({
        srcPort: f.remotePort,
        dstPort: f.localPort,
        seq,
        ack,
        flags: flags(),
        window: rng.pick([f.win, 0, 65535, rng.int(0, 65535)]),
        options,
        payload: rng.bytes(payloadLen(1500 - 40 - 20 - 40)),
      });
      return { src: f.remote6, body };
    }
    const body = tcpBytes({
      srcPort: rng.int(0, 65535),
      dstPort: targetPort(),
      seq: rng.u32(),
      ack: rng.chance(0.8) ? 0 : rng.u32(),
      flags: rng.pick([F_SYN, F_SYN, F_SYN, F_SYN | F_FIN, F_SYN | F_ACK, rng.int(0, 255)]),
      window: rng.int(0, 65535),
      options: rng.chance(0.7) ? tcpOptions(rng, 0) : undefined,
      payload: rng.chance(0.1) ? rng.bytes(rng.int(1, 500)) : undefined,
    });
    return { src: spoofSrc6(), body };
  };

  /** One upper-layer message of a random protocol, and the source it goes with. */
  const upper6 = (): { proto: number; src: Uint8Array; body: Uint8Array } => {
    const r = rng.next();
    if (r < 0.35) return { proto: NH_ICMPV6, src: spoofSrc6(), body: icmp6Body() };
    if (r < 0.6) return { proto: NH_UDP, src: spoofSrc6(), body: udp6Body() };
    return { proto: NH_TCP, ...tcp6() };
  };

  const repair6 = (p: Uint8Array, p0 = 0.9): Uint8Array => {
    if (rng.chance(p0)) repairChecksums6(p);
    return p;
  };

  /** Whole datagrams cut into fragments: overlapping, duplicated, one missing, tiny, too long. */
  const genFrag6 = (): Uint8Array[] => {
    const kind = rng.int(0, 2);
    const src = rng.chance(0.7) ? PEER6 : spoofSrc6();
    let next: number;
    let body: Uint8Array;
    if (kind === 0) {
      next = NH_ICMPV6;
      // Mostly echo requests; now and then an error, which no error may answer (a timeout too).
      const type = rng.chance(0.9) ? 128 : rng.pick([1, 2, 3, 4]);
      body = icmp6Bytes(type, 0, rng.u32(), rng.bytes(rng.int(1, 5000)));
    } else if (kind === 1) {
      next = NH_UDP;
      body = udpBytes(4001, PORT_ECHO, rng.bytes(rng.int(1, 4000)));
    } else {
      next = NH_TCP;
      body = tcp6().body;
    }
    const hbh = rng.chance(0.15);
    const whole = hbh
      ? packet6(src, TARGET6, NH_HOP, concat(Uint8Array.of(next, 0, 1, 4, 0, 0, 0, 0), body))
      : packet6(src, TARGET6, next, body);
    repairChecksums6(whole);
    const len = whole.length - 40;
    const min = Math.max(8, Math.ceil(len / 48));
    const pieces = fragment6(rng, whole, rng.chance(0.3) ? 0x1234 : rng.u32(), {
      size: rng.int(min, Math.max(min, 1448)),
      overlap: rng.chance(0.15),
      duplicate: rng.chance(0.1),
      dropOne: rng.chance(0.15),
      shuffle: rng.chance(0.3),
      oversize: rng.chance(0.05),
      tinyFirst: rng.chance(0.05),
    });
    if (pieces.length > 0 && rng.chance(0.1)) {
      const i = rng.int(0, pieces.length - 1);
      pieces[i] = mutate6(rng, pieces[i], SPOOF6);
    }
    return pieces;
  };

  const genIp6 = (): Uint8Array[] => {
    switch (rng.int(0, 9)) {
      case 0:
      case 1: {
        const u = upper6();
        return [repair6(packet6(u.src, dst6(), u.proto, u.body, rng.pick([64, 255, 1, 0])))];
      }
      case 2:
      case 3: {
        // Behind an extension-header chain, valid or not.
        const u = upper6();
        const chain = extensionChain(rng, u.proto);
        return [repair6(packet6(u.src, dst6(), chain.first, concat(chain.bytes, u.body)))];
      }
      case 4:
      case 5:
        return genFrag6();
      case 6:
      case 7: {
        // A recorded IPv6 packet (the peer's, or the target's turned around), header mangled.
        const fromPeer = rng.chance(0.7);
        const q = corpus6(fromPeer ? corpusIn : corpusOut);
        if (q === null) return [repair6(packet6(PEER6, TARGET6, NH_ICMPV6, icmp6Body()))];
        const p = Uint8Array.from(q);
        if (!fromPeer) {
          p.set(q.subarray(24, 40), 8);
          p.set(TARGET6, 24);
        }
        const m = mutate6(rng, p, SPOOF6);
        if (rng.chance(0.5)) repairChecksums6(m);
        return [m];
      }
      case 8: {
        // Any Next Header at all, and whatever bytes.
        const p = packet6(spoofSrc6(), dst6(), rng.int(0, 255), rng.bytes(rng.int(0, 200)));
        return [repair6(p, 0.5)];
      }
      default: {
        if (rng.chance(0.5)) {
          const q = corpus6(corpusIn);
          return q === null ? genFrag6() : [q];
        }
        // A SYN flood over IPv6 from spoofed fd00::/64 sources: the SYN queues, SYN cookies and
        // the bound on IPv6 peers (tcp.maxIpv6Peers).
        const out: Uint8Array[] = [];
        for (let i = rng.int(4, 24); i > 0; i--) {
          const src = PEER6.slice();
          src[14] = rng.int(1, 255);
          src[15] = rng.int(2, 255);
          const syn = tcpBytes({
            srcPort: rng.int(1024, 65535),
            dstPort: rng.pick([PORT_ECHO, PORT_HTTP, PORT_DISCARD, PORT_SINK]),
            seq: rng.u32(),
            ack: 0,
            flags: F_SYN,
            window: 65535,
            options: Uint8Array.of(2, 4, 5, 0xa0, 4, 2, 1, 3, 3, 7),
          });
          out.push(repair6(packet6(src, TARGET6, NH_TCP, syn), 1));
        }
        return out;
      }
    }
  };

  const generators: [number, () => Uint8Array[]][] = [
    ...(ipv6 ? ([[14, genIp6]] as [number, () => Uint8Array[]][]) : []),
    [28, genReflect],
    [18, genMutateTcp],
    [12, genBytes],
    [10, genSyn],
    [7, genIcmp],
    [6, genUdp],
    [12, genFrag],
    [7, genReplay],
  ];
  const weightSum = generators.reduce((a, [w]) => a + w, 0);
  const generate = (): Uint8Array[] => {
    let r = rng.next() * weightSum;
    for (const [w, g] of generators) {
      r -= w;
      if (r < 0) return g();
    }
    return genReplay();
  };

  // -------------------------------------------------------------------------------------------
  // Invariants

  const tstats = target.stats;
  const reass = target.ip.input.reassembler;
  const reass6 = target.ip6?.input.reassembler ?? null;

  /**
   * Every packet is accounted for: IP input (of its family) counts it received, then delivered,
   * held as a fragment, or dropped by a reason; and a delivered one is counted by the layer it
   * went to (ICMP, UDP, TCP, or IP's own: IPv6's no-next-header, unknown-next-header,
   * multicast-not-joined, IPv4's unknownProtocol). [received, fate, delivered, upper]
   */
  const fateBefore = [0, 0, 0, 0];
  const fateAfter = [0, 0, 0, 0];
  const sum = (o: Record<string, number>): number => {
    let n = 0;
    for (const k in o) n += o[k];
    return n;
  };
  const fate6 = (out: number[]): void => {
    const ip6 = tstats.ip6;
    const d = ip6.drops;
    out[0] = ip6.rxPackets;
    out[1] = sum(d) + ip6.rxFragments + ip6.rxDelivered;
    out[2] = ip6.rxDelivered;
    out[3] =
      tstats.icmp6.rxMessages +
      tstats.udp.rxDatagrams +
      tstats.tcp.rxSegments +
      sum(tstats.tcp.drops) +
      d['no-next-header'] +
      d['unknown-next-header'] +
      d['multicast-not-joined'];
  };
  /** The same for IPv4 (what is not IPv6 goes to IPv4 input, whatever its version nibble). */
  const fate4 = (out: number[]): void => {
    const ip = tstats.ip;
    out[0] = ip.rxPackets;
    out[1] = sum(ip.drops) + ip.rxFragments + ip.rxDelivered;
    out[2] = ip.rxDelivered;
    out[3] =
      tstats.icmp.rxMessages +
      tstats.udp.rxDatagrams +
      tstats.tcp.rxSegments +
      sum(tstats.tcp.drops) +
      tstats.unknownProtocol;
  };
  const checkFate = (v6: boolean): void => {
    const family = v6 ? 'IPv6' : 'IPv4';
    (v6 ? fate6 : fate4)(fateAfter);
    const [rx, fate, delivered, upper] = fateAfter.map((v, i) => v - fateBefore[i]);
    if (rx !== 1) throw new Failure(`an ${family} packet counted ${rx} times as received`);
    if (fate < 1)
      throw new Failure(`an ${family} packet was neither delivered, held, nor counted as dropped`);
    if (upper < delivered)
      throw new Failure(
        `${delivered} ${family} packet(s) delivered, ${upper} counted by upper layers`,
      );
  };

  /** As injectingRst's key, for an IPv6 TCP RST (its source as the target's destination key). */
  const rstKey6 = (p: Uint8Array): string | null => {
    const u = upperLayer(p);
    if (u === null || u.proto !== NH_TCP || u.at + 20 > p.length || !(p[u.at + 13] & F_RST))
      return null;
    const t = u.at;
    const end = Math.min(p.length, 40 + get16(p, 4));
    const dataLen = Math.max(0, end - t - (p[t + 12] >>> 4) * 4);
    const from = hex(p.subarray(8, 24));
    return p[t + 13] & F_ACK
      ? `${from}:${get16(p, t)}:${get16(p, t + 2)}:${get32(p, t + 8)}:0`
      : `${from}:${get16(p, t)}:${get16(p, t + 2)}:0:${(get32(p, t + 4) + dataLen) >>> 0}`;
  };

  /** After every packet: cheap checks. */
  const checkPacket = (): void => {
    if (tstats.link.rxErrors !== 0)
      throw new Failure(`an exception reached the link (target rxErrors): ${errorLogs[0]}`);
    if (errorLogs.length > 0) throw new Failure(`logged at error: ${errorLogs[0]}`);
    if (txProblems.length > 0) throw new Failure(txProblems[0]);
    if (target.tcp.size > LIMITS.maxConnections)
      throw new Failure(`connections ${target.tcp.size} > maxConnections ${LIMITS.maxConnections}`);
    if (reass.bytesInUse > LIMITS.reassemblyBytes)
      throw new Failure(`reassembly memory ${reass.bytesInUse} > ${LIMITS.reassemblyBytes}`);
    if (reass6 !== null && reass6.bytesInUse > LIMITS.reassembly6Bytes)
      throw new Failure(`IPv6 reassembly memory ${reass6.bytesInUse} > ${LIMITS.reassembly6Bytes}`);
    if (target.tcp.ipv6Peers > LIMITS.maxIpv6Peers)
      throw new Failure(`IPv6 peers ${target.tcp.ipv6Peers} > ${LIMITS.maxIpv6Peers}`);
    if (tstats.link.loopbackPackets !== 0 || peer.stats.link.loopbackPackets !== 0)
      throw new Failure('a stack sent a datagram to itself (loopback)');
  };

  /** After every batch: queues, buffers, owners. */
  const checkBatch = (): void => {
    checkPacket();
    if (uncaught.length > 0) throw new Failure(`uncaught exception: ${String(uncaught[0])}`);
    if (integrity.length > 0) throw new Failure(integrity[0]);
    if (peer.stats.link.rxErrors !== 0) throw new Failure("an exception reached the peer's link");
    const layer = target.tcp.stats;
    if (layer.ownerErrors !== 0) throw new Failure('an owner threw');
    if (layer.txRefused !== 0) throw new Failure('IP refused a TCP segment (larger than the MTU)');
    const rows = target.connections();
    const synRecv = new Map<string, number>();
    let conns = 0;
    for (const r of rows) {
      if (r.state === 'LISTEN') {
        if (r.recvQ > r.sendQ)
          throw new Failure(`listener ${r.local}: accept queue ${r.recvQ} > backlog ${r.sendQ}`);
        continue;
      }
      conns++;
      if (r.state === 'SYN_RECEIVED') {
        const port = r.local.slice(r.local.lastIndexOf(':') + 1); // 10.0.0.2:80, [fd00::2]:80
        synRecv.set(port, (synRecv.get(port) ?? 0) + 1);
      }
      if (r.sendQ > LIMITS.sndBuf)
        throw new Failure(`${r.local}>${r.remote} ${r.state}: sendQ ${r.sendQ} > sndBuf`);
      if (r.recvQ > LIMITS.rcvBuf)
        throw new Failure(`${r.local}>${r.remote} ${r.state}: recvQ ${r.recvQ} > rcvBuf`);
    }
    if (conns !== target.tcp.size)
      throw new Failure(`table size ${target.tcp.size} but ${conns} rows`);
    for (const [port, n] of synRecv) {
      if (n > LIMITS.synBacklog)
        throw new Failure(
          `port ${port}: ${n} connections in SYN_RECEIVED > synBacklog ${LIMITS.synBacklog}`,
        );
    }
    for (const h of handles) {
      if (!h.inTable) {
        handles.delete(h);
        continue;
      }
      const s = h.conn.snapshot();
      checkSnapshot(s);
      if (s.oooBytes > LIMITS.maxOoo)
        throw new Failure(`${s.state}: out-of-order ${s.oooBytes} > maxOoo`);
      if (s.sendQueue > LIMITS.sndBuf)
        throw new Failure(`${s.state}: send queue ${s.sendQueue} > sndBuf`);
      if (s.recvQueue > LIMITS.rcvBuf)
        throw new Failure(`${s.state}: receive queue ${s.recvQueue} > rcvBuf`);
      if (s.rcvWnd > LIMITS.rcvBuf + (1 << s.rcvShift))
        throw new Failure(`${s.state}: offered window ${s.rcvWnd} > rcvBuf`);
    }
  };

  /** A connection's numbers make sense: finite, ordered, within their bounds. */
  const checkSnapshot = (s: TcpSnapshot): void => {
    const where = `${s.state} conn`;
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new Failure(`${where}: ${k} is ${v}`);
    }
    if (s.state === 'SYN_SENT' || s.state === 'CLOSED') return;
    if (!seqLeq(s.sndUna, s.sndNxt) || !seqLeq(s.sndNxt, s.sndMax))
      throw new Failure(
        `${where}: SND.UNA ${s.sndUna} <= SND.NXT ${s.sndNxt} <= SND.MAX ${s.sndMax} broken`,
      );
    if (seqDiff(s.sndMax, s.sndUna) > LIMITS.sndBuf + 2)
      throw new Failure(`${where}: ${seqDiff(s.sndMax, s.sndUna)} bytes in flight > sndBuf`);
    if (s.rto < 200 || s.rto > 120_000)
      throw new Failure(`${where}: RTO ${s.rto} outside [200, 120000]`);
    if (s.srtt !== null && (s.srtt < 0 || s.srtt > 3_600_000))
      throw new Failure(`${where}: SRTT ${s.srtt}`);
    if (s.sndWnd < 0 || s.sndWnd > 0x3fffffff) throw new Failure(`${where}: SND.WND ${s.sndWnd}`);
    if (s.smss < 1 || s.smss > 1460) throw new Failure(`${where}: SMSS ${s.smss}`);
    if (s.cwnd < 0) throw new Failure(`${where}: cwnd ${s.cwnd}`);
    if (s.sndShift > 14 || s.rcvShift > 14)
      throw new Failure(`${where}: window scale ${s.sndShift}/${s.rcvShift}`);
  };

  /** Advance virtual time by `ms`, deadline by deadline, letting Node's queues run between. */
  const advance = async (ms: number): Promise<void> => {
    const end = clock.now() + ms;
    for (let i = 0; i < 100_000; i++) {
      await immediate();
      const next = clock.nextTimerAt();
      if (next === null || next > end) break;
      clock.advance(next - clock.now());
    }
    clock.advance(Math.max(0, end - clock.now()));
    await immediate();
  };

  // -------------------------------------------------------------------------------------------
  // The run

  const reached = (): Record<string, number> => {
    const l = target.tcp.stats;
    const ip = tstats.ip.drops as Record<string, number>;
    const out: Record<string, number> = {
      rxPackets: tstats.link.rxPackets,
      txPackets: tstats.link.txPackets,
      tcpRx: tstats.tcp.rxSegments,
      passiveOpens: l.passiveOpens,
      activeOpens: l.activeOpens,
      accepted: l.accepted,
      resetsSent: l.resetsSent,
      tableFull: l.tableFull,
      timeWaitEvicted: l.timeWaitEvicted,
      reassembled: tstats.ip.reassembled,
      icmpEchoReplies: tstats.icmp.txEchoReplies,
      icmpErrorsIn: tstats.icmp.rxErrorsReported,
      udpIn: tstats.udp.rxDatagrams,
    };
    out.protectedBytesVerified = safeVerified;
    out.protectedConnections = safeConnections;
    out.batchesTableFullPercent = Math.round((100 * batchesTableFull) / Math.max(1, batches));
    for (const [k, v] of statesSeen) out[`state:${k}`] = v;
    for (const [k, v] of Object.entries(l.listenerDrops)) out[`listener:${k}`] = v;
    for (const [k, v] of Object.entries(ip)) if (v > 0) out[`ip:${k}`] = v;
    for (const [k, v] of Object.entries(tstats.tcp.drops)) if (v > 0) out[`tcp:${k}`] = v;
    if (ipv6) {
      const ip6 = tstats.ip6;
      const icmp6 = tstats.icmp6;
      out.ip6Rx = ip6.rxPackets;
      out.ip6Delivered = ip6.rxDelivered;
      out.ip6ExtensionHeaders = ip6.rxExtensionHeaders;
      out.ip6AtomicFragments = ip6.rxAtomicFragments;
      out.ip6Fragments = ip6.rxFragments;
      out.ip6Reassembled = ip6.reassembled;
      out.ip6TxFragmented = ip6.txFragmented;
      out.icmp6EchoReplies = icmp6.txEchoReplies;
      out.icmp6ParameterProblems = icmp6.txParameterProblem;
      out.icmp6Unreachables = icmp6.txDestUnreachable;
      out.icmp6TimeExceeded = icmp6.txTimeExceeded;
      out.icmp6RateLimited = icmp6.txRateLimited;
      out.icmp6Suppressed = icmp6.txSuppressed;
      out.icmp6NdIgnored = icmp6.rxNdIgnored;
      out.icmp6MldIgnored = icmp6.rxMldIgnored;
      out.icmp6ErrorsIn =
        icmp6.rxDestUnreachable +
        icmp6.rxPacketTooBig +
        icmp6.rxTimeExceeded +
        icmp6.rxParameterProblem;
      out.ipv6PeersFull = l.ipv6PeersFull;
      out.ipv6PeersHeadroom = l.ipv6PeersHeadroom;
      for (const [k, v] of Object.entries(ip6.drops)) if (v > 0) out[`ip6:${k}`] = v;
    }
    return out;
  };

  const heapStart = heap();
  let heapMax = heapStart;
  let heapEnd = heapStart;
  let index = -1;
  let batchPackets: Uint8Array[] = [];
  let failure: FuzzFailure | null = null;
  const started = performance.now();
  let done = 0;
  let fuzzSeconds = 0;
  let batches = 0;
  let batchesTableFull = 0;

  const fail = (err: unknown): FuzzFailure => ({
    seed,
    packetIndex: index,
    message:
      err instanceof Failure
        ? err.message
        : `fuzzer threw: ${(err as Error)?.stack ?? String(err)}`,
    packetHex:
      index >= 0 && batchPackets.length > 0 ? hex(batchPackets[batchPackets.length - 1]) : null,
    recentHex: batchPackets.slice(-8, -1).map(hex),
  });

  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    let queue: Uint8Array[] = [];
    let nextHeap = heapEvery;
    let nextProgress = progressEvery;
    while (done < total) {
      batchPackets = [];
      const n = Math.min(batchSize, total - done);
      for (let k = 0; k < n; k++) {
        if (queue.length === 0) queue = generate();
        const p = queue.shift();
        if (p === undefined || isProtected(p)) continue; // the protected flow is off limits
        index = done;
        batchPackets.push(p);
        injectingRst =
          p.length >= 40 && p[9] === PROTO_TCP && (p[0] & 0x0f) === 5 && p[33] & F_RST
            ? p[33] & F_ACK
              ? `${get32(p, 12)}:${get16(p, 20)}:${get16(p, 22)}:${get32(p, 28)}:0`
              : `${get32(p, 12)}:${get16(p, 20)}:${get16(p, 22)}:0:${(get32(p, 24) + Math.max(0, p.length - 20 - (p[32] >>> 4) * 4)) >>> 0}`
            : null;
        const v6 = ipv6 && p.length > 0 && p[0] >>> 4 === 6;
        if (v6) {
          injectingRst = rstKey6(p);
          injectingIcmp6Error = carriesIcmp6Error(p);
          fate6(fateBefore);
        } else fate4(fateBefore);
        txDuringInject = 0;
        tap.inject(p);
        injectingRst = null;
        injectingIcmp6Error = false;
        checkFate(v6);
        if (txDuringInject > MAX_TX_PER_PACKET)
          throw new Failure(`one packet made the target send ${txDuringInject} packets`);
        done++;
        if (strict) checkBatch();
        else checkPacket();
      }
      tap.injectEnd();
      peerActions();
      const r = rng.next();
      await advance(
        r < 0.9 ? rng.int(0, 20) : r < 0.99 ? rng.int(100, 3000) : rng.int(5000, 40_000),
      );
      checkBatch();
      if (target.tcp.size >= LIMITS.maxConnections) batchesTableFull++;
      batches++;
      if (done >= nextHeap) {
        nextHeap += heapEvery;
        const h = heap();
        if (h > heapMax) heapMax = h;
        if (h - heapStart > maxHeapGrowth)
          throw new Failure(
            `heap grew from ${heapStart} to ${h} bytes (> ${o.maxHeapGrowthMb ?? 64} MiB)`,
          );
      }
      if (progressEvery > 0 && done >= nextProgress) {
        nextProgress += progressEvery;
        const s = (performance.now() - started) / 1000;
        log(
          `${done} packets, ${Math.round(done / s)}/s, connections ${target.tcp.size}, virtual ${Math.round(clock.now() / 1000)} s`,
        );
      }
    }
    index = -1;
    batchPackets = [];
    fuzzSeconds = (performance.now() - started) / 1000;

    // ---- The end: close everything, let it drain, then a fresh exchange must still work.
    if (safe !== null) {
      const st: { s: Socket; done: boolean } = safe;
      st.done = true;
      st.s.destroy();
    }
    for (const s of clients) s.destroy();
    for (const h of active) h.abort();
    for (const h of sink) h.close();
    // The servers shut down (no listener is left to take a late or cookie ACK), and their
    // connections are reset. HTTP connections that never sent a request would otherwise wait for
    // node:http's request timeout, which runs on the real clock.
    echo.close();
    discard.close();
    safeEcho.close();
    target.tcp.unlisten(PORT_SINK);
    void http.close();
    for (const s of serverSockets) s.destroy();
    await advance(10);
    checkBatch();
    // Long enough for every retransmission to give up, FIN_WAIT_2 and TIME_WAIT to expire, and
    // every fragment to time out: timers must fire for the table to empty.
    const reassembling = (): boolean =>
      reass.datagramsInProgress > 0 || (reass6 !== null && reass6.datagramsInProgress > 0);
    for (let t = 0; t < 40 && (target.tcp.size > 0 || reassembling()); t++) {
      await advance(60_000);
      checkBatch();
    }
    if (target.tcp.size > 0) {
      const left = target.connections().filter((r) => r.state !== 'LISTEN');
      throw new Failure(
        `${left.length} connection(s) never left the table: ${left
          .slice(0, 5)
          .map(
            (r) => `${r.local}>${r.remote} ${r.state} ${r.history.map((x) => x.state).join('>')}`,
          )
          .join('; ')}`,
      );
    }
    if (reass.datagramsInProgress > 0 || reass.bytesInUse > 0)
      throw new Failure(
        `reassembly still holds ${reass.datagramsInProgress} datagrams after 40 min`,
      );
    if (reass6 !== null && (reass6.datagramsInProgress > 0 || reass6.bytesInUse > 0))
      throw new Failure(
        `IPv6 reassembly still holds ${reass6.datagramsInProgress} datagrams after 40 min`,
      );
    if (target.tcp.ipv6Peers !== 0)
      throw new Failure(`${target.tcp.ipv6Peers} IPv6 peers held with no connection left`);
    // The wire falls silent: nobody answers anybody for ever.
    const before = la.stats.txPackets + lb.stats.txPackets;
    await advance(120_000);
    const chatter = la.stats.txPackets + lb.stats.txPackets - before;
    if (chatter > 0)
      throw new Failure(`${chatter} packets on an idle wire after every connection closed`);

    // A fresh handshake and an echoed exchange.
    const data = act.bytes(3000);
    let echoed = 0;
    let closed = false;
    let err: string | null = null;
    const fresh = target.net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
    fresh.listen(PORT_ECHO);
    await advance(1);
    const s = peer.net.connect(PORT_ECHO, TARGET_S);
    s.on('connect', () => s.end(data));
    s.on('data', (d: Buffer) => {
      echoed += d.length;
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      err = e.code ?? e.message;
    });
    s.on('close', () => {
      closed = true;
    });
    let udpBack = 0;
    peerUdp.on('message', () => udpBack++);
    peerUdp.send(Buffer.from('still there?'), PORT_ECHO, TARGET_S);
    let pong = 0;
    peer.icmp.onEchoReply = () => pong++;
    peer.sendEchoRequest(TARGET, 7, 7, Buffer.from('ping'));
    // Over IPv6 too: a UDP echo and a ping, each 3000 bytes (fragmented both ways).
    let udpBack6 = ipv6 ? 0 : 1;
    let pong6 = ipv6 ? 0 : 1;
    if (peerUdp6 !== null && peer.icmp6 !== null) {
      peerUdp6.on('message', (m: Buffer) => {
        if (m.length === 3000) udpBack6++;
      });
      peerUdp6.send(Buffer.alloc(3000, 6), PORT_ECHO, TARGET6_S);
      peer.icmp6.onEchoReply = (_from, _id, _seq, data) => {
        if (data.length === 3000) pong6++;
      };
      peer.sendEchoRequest6(TARGET6, 7, 7, new Uint8Array(3000).fill(7));
    }
    const allBack = (): boolean => closed && udpBack > 0 && pong > 0 && udpBack6 > 0 && pong6 > 0;
    for (let i = 0; i < 600 && !allBack(); i++) await advance(100);
    if (err !== null) throw new Failure(`final exchange failed: ${err}`);
    if (!closed || echoed !== data.length)
      throw new Failure(
        `final exchange incomplete: ${echoed} of ${data.length} bytes echoed, closed ${closed}`,
      );
    if (udpBack === 0) throw new Failure('final UDP echo not answered');
    if (pong === 0) throw new Failure('final ping not answered');
    if (udpBack6 === 0) throw new Failure('final IPv6 UDP echo (3000 bytes) not answered');
    if (pong6 === 0) throw new Failure('final ping -6 (3000 bytes) not answered');
    checkBatch();
  } catch (e) {
    failure = fail(e);
  }

  const seconds = (performance.now() - started) / 1000;
  const result: FuzzResult = {
    seed,
    packets: done,
    failure,
    seconds,
    packetsPerSecond: Math.round(done / Math.max(fuzzSeconds || seconds, 1e-9)),
    heapStartBytes: heapStart,
    heapEndBytes: 0,
    heapMaxBytes: 0,
    gc: gc !== null,
    virtualMs: clock.now(),
    reached: reached(),
  };
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  await Promise.allSettled([peer.close(), target.close()]);
  heapEnd = heap();
  result.heapEndBytes = heapEnd;
  result.heapMaxBytes = Math.max(heapMax, heapEnd);
  if (result.failure === null && heapEnd - heapStart > maxHeapGrowth) {
    result.failure = {
      seed,
      packetIndex: -1,
      message: `heap grew from ${heapStart} to ${heapEnd} bytes`,
      packetHex: null,
      recentHex: [],
    };
  }
  return result;
}

function be16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}
function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}
