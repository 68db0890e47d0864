import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LINKTYPE_RAW, PcapLink } from '../../../src/link/pcap.ts';
import { readPcap } from '../../../src/link/pcap-read.ts';
import { SimLink } from '../../../src/link/sim.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { PING, SYN, UDP } from '../wire/known-packets.ts';

const dir = mkdtempSync(join(tmpdir(), 'tunstack-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function capture(name: string) {
  const clock = new VirtualClock(1_700_000_000_000); // a wall time, in ms
  const [a, b] = SimLink.pair(clock);
  const file = join(dir, name);
  const pcap = new PcapLink(a, file, { clock });
  const seen: number[] = [];
  pcap.attach({ packet: (p) => seen.push(p.length) });
  b.attach({ packet: () => {} });
  pcap.send(PING);
  pcap.flush();
  clock.advance(1.5);
  b.send(SYN);
  b.flush();
  clock.advance(1);
  pcap.send(UDP);
  await pcap.close();
  return { file, seen, pcap };
}

describe('PcapLink', () => {
  it('writes a libpcap file: raw IPv4, microsecond stamps, both directions', async () => {
    const { file, seen, pcap } = await capture('a.pcap');
    expect(seen).toEqual([SYN.length]); // received packets still reach the receiver
    expect(pcap.packets).toBe(3);
    const b = readFileSync(file);
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([b.readUInt16LE(4), b.readUInt16LE(6)]).toEqual([2, 4]);
    expect(b.readUInt32LE(16)).toBe(65_535);
    expect(b.readUInt32LE(20)).toBe(LINKTYPE_RAW);
    let at = 24;
    const records: [number, number, number, number][] = [];
    while (at < b.length) {
      const incl = b.readUInt32LE(at + 8);
      records.push([b.readUInt32LE(at), b.readUInt32LE(at + 4), incl, b.readUInt32LE(at + 12)]);
      at += 16 + incl;
    }
    expect(at).toBe(b.length);
    expect(records).toEqual([
      [1_700_000_000, 0, PING.length, PING.length],
      [1_700_000_000, 1500, SYN.length, SYN.length],
      [1_700_000_000, 2500, UDP.length, UDP.length],
    ]);
    expect(b.subarray(24 + 16, 24 + 16 + PING.length).equals(Buffer.from(PING))).toBe(true);
  });

  it('keeps every record, in order, across writes of its 256 KiB buffer; snaplen cuts', async () => {
    const clock = new VirtualClock(0);
    const [a, b] = SimLink.pair(clock, { mtu: 65_535 });
    b.attach({ packet: () => {} });
    const file = join(dir, 'many.pcap');
    const pcap = new PcapLink(a, file, { clock, snaplen: 40_000 });
    pcap.attach({ packet: () => {} });
    // 400 packets of up to 60 000 bytes: several buffers' worth, and some past the snaplen.
    const sizes = Array.from({ length: 400 }, (_, i) => 20 + ((i * 7_919) % 60_000));
    for (const [i, n] of sizes.entries()) pcap.send(new Uint8Array(n).fill(i & 0xff));
    await pcap.close();
    const f = readPcap(readFileSync(file));
    if (f instanceof ParseError) throw new Error(f.reason);
    expect(f.truncated).toBe(false);
    expect(f.records.map((r) => r.origLen)).toEqual(sizes);
    expect(f.records.map((r) => r.frame.length)).toEqual(sizes.map((n) => Math.min(n, 40_000)));
    expect(f.records.every((r, i) => r.frame.every((x) => x === (i & 0xff)))).toBe(true);
  });

  const tcpdump = spawnSync('tcpdump', ['--version']).status === 0;
  it.skipIf(!tcpdump)('is read by tcpdump -r (skipped when tcpdump is not installed)', async () => {
    const { file } = await capture('b.pcap');
    const out = spawnSync('tcpdump', ['-nn', '-vv', '-r', file], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stderr).toContain('link-type RAW');
    expect(out.stdout).toContain(
      '10.0.0.1 > 10.0.0.2: ICMP echo request, id 7238, seq 1, length 64',
    );
    expect(out.stdout).toContain('mss 1460,sackOK,TS val 2587569181 ecr 0,nop,wscale 7');
    expect(out.stdout).toContain('[udp sum ok]');
  });
});
