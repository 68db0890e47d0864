/**
 * `tunstack ladder` over IPv6: two dual-stack stacks talk over a simulated wire in virtual time,
 * the server's side recorded by a PcapLink (LINKTYPE_RAW, both families) or a RecorderLink (the
 * live path's), and the ladder draws the IPv6 connection from the file as from the packets, with
 * its ends as [fd00::1]:port. An IPv4 connection in the same capture is listed beside it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStack, type NetStack } from '../../../src/api/index.ts';
import { ladderFromPackets } from '../../../src/cli/ladder/ladder.ts';
import { decodeSegment } from '../../../src/cli/ladder/segments.ts';
import { runLadder, traceFile } from '../../../src/cli/ladder.ts';
import { PcapLink } from '../../../src/link/pcap.ts';
import {
  ipFromFrame,
  LINKTYPE_ETHERNET,
  LINKTYPE_NULL,
  readPcap,
} from '../../../src/link/pcap-read.ts';
import { RecorderLink } from '../../../src/link/recorder.ts';
import { SimLink } from '../../../src/link/sim.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitTcpPacket6 } from '../../../src/wire/tcp-packet.ts';
import { runFor, runUntil } from '../../sim/fixture.ts';
import { seg } from '../drill/scripted-target.ts';

const dir = mkdtempSync(join(tmpdir(), 'ladder6-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A client and a server stack, the server's link recorded to `file` and to a RecorderLink. */
function pair(file: string) {
  const clock = new VirtualClock(1_700_000_000_000);
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const recorder = new RecorderLink(lb, 1000, { clock });
  const pcap = new PcapLink(recorder, file, { clock });
  const tcp = { isnSecret: new Uint8Array(16).fill(7) };
  const client = createStack({ link: la, address: '10.0.0.1', address6: 'fd00::1', clock, tcp });
  const server = createStack({ link: pcap, address: '10.0.0.2', address6: 'fd00::2', clock, tcp });
  return { clock, client, server, pcap, recorder };
}

