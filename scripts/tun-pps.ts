/**
 * Packets per second the TUN addon moves, with batch=1 versus batch=64 (native-notes/README.md).
 *
 *   npx tsx scripts/tun-pps.ts [--count 1000000] [--seconds 3] [--batches 1,64]
 *
 * Needs root. Everything happens inside a namespace created here and removed at the end:
 *
 *  read:  scripts/tun-pps-blast (C, sendmmsg) floods small UDP datagrams at 10.0.0.2 from inside
 *         the namespace; the kernel routes them into the TUN; we count what the addon delivers to
 *         JS per second. What we fail to read, the kernel drops at the device queue.
 *  write: we write small UDP datagrams addressed to 10.0.0.1:9 (no listener); the kernel
 *         receives each (its device rx counter and the UDP NoPorts counter count them).
 *
 * Both loops are bounded in packet count and in time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as netns from '../src/link/netns.ts';
import { TunLink } from '../src/link/tun.ts';
import { IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4View, parseIpv4 } from '../src/wire/ipv4.ts';
import { emitUdp, UDP_HEADER_LEN } from '../src/wire/udp.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '1,64' },
    payload: { type: 'string', default: '64' },
  },
});
const COUNT = Number(values.count);
const SECONDS = Number(values.seconds);
const BATCHES = values.batches.split(',').map(Number);
const PAYLOAD = Number(values.payload);
if (!(COUNT > 0 && COUNT <= 5_000_000 && SECONDS > 0 && SECONDS <= 30)) {
  throw new Error('--count must be 1..5e6 and --seconds 0..30');
}

const HERE = new URL('.', import.meta.url).pathname;
const BLAST = `${HERE}../build/tun-pps-blast`;

function buildBlaster(): void {
  mkdirSync(`${HERE}../build`, { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-o', BLAST, `${HERE}tun-pps-blast.c`], {
    stdio: 'inherit',
  });
}

async function counters(
  ns: string,
): Promise<{ rx: number; rxDrop: number; txDrop: number; noPorts: number }> {
  const dev = await netns.runChecked(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/dev']);
  const line = dev.split('\n').find((l) => l.trim().startsWith('tun0:'));
  const f = line!.split(':')[1].trim().split(/\s+/).map(Number);
  const snmp = await netns.runChecked(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp']);
  const udp = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = udp[0].split(/\s+/);
  const vals = udp[1].split(/\s+/).map(Number);
  return { rx: f[1], rxDrop: f[3], txDrop: f[11], noPorts: vals[names.indexOf('NoPorts')] };
}

async function withLink<T>(
  batch: number,
  fn: (link: TunLink, ns: string) => Promise<T>,
): Promise<T> {
  const ns = netns.uniqueName();
  await netns.create(ns);
  try {
    const link = await TunLink.open({ name: 'tun0', netns: ns, batch, hostAddress: '10.0.0.1/24' });
    try {
      // Room for the flood: the default txqueuelen (500) would hide the reader's capacity.
      await netns.ip(ns, ['link', 'set', 'dev', 'tun0', 'txqueuelen', '4096']);
      return await fn(link, ns);
    } finally {
      await link.close();
    }
  } finally {
    await netns.remove(ns);
  }
}

interface ReadResult {
  batch: number;
  sent: number;
  received: number;
  batches: number;
  seconds: number;
  pps: number;
  kernelDropped: number;
}

async function measureRead(batch: number): Promise<ReadResult> {
  return withLink(batch, async (link, ns) => {
    let received = 0;
    let batches = 0;
    let sink = 0;
    let tFirst = 0;
    let tLast = 0;
    link.attach({
      packet: (p) => {
        received++;
        sink ^= p[9]; // touch the packet, as a stack's first check would
      },
      batchEnd: () => {
        batches++;
        tLast = performance.now();
        if (tFirst === 0) tFirst = tLast;
      },
    });
    const before = await counters(ns);
    const t0 = performance.now();
    const r = await netns.exec(
      ns,
      [BLAST, '10.0.0.2', '9', String(COUNT), String(PAYLOAD), String(SECONDS)],
      {
        timeoutMs: (SECONDS + 5) * 1000,
      },
    );
    if (r.code !== 0) throw new Error(`blaster failed: ${r.stderr}`);
    // Let the reader drain what is still queued (bounded: at most one more second).
    const drainUntil = performance.now() + 1000;
    let last = -1;
    while (received !== last && performance.now() < drainUntil) {
      last = received;
      await new Promise((res) => setTimeout(res, 20));
    }
    // From the first delivered batch to the last: the blaster's start-up is not reader time.
    const seconds = (tLast - (tFirst || t0)) / 1000;
    const after = await counters(ns);
    void sink;
    return {
      batch,
      sent: Number(r.stdout.split(/\s+/)[1]),
      received,
      batches,
      seconds,
      pps: received / seconds,
      kernelDropped: after.txDrop - before.txDrop,
    };
  });
}

/** One IPv4/UDP datagram 10.0.0.2:5000 -> 10.0.0.1:9 with correct checksums. */
function datagram(payload: number): Uint8Array {
  const src = parseIpv4('10.0.0.2');
  const dst = parseIpv4('10.0.0.1');
  const p = new Uint8Array(IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + payload);
  const data = new Uint8Array(payload).fill(0x78);
  const udpLen = emitUdp(
    p.subarray(IPV4_MIN_HEADER_LEN),
    { srcPort: 5000, dstPort: 9, payload: data },
    src,
    dst,
  );
  Ipv4View.emit(p, {
    src,
    dst,
    protocol: IpProtocol.Udp,
    ttl: 64,
    id: 0,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    payloadLength: udpLen,
  });
  return p;
}

