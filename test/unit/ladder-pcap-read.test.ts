/**
 * The pcap reader (src/link/pcap-read.ts): both byte orders, µs and ns timestamps, files cut short,
 * other formats refused, and the IPv4 packet found inside each link type a Linux capture uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLadder, traceFile } from '../../src/cli/ladder.ts';
import {
  ipv4FromFrame,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  readPcap,
} from '../../src/link/pcap-read.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { FOUR_WAY, packet, pcapOf } from './ladder-helpers.ts';

interface Rec {
  sec: number;
  frac: number;
  frame: Uint8Array;
  origLen?: number;
}

/** A pcap file written field by field (pcap-savefile(5)), in either byte order. */
function pcapFile(
  linkType: number,
  records: Rec[],
  { bigEndian = false, nanos = false } = {},
): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.frame.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  const le = !bigEndian;
  dv.setUint32(0, nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, 65_535, le);
  dv.setUint32(20, linkType, le);
  let off = 24;
  for (const r of records) {
    dv.setUint32(off, r.sec, le);
    dv.setUint32(off + 4, r.frac, le);
    dv.setUint32(off + 8, r.frame.length, le);
    dv.setUint32(off + 12, r.origLen ?? r.frame.length, le);
    out.set(r.frame, off + 16);
    off += 16 + r.frame.length;
  }
  return out;
}

