/**
 * `tunstack ladder` on captures that tcpdump wrote: curl and a Node HTTP server, kernel to kernel,
 * over a veth pair between two namespaces each test creates (and always removes).
 *
 *   namespace C: v0 10.77.0.1/24, curl  ◄── veth ──►  namespace S: v1 10.77.0.2/24, HTTP on :80
 *
 * One connection captured three ways (Ethernet on the client's veth, LINUX_SLL2 and LINUX_SLL on
 * `any` in the server's namespace) must come out as the same ladder; an nftables rule that drops
 * the request once makes a real retransmission; a refused connect on loopback makes a real RST.
 * Over IPv6 (fd77::1 and fd77::2 on the same veth pair) the Ethernet and LINUX_SLL2 captures of
 * `curl -6` give the same ladder, its ends drawn as [fd77::1]:port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildLadder, type Ladder } from '../../src/cli/ladder/ladder.ts';
import { runLadder, traceFile } from '../../src/cli/ladder.ts';
import * as netns from '../../src/link/netns.ts';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  readPcap,
} from '../../src/link/pcap-read.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { kernelDescribe } from './harness.ts';

const CLIENT = '10.77.0.1';
const SERVER = '10.77.0.2';
const SERVER_JS = `require('node:http')
  .createServer((req, res) => res.end('hello from the kernel\\n'))
  .listen(80, '${SERVER}', () => console.log('listening'));`;
const CLIENT6 = 'fd77::1';
const SERVER6 = 'fd77::2';
const SERVER6_JS = SERVER_JS.replace(`'${SERVER}'`, `'${SERVER6}'`);

/** Start a long-running command inside `ns`; resolves once `ready` appears on stdout or stderr. */
function start(ns: string, argv: string[], ready: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv[0]} not ready after 5 s: ${seen}`));
    }, 5_000);
    const look = (chunk: Buffer) => {
      seen += chunk.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Signal a child we started and wait (at most 5 s) for it to exit. */
function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

interface Pair {
  c: string;
  s: string;
  dir: string;
  /** Start a long-running command in a namespace; stopped (SIGTERM) when the test ends. */
  start(ns: string, argv: string[], ready: RegExp): Promise<ChildProcess>;
  /** Start tcpdump writing `file` in `dir`; returns a function that stops it (SIGINT). */
  capture(ns: string, file: string, args: string[]): Promise<() => Promise<void>>;
}

/** Two namespaces joined by a veth pair, a temp dir, and cleanup of all of them whatever happens. */
async function withPair(fn: (p: Pair) => Promise<void>): Promise<void> {
  const c = netns.uniqueName();
  const s = netns.uniqueName();
  const dir = await mkdtemp(join(tmpdir(), 'ladder-kernel-'));
  const children: ChildProcess[] = [];
  try {
    await netns.create(c);
    await netns.create(s);
    // The pair is made inside C with its peer moved straight to S: nothing in the root namespace.
    await netns.ip(c, ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', s]);
    await netns.ip(c, ['addr', 'add', `${CLIENT}/24`, 'dev', 'v0']);
    await netns.ip(s, ['addr', 'add', `${SERVER}/24`, 'dev', 'v1']);
    await netns.ip(c, ['link', 'set', 'v0', 'up']);
    await netns.ip(s, ['link', 'set', 'v1', 'up']);
    const pair: Pair = {
      c,
      s,
      dir,
      async start(ns, argv, ready) {
        const child = await start(ns, argv, ready);
        children.push(child);
        return child;
      },
      async capture(ns, file, args) {
        // --immediate-mode: with TPACKET_V3, libpcap otherwise holds packets in a block until it
        // fills or a 1 s timeout passes, and a tcpdump stopped sooner writes none of them.
        const argv = ['tcpdump', '--immediate-mode', '-Z', 'root', ...args, '-w', join(dir, file)];
        const child = await pair.start(ns, [...argv, 'tcp'], /listening on/);
        return async () => {
          // Let the last segments reach the capture, then stop it.
          await new Promise((r) => setTimeout(r, 300));
          await stop(child, 'SIGINT');
        };
      },
    };
    await fn(pair);
  } finally {
    for (const child of children.reverse()) await stop(child, 'SIGTERM');
    await netns.remove(c);
    await netns.remove(s);
    await rm(dir, { recursive: true, force: true });
  }
}

async function curl(p: Pair, url: string) {
  return netns.exec(p.c, ['curl', '-sS', '--max-time', '5', url]);
}

/** The ladder of connection 1 of a capture, after checking its link type. */
async function ladderOfFile(path: string, linkType: number): Promise<Ladder> {
  const pcap = readPcap(await readFile(path));
  expect(pcap instanceof ParseError ? pcap.reason : pcap.linkType, path).toBe(linkType);
  const traced = traceFile(path);
  if (typeof traced === 'string') throw new Error(traced);
  expect(traced.trace.connections, path).toHaveLength(1);
  return buildLadder(traced.trace.connections[0]);
}

const statesOf = (l: Ladder) => ({
  a: l.rows.map((r) => r.stateA),
  b: l.rows.map((r) => r.stateB),
});

/** What must be the same in every capture of one connection: segments, numbers, states. */
const shape = (l: Ladder) =>
  l.rows.map((r) => [r.from, r.flags, r.seq, r.ack, r.len, r.window, r.stateA, r.stateB]);

/** A tcpdump capture point: namespace, file, tcpdump arguments, the link type it must write. */
interface CapturePoint {
  ns: string;
  file: string;
  args: string[];
  linkType: number;
}

/**
 * Capture at every point while curl fetches `url` (the kernel's hello page), then read each
 * capture: its ladder, and the text lines `tunstack ladder` prints for connection 1.
 */
async function curlCaptured(
  p: Pair,
  captures: readonly CapturePoint[],
  url: string,
): Promise<{ ladder: Ladder; text: string[] }[]> {
  const stops = [];
  for (const cap of captures) stops.push(await p.capture(cap.ns, cap.file, cap.args));
  const r = await curl(p, url);
  expect(r.stdout, r.stderr).toBe('hello from the kernel\n');
  for (const stopCapture of stops) await stopCapture();
  const out = [];
  for (const cap of captures) {
    const path = join(p.dir, cap.file);
    const ladder = await ladderOfFile(path, cap.linkType);
    out.push({ ladder, text: runLadder(path, { conn: 1, list: false }).stdout.split('\n') });
  }
  return out;
}

kernelDescribe('ladder: tcpdump captures of the kernel’s TCP', () => {
  it('draws the same ladder from Ethernet, LINUX_SLL2 and LINUX_SLL captures', async () => {
    await withPair(async (p) => {
      await p.start(p.s, [process.execPath, '-e', SERVER_JS], /listening/);
      const captures = [
        { ns: p.c, file: 'veth.pcap', args: ['-i', 'v0'], linkType: LINKTYPE_ETHERNET },
        {
          ns: p.s,
          file: 'sll2.pcap',
          args: ['-i', 'any', '-y', 'LINUX_SLL2'],
          linkType: LINKTYPE_LINUX_SLL2,
        },
        {
          ns: p.s,
          file: 'sll.pcap',
          args: ['-i', 'any', '-y', 'LINUX_SLL'],
          linkType: LINKTYPE_LINUX_SLL,
        },
      ];
      const read = await curlCaptured(p, captures, `http://${SERVER}/`);
      for (const { text } of read) {
        expect(text[0]).toMatch(new RegExp(`^ +${CLIENT}:\\d+ +${SERVER}:80$`));
        expect(text[1]).toMatch(/^ +CLOSED +\| +\| LISTEN$/);
        expect(text[2]).toMatch(
          /^0\.000000 SYN_SENT +\|--- SYN seq=0 win=\d+ <mss \d+,sackOK,TS,wscale \d+> -+>\| SYN_RECEIVED$/,
        );
        expect(text[3]).toMatch(
          /^0\.000\d\d\d ESTABLISHED +\|<-- SYN\/ACK seq=0 ack=1 win=\d+ <.*> -+\|$/,
        );
        expect(text[4]).toMatch(/^0\.0\d{5} +\|--- ACK seq=1 ack=1 win=\d+ -+>\| ESTABLISHED$/);
      }

      // The connection as the ladder sees it: opened by curl, closed by curl first.
      const [veth, ...others] = read.map((c) => c.ladder);
      expect([veth.initialA, veth.initialB]).toEqual(['CLOSED', 'LISTEN']);
      expect(veth.windowScale).not.toBeNull();
      const states = statesOf(veth);
      expect(states.a).toContain('FIN_WAIT_1');
      expect(states.b).toContain('CLOSE_WAIT');
      expect(states.b).toContain('LAST_ACK');
      expect([states.a.at(-1), states.b.at(-1)]).toEqual(['TIME_WAIT', 'CLOSED']);
      const request = veth.rows.find((r) => r.from === 'a' && r.len > 0);
      const response = veth.rows.find((r) => r.from === 'b' && r.len > 0);
      expect(request?.seq).toBe(1);
      expect(response?.ack).toBe(1 + (request?.len ?? 0));
      expect(veth.rows.some((r) => r.retransmission)).toBe(false);

      // Three capture points, one connection: the same segments, numbers and states.
      for (const o of others) expect(shape(o)).toEqual(shape(veth));
    });
  }, 30_000);

  it('draws an IPv6 connection from Ethernet and LINUX_SLL2 captures alike', async () => {
    await withPair(async (p) => {
      // nodad: the addresses are usable at once (no duplicate address detection to wait for).
      await netns.ip(p.c, ['-6', 'addr', 'add', `${CLIENT6}/64`, 'dev', 'v0', 'nodad']);
      await netns.ip(p.s, ['-6', 'addr', 'add', `${SERVER6}/64`, 'dev', 'v1', 'nodad']);
      await p.start(p.s, [process.execPath, '-e', SERVER6_JS], /listening/);
      const captures = [
        { ns: p.c, file: 'veth6.pcap', args: ['-i', 'v0'], linkType: LINKTYPE_ETHERNET },
        {
          ns: p.s,
          file: 'sll2-6.pcap',
          args: ['-i', 'any', '-y', 'LINUX_SLL2'],
          linkType: LINKTYPE_LINUX_SLL2,
        },
      ];
      const read = await curlCaptured(p, captures, `http://[${SERVER6}]/`);
      for (const { text } of read) {
        expect(text[0]).toMatch(/^ +\[fd77::1\]:\d+ +\[fd77::2\]:80$/);
        // Linux's MSS over IPv6 on a 1500-byte veth: 1500 − 60.
        expect(text[2]).toMatch(
          /^0\.000000 SYN_SENT +\|--- SYN seq=0 win=\d+ <mss 1440,sackOK,TS,wscale \d+> -+>\| SYN_RECEIVED$/,
        );
      }
      const [veth, sll2] = read.map((c) => c.ladder);
      const states = statesOf(veth);
      expect([states.a.at(-1), states.b.at(-1)]).toEqual(['TIME_WAIT', 'CLOSED']);
      expect(shape(sll2)).toEqual(shape(veth));
    });
  }, 30_000);

  it('marks the request that the server’s nftables dropped once and the client resent', async () => {
    await withPair(async (p) => {
      // The client's third packet of the connection (SYN, ACK, request) is dropped on input;
      // conntrack counts it before the filter, so the retransmission (the fourth) passes.
      await netns.exec(p.s, ['sysctl', '-q', 'net.netfilter.nf_conntrack_acct=1']);
      const rules = `table inet ladder_test {
        chain input { type filter hook input priority 0; tcp dport 80 ct original packets 3 drop; }
      }`;
      const nft = await netns.exec(p.s, ['nft', '-f', '-'], { input: rules });
      expect(nft.code, nft.stderr).toBe(0);
      await p.start(p.s, [process.execPath, '-e', SERVER_JS], /listening/);
      const stopCapture = await p.capture(p.c, 'retrans.pcap', ['-i', 'v0']);
      const r = await curl(p, `http://${SERVER}/`);
      expect(r.stdout, r.stderr).toBe('hello from the kernel\n');
      await stopCapture();

      const l = await ladderOfFile(join(p.dir, 'retrans.pcap'), LINKTYPE_ETHERNET);
      const marked = l.rows.filter((r) => r.retransmission);
      expect(marked).toHaveLength(1);
      const first = l.rows.find((r) => r.from === 'a' && r.len > 0);
      expect([marked[0].seq, marked[0].len]).toEqual([first?.seq, first?.len]);
      // Linux's initial RTO is 1 s, or 200 ms (TCP_RTO_MIN) once the handshake measured an RTT.
      expect(marked[0].at - (first?.at ?? 0)).toBeGreaterThanOrEqual(190);
      const states = statesOf(l);
      expect([states.a.at(-1), states.b.at(-1)]).toEqual(['TIME_WAIT', 'CLOSED']);
      expect(runLadder(join(p.dir, 'retrans.pcap'), { conn: 1, list: false }).stdout).toMatch(
        /\|--- PSH\/ACK seq=1 ack=1 len=\d+ win=\d+ \[retransmission\] -+>\|\n/,
      );
    });
  }, 30_000);

  it('draws a refused connect on loopback: SYN, then RST/ACK from a CLOSED port', async () => {
    await withPair(async (p) => {
      const stopCapture = await p.capture(p.c, 'lo.pcap', ['-i', 'lo']);
      const r = await curl(p, 'http://127.0.0.1:9/');
      expect(r.code).not.toBe(0); // connection refused
      await stopCapture();
      const l = await ladderOfFile(join(p.dir, 'lo.pcap'), LINKTYPE_ETHERNET);
      expect([l.initialA, l.initialB]).toEqual(['CLOSED', 'CLOSED']);
      expect(l.rows.map((r) => [r.flags, r.seq, r.ack, r.stateA, r.stateB])).toEqual([
        ['SYN', 0, null, 'SYN_SENT', 'CLOSED'],
        ['RST/ACK', 0, 1, 'CLOSED', 'CLOSED'],
      ]);
    });
  }, 30_000);
}, ['tcpdump', 'curl', 'nft']);
