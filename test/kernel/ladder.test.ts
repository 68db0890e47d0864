/**
 * `tunstack ladder` on captures that tcpdump wrote: curl and a Node HTTP server, kernel to kernel,
 * over a veth pair between two namespaces this test creates (and always removes). The same
 * connection is captured three ways (Ethernet on the client's veth, LINUX_SLL2 and LINUX_SLL on
 * `any` in the server's namespace) and must come out as the same ladder.
 *
 *   namespace C: v0 10.77.0.1/24  ◄── veth ──►  namespace S: v1 10.77.0.2/24, HTTP on :80
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

kernelDescribe('ladder: tcpdump captures of curl over veth', () => {
  it('draws the same ladder from Ethernet, LINUX_SLL2 and LINUX_SLL captures', async () => {
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

      children.push(await start(s, [process.execPath, '-e', SERVER_JS], /listening/));
      const captures = [
        { ns: c, file: 'veth.pcap', args: ['-i', 'v0'], linkType: LINKTYPE_ETHERNET },
        {
          ns: s,
          file: 'sll2.pcap',
          args: ['-i', 'any', '-y', 'LINUX_SLL2'],
          linkType: LINKTYPE_LINUX_SLL2,
        },
        {
          ns: s,
          file: 'sll.pcap',
          args: ['-i', 'any', '-y', 'LINUX_SLL'],
          linkType: LINKTYPE_LINUX_SLL,
        },
      ];
      // --immediate-mode: with TPACKET_V3, libpcap otherwise holds packets in a block until it
      // fills or a 1 s timeout passes, and a tcpdump stopped sooner writes none of them.
      const dumps: ChildProcess[] = [];
      for (const cap of captures) {
        const argv = [
          'tcpdump',
          '--immediate-mode',
          '-Z',
          'root',
          ...cap.args,
          '-w',
          join(dir, cap.file),
          'tcp port 80',
        ];
        const child = await start(cap.ns, argv, /listening on/);
        children.push(child);
        dumps.push(child);
      }

      const curl = await netns.exec(c, ['curl', '-sS', '--max-time', '5', `http://${SERVER}/`]);
      expect(curl.stdout, curl.stderr).toBe('hello from the kernel\n');
      // Let the client's last ACK reach the wire and the captures, then stop them.
      await new Promise((r) => setTimeout(r, 300));
      for (const d of dumps) await stop(d, 'SIGINT');

      const ladders: Ladder[] = [];
      for (const cap of captures) {
        const path = join(dir, cap.file);
        const pcap = readPcap(await readFile(path));
        expect(pcap instanceof ParseError ? pcap.reason : pcap.linkType, cap.file).toBe(
          cap.linkType,
        );
        const traced = traceFile(path);
        if (typeof traced === 'string') throw new Error(traced);
        expect(traced.trace.connections, cap.file).toHaveLength(1);
        const l = buildLadder(traced.trace.connections[0]);
        ladders.push(l);

        const text = runLadder(path, { conn: 1, list: false }).stdout.split('\n');
        expect(text[0]).toMatch(new RegExp(`^ +${CLIENT}:\\d+ +${SERVER}:80$`));
        expect(text[1]).toMatch(/^ +CLOSED +\| +\| LISTEN$/);
        expect(text[2]).toMatch(
          /^0\.000000 SYN_SENT +\|--- SYN seq=0 win=\d+ <mss \d+,sackOK,TS,wscale \d+> -+>\| SYN_RECEIVED$/,
        );
        expect(text[3]).toMatch(
          /^0\.0000\d\d ESTABLISHED +\|<-- SYN\/ACK seq=0 ack=1 win=\d+ <.*> -+\|$/,
        );
        expect(text[4]).toMatch(/^0\.0\d{5} +\|--- ACK seq=1 ack=1 win=\d+ -+>\| ESTABLISHED$/);
      }

      // The connection as the ladder sees it: opened by curl, closed by curl first.
      const [veth, ...others] = ladders;
      expect([veth.initialA, veth.initialB]).toEqual(['CLOSED', 'LISTEN']);
      expect(veth.windowScale).not.toBeNull();
      const statesA = veth.rows.map((r) => r.stateA);
      const statesB = veth.rows.map((r) => r.stateB);
      expect(statesA).toContain('FIN_WAIT_1');
      expect(statesB).toContain('CLOSE_WAIT');
      expect(statesB).toContain('LAST_ACK');
      expect([statesA.at(-1), statesB.at(-1)]).toEqual(['TIME_WAIT', 'CLOSED']);
      const request = veth.rows.find((r) => r.from === 'a' && r.len > 0);
      const response = veth.rows.find((r) => r.from === 'b' && r.len > 0);
      expect(request?.seq).toBe(1);
      expect(response?.ack).toBe(1 + (request?.len ?? 0));
      expect(veth.rows.some((r) => r.retransmission)).toBe(false);

      // Three capture points, one connection: the same segments, numbers and states.
      const shape = (l: Ladder) =>
        l.rows.map((r) => [r.from, r.flags, r.seq, r.ack, r.len, r.window, r.stateA, r.stateB]);
      for (const o of others) expect(shape(o)).toEqual(shape(veth));
    } finally {
      for (const child of children.reverse()) await stop(child, 'SIGTERM');
      await netns.remove(c);
      await netns.remove(s);
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
}, ['tcpdump', 'curl']);