/** A request of `n` bytes to the echo server at host:7, its echo read back, then both ends close. */
async function exchange(clock: VirtualClock, client: NetStack, host: string, n: number) {
  const s = client.net.connect(7, host);
  let got = 0;
  s.on('data', (d: Buffer) => {
    got += d.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  s.end(Buffer.alloc(n, 0x61));
  await runFor(clock, done);
  expect(got).toBe(n);
}

describe('tunstack ladder over IPv6', () => {
  it('draws an IPv6 handshake, data and close the stacks made, from the pcap and from the recorder', async () => {
    const file = join(dir, 'six.pcap');
    const { clock, client, server, pcap, recorder } = pair(file);
    const srv = server.net.createServer((s) => s.pipe(s));
    srv.listen(7);
    await exchange(clock, client, 'fd00::2', 3000);
    await exchange(clock, client, '10.0.0.2', 100);
    await runUntil(clock, () => client.connections().length === 0, 200_000, 'TIME_WAIT over');
    await pcap.close();

    const traced = traceFile(file);
    if (typeof traced === 'string') throw new Error(traced);
    const { trace } = traced;
    expect(trace.skipped).toEqual({});
    expect(trace.connections.map((c) => [c.a.addr, c.b.addr, c.b.port])).toEqual([
      ['fd00::1', 'fd00::2', 7],
      ['10.0.0.1', '10.0.0.2', 7],
    ]);

    const out = runLadder(file, { conn: 1, list: false });
    expect(out.exitCode).toBe(0);
    const lines = out.stdout.split('\n');
    const port = trace.connections[0].a.port;
    expect(lines[0]).toMatch(new RegExp(`^\\s+\\[fd00::1\\]:${port}\\s+\\[fd00::2\\]:7$`));
    // The MSS over IPv6 is the MTU less 60.
    expect(out.stdout).toMatch(/SYN seq=0 win=\d+ <mss 1440,sackOK,TS,wscale \d+>/);
    expect(out.stdout).toMatch(/SYN\/ACK seq=0 ack=1 win=\d+ <mss 1440,/);
    // Full segments: the MSS less the 12 bytes of the timestamp option.
    expect(out.stdout).toContain('len=1428');
    expect(out.stdout).toContain('connection 1 of 2');

    const list = runLadder(file, { conn: 1, list: true });
    expect(list.stdout).toContain('[fd00::1]:');
    expect(list.stdout).toContain('[fd00::2]:7');
    expect(list.stdout).toContain('10.0.0.2:7');

    // The live path's packets (RecorderLink) draw the same rows.
    const fromFile = runLadder(file, { conn: 1, list: false }).stdout;
    const live = ladderFromPackets(recorder.packets());
    expect(live).not.toBeNull();
    const ladder = live!;
    expect(ladder.a).toEqual({ addr: 'fd00::1', port });
    expect(ladder.rows.map((r) => r.flags).slice(0, 3)).toEqual(['SYN', 'SYN/ACK', 'ACK']);
    expect(ladder.rows.filter((r) => r.from === 'a').reduce((n, r) => n + r.len, 0)).toBe(3000);
    expect(ladder.rows.filter((r) => r.from === 'b').reduce((n, r) => n + r.len, 0)).toBe(3000);
    const last = ladder.rows.at(-1)!;
    expect([last.stateA, last.stateB]).toEqual(['TIME_WAIT', 'CLOSED']);
    const drawn = fromFile.split('\n').filter((l) => /\|(---|<--)/.test(l));
    expect(ladder.rows).toHaveLength(drawn.length);
    srv.close();
    await client.close();
    await server.close();
  });

  it('reads IPv6 from Ethernet and BSD loopback frames, and skips what is not TCP by reason', () => {
    const a = parseIpv6('fd00::1');
    const b = parseIpv6('fd00::2');
    const ip = emitTcpPacket6(seg({ srcPort: 40000, dstPort: 80, seq: 1, control: 'syn' }), a, b);
    const eth = new Uint8Array(14 + ip.length);
    eth.set([0x86, 0xdd], 12);
    eth.set(ip, 14);
    expect(ipFromFrame(LINKTYPE_ETHERNET, eth)).toEqual(ip);
    const loop = new Uint8Array(4 + ip.length);
    loop.set([30, 0, 0, 0]); // macOS's AF_INET6, little-endian
    loop.set(ip, 4);
    expect(ipFromFrame(LINKTYPE_NULL, loop)).toEqual(ip);
    const decoded = decodeSegment(1, { at: 0, bytes: ip });
    if (decoded instanceof ParseError) throw new Error(decoded.reason);
    expect(decoded.segment).toMatchObject({ src: 'fd00::1', dst: 'fd00::2', ipLength: ip.length });

    // ICMPv6 (next header 58): not TCP. A Fragment header with M set: a fragment.
    const icmp = ip.slice();
    icmp[6] = 58;
    expect(decodeSegment(1, { at: 0, bytes: icmp })).toBe(ParseError.of('not-tcp'));
    const frag = new Uint8Array(ip.length + 8);
    frag.set(ip.subarray(0, 40));
    frag[6] = 44;
    frag[5] += 8;
    frag.set([6, 0, 0, 1, 0, 0, 0, 9], 40); // next TCP, offset 0, M set
    frag.set(ip.subarray(40), 48);
    expect(decodeSegment(1, { at: 0, bytes: frag })).toBe(ParseError.of('ip-fragment'));
    // A bad checksum (not offload-shaped either way) is decoded anyway and counted.
    const bad = ip.slice();
    bad[40 + 16] ^= 0xff;
    const unverified = decodeSegment(1, { at: 0, bytes: bad });
    expect(
      unverified instanceof ParseError ? unverified.reason : unverified.checksumUnverified,
    ).toBe(true);
  });

  it('lists an IPv6 connection from a minimal LINKTYPE_RAW pcap', () => {
    const a = parseIpv6('fd00::1');
    const b = parseIpv6('2001:db8::2');
    const ip = emitTcpPacket6(seg({ srcPort: 5555, dstPort: 443, seq: 9, control: 'syn' }), a, b);
    // A minimal pcap: the file header and one record, LINKTYPE_RAW (101).
    const head = new Uint8Array(24);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setUint32(16, 65535, true);
    dv.setUint32(20, 101, true);
    const rec = new Uint8Array(16);
    const rv = new DataView(rec.buffer);
    rv.setUint32(8, ip.length, true);
    rv.setUint32(12, ip.length, true);
    const file = join(dir, 'raw6.pcap');
    writeFileSync(file, Buffer.concat([head, rec, ip]));
    const parsed = readPcap(new Uint8Array(readFileSync(file)));
    expect(parsed instanceof ParseError).toBe(false);
    const out = runLadder(file, { conn: 1, list: true });
    expect(out.stdout).toContain('[fd00::1]:5555');
    expect(out.stdout).toContain('[2001:db8::2]:443');
  });
});