const ip = packet('a', { flags: 'S', seq: 1 });
const cat = (...parts: ArrayLike<number>[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const MACS = new Uint8Array(12).fill(0x02);

describe('readPcap', () => {
  it('reads what PcapLink writes: LINKTYPE_RAW, µs timestamps, every packet', async () => {
    const f = readPcap(await pcapOf(FOUR_WAY));
    if (f instanceof ParseError) throw new Error(f.reason);
    expect(f.linkType).toBe(LINKTYPE_RAW);
    expect(f.snaplen).toBe(65_535);
    expect(f.truncated).toBe(false);
    expect(f.records).toHaveLength(FOUR_WAY.length);
    expect(f.records[0].at).toBe(1_700_000_000_000);
    expect(f.records[1].at - f.records[0].at).toBeCloseTo(0.125, 9);
    expect(f.records[0].frame).toEqual(packet('a', FOUR_WAY[0][2]));
  });

  it('reads big-endian files and nanosecond timestamps', () => {
    const be = readPcap(
      pcapFile(LINKTYPE_RAW, [{ sec: 10, frac: 250_000, frame: ip }], { bigEndian: true }),
    );
    const ns = readPcap(
      pcapFile(LINKTYPE_RAW, [{ sec: 10, frac: 1_500, frame: ip }], { nanos: true }),
    );
    if (be instanceof ParseError || ns instanceof ParseError) throw new Error('parse');
    expect(be.records[0].at).toBe(10_250);
    expect(be.records[0].frame).toEqual(ip);
    expect(ns.records[0].at).toBeCloseTo(10_000.0015, 6);
  });

  it('keeps the whole records of a file cut mid-record and says so', () => {
    const whole = pcapFile(LINKTYPE_RAW, [
      { sec: 1, frac: 0, frame: ip },
      { sec: 2, frac: 0, frame: ip },
    ]);
    for (const cut of [whole.length - 1, whole.length - ip.length - 10]) {
      const f = readPcap(whole.subarray(0, cut));
      if (f instanceof ParseError) throw new Error(f.reason);
      expect(f.records).toHaveLength(1);
      expect(f.truncated).toBe(true);
    }
  });

  it('stops at maxRecords', () => {
    const f = readPcap(
      pcapFile(LINKTYPE_RAW, [
        { sec: 1, frac: 0, frame: ip },
        { sec: 2, frac: 0, frame: ip },
      ]),
      { maxRecords: 1 },
    );
    expect(f instanceof ParseError ? f : f.records.length).toBe(1);
  });

  it('refuses what is not a classic pcap file, with a reason', () => {
    const pcapng = new Uint8Array(28);
    new DataView(pcapng.buffer).setUint32(0, 0x0a0d0d0a, true);
    expect(readPcap(pcapng)).toBe(ParseError.of('pcapng'));
    expect(readPcap(new Uint8Array(28).fill(0x41))).toBe(ParseError.of('bad-magic'));
    expect(readPcap(new Uint8Array(10))).toBe(ParseError.of('truncated'));
  });
});

describe('ipv4FromFrame', () => {
  it('finds the IPv4 packet in each link type', () => {
    const sllHeader = [0, 0, 0, 1, 0, 6, ...MACS.subarray(0, 8), 0x08, 0x00];
    const sll2Header = [0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, ...MACS.subarray(0, 8)];
    const cases: [number, Uint8Array][] = [
      [LINKTYPE_RAW, ip],
      [LINKTYPE_IPV4, ip],
      [LINKTYPE_ETHERNET, cat(MACS, [0x08, 0x00], ip)],
      [LINKTYPE_ETHERNET, cat(MACS, [0x81, 0x00, 0, 5, 0x08, 0x00], ip)], // 802.1Q VLAN 5
      [LINKTYPE_ETHERNET, cat(MACS, [0x88, 0xa8, 0, 7, 0x81, 0x00, 0, 5, 0x08, 0x00], ip)], // QinQ
      [LINKTYPE_LINUX_SLL, cat(sllHeader, ip)],
      [LINKTYPE_LINUX_SLL2, cat(sll2Header, ip)],
      [LINKTYPE_NULL, cat([2, 0, 0, 0], ip)],
      [LINKTYPE_NULL, cat([0, 0, 0, 2], ip)],
    ];
    for (const [linkType, frame] of cases) {
      expect(ipv4FromFrame(linkType, frame), `linktype ${linkType}`).toEqual(ip);
    }
  });

  it('names what it cannot use', () => {
    const ipv6 = new Uint8Array(40);
    ipv6[0] = 0x60;
    expect(ipv4FromFrame(LINKTYPE_RAW, ipv6)).toBe(ParseError.of('not-ipv4'));
    expect(ipv4FromFrame(LINKTYPE_ETHERNET, cat(MACS, [0x08, 0x06], new Uint8Array(28)))).toBe(
      ParseError.of('not-ipv4'),
    ); // ARP
    expect(ipv4FromFrame(LINKTYPE_ETHERNET, MACS)).toBe(ParseError.of('truncated'));
    expect(ipv4FromFrame(LINKTYPE_LINUX_SLL2, new Uint8Array(19))).toBe(ParseError.of('truncated'));
    expect(ipv4FromFrame(LINKTYPE_RAW, new Uint8Array(0))).toBe(ParseError.of('truncated'));
    expect(ipv4FromFrame(147, ip)).toBe(ParseError.of('unsupported-linktype'));
  });
});

describe('tunstack ladder on other link types', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladder-read-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('draws the same diagram from Ethernet and SLL2 captures as from PcapLink’s', async () => {
    const raw = readPcap(await pcapOf(FOUR_WAY));
    if (raw instanceof ParseError) throw new Error(raw.reason);
    const rawPath = join(dir, 'raw.pcap');
    writeFileSync(rawPath, await pcapOf(FOUR_WAY));
    const expected = runLadder(rawPath, { conn: 1, list: false }).stdout.replace(rawPath, 'F');
    const frames = (wrap: (p: Uint8Array) => Uint8Array): Rec[] =>
      raw.records.map((r) => ({
        sec: Math.floor(r.at / 1000),
        frac: Math.round((r.at % 1000) * 1000),
        frame: wrap(r.frame),
      }));
    const arp = { sec: 1_700_000_000, frac: 0, frame: cat(MACS, [0x08, 0x06], new Uint8Array(28)) };
    for (const [linkType, wrap] of [
      [LINKTYPE_ETHERNET, (p: Uint8Array) => cat(MACS, [0x08, 0x00], p)],
      [
        LINKTYPE_LINUX_SLL2,
        (p: Uint8Array) => cat([0x08, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6], MACS.subarray(0, 8), p),
      ],
    ] as const) {
      const path = join(dir, `${linkType}.pcap`);
      writeFileSync(path, pcapFile(linkType, frames(wrap)));
      const out = runLadder(path, { conn: 1, list: false });
      expect(out.stdout.replace(path, 'F')).toBe(expected);
    }
    // An ARP frame first: skipped and counted, and frame numbers still count it.
    const withArp = join(dir, 'arp.pcap');
    const ethernet = frames((p) => cat(MACS, [0x08, 0x00], p));
    writeFileSync(withArp, pcapFile(LINKTYPE_ETHERNET, [arp, ...ethernet]));
    const arpOut = runLadder(withArp, { conn: 1, list: false });
    expect(arpOut.stdout).toContain('12 packets, 1 TCP connection; skipped: not-ipv4 1');
    const l = traceFile(withArp);
    if (typeof l === 'string') throw new Error(l);
    expect(l.trace.connections[0].segments[0].frame).toBe(2);
  });

  it('skips frames cut by the snaplen, by name', () => {
    const path = join(dir, 'snap.pcap');
    writeFileSync(
      path,
      pcapFile(LINKTYPE_RAW, [{ sec: 1, frac: 0, frame: ip.subarray(0, 34), origLen: ip.length }]),
    );
    expect(runLadder(path, { conn: 1, list: true }).stdout).toContain('skipped: snaplen 1');
  });
});