interface WriteResult {
  batch: number;
  written: number;
  nativeCalls: number;
  seconds: number;
  pps: number;
  kernelReceived: number;
  kernelNoPorts: number;
  kernelDropped: number;
}

async function measureWrite(batch: number): Promise<WriteResult> {
  return withLink(batch, async (link, ns) => {
    link.attach({ packet: () => {} }); // ICMP port unreachables come back (rate-limited)
    const pkt = datagram(PAYLOAD);
    const before = await counters(ns);
    const deadline = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    let queued = 0;
    // Chunks of 4096 sends, yielding to the event loop between chunks so that reads and
    // writable wake-ups still happen.
    while (queued < COUNT && performance.now() < deadline) {
      const chunk = Math.min(4096, COUNT - queued);
      for (let i = 0; i < chunk; i++) link.send(pkt);
      link.flush();
      queued += chunk;
      await new Promise((res) => setImmediate(res));
    }
    const seconds = (performance.now() - t0) / 1000;
    const st = link.stats;
    const after = await counters(ns);
    return {
      batch,
      written: st.txPackets,
      nativeCalls: st.txCalls,
      seconds,
      pps: st.txPackets / seconds,
      kernelReceived: after.rx - before.rx,
      kernelNoPorts: after.noPorts - before.noPorts,
      kernelDropped: after.rxDrop - before.rxDrop + st.txDropped,
    };
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('tun-pps needs root (namespaces and TUN)');
  await netns.cleanupLeftovers();
  buildBlaster();
  console.log(
    `tun-pps: ${COUNT} packets max, ${SECONDS} s max per run, ${PAYLOAD}-byte UDP payloads`,
  );
  const reads: ReadResult[] = [];
  const writes: WriteResult[] = [];
  for (const b of BATCHES) reads.push(await measureRead(b));
  for (const b of BATCHES) writes.push(await measureWrite(b));
  console.log('\nread (kernel floods the TUN, the addon delivers to JS)');
  console.table(
    reads.map((r) => ({
      batch: r.batch,
      'blaster sent': r.sent,
      received: r.received,
      'pkts/JS call': +(r.received / Math.max(1, r.batches)).toFixed(1),
      seconds: +r.seconds.toFixed(2),
      pps: Math.round(r.pps),
      'kernel dropped': r.kernelDropped,
    })),
  );
  console.log('write (JS writes, the kernel receives and counts)');
  console.table(
    writes.map((w) => ({
      batch: w.batch,
      written: w.written,
      'native calls': w.nativeCalls,
      seconds: +w.seconds.toFixed(2),
      pps: Math.round(w.pps),
      'kernel rx': w.kernelReceived,
      'kernel UDP NoPorts': w.kernelNoPorts,
      dropped: w.kernelDropped,
    })),
  );
  if (reads.length === 2 && writes.length === 2) {
    console.log(
      `batch ${reads[1].batch} vs ${reads[0].batch}: read x${(reads[1].pps / reads[0].pps).toFixed(2)}, write x${(writes[1].pps / writes[0].pps).toFixed(2)}`,
    );
  }
}

await main();
