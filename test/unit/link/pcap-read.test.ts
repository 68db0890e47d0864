/**
 * The pcap reader (src/link/pcap-read.ts): both byte orders, µs and ns timestamps, files cut short,
 * pcapng blocks and interfaces, other formats refused, and the IPv4 packet found inside each link
 * type a Linux capture uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLadder, traceFile } from '../../../src/cli/ladder.ts';
import {
  ipv4FromFrame,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  readPcap,
} from '../../../src/link/pcap-read.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { FOUR_WAY, packet, pcapOf } from '../cli/ladder-helpers.ts';

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

  it('refuses what is neither pcap nor pcapng, with a reason', () => {
    expect(readPcap(new Uint8Array(28).fill(0x41))).toBe(ParseError.of('bad-magic'));
    expect(readPcap(new Uint8Array(10))).toBe(ParseError.of('truncated'));
  });
});

/** A pcapng block (draft-ietf-opsawg-pcapng §3.1): type, total length, body padded to 4, length. */
function block(type: number, body: ArrayLike<number>, le: boolean): Uint8Array {
  const padded = Math.ceil(body.length / 4) * 4;
  const out = new Uint8Array(12 + padded);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, out.length, le);
  out.set(body, 8);
  dv.setUint32(8 + padded, out.length, le);
  return out;
}

function fields(le: boolean, spec: [bits: 8 | 16 | 32 | 64, value: number][]): Uint8Array {
  const out = new Uint8Array(spec.reduce((n, [bits]) => n + bits / 8, 0));
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const [bits, v] of spec) {
    if (bits === 8) dv.setUint8(at, v);
    else if (bits === 16) dv.setUint16(at, v, le);
    else if (bits === 32) dv.setUint32(at, v, le);
    else dv.setBigInt64(at, BigInt(v), le);
    at += bits / 8;
  }
  return out;
}

const shb = (le: boolean) =>
  block(
    0x0a0d0d0a,
    fields(le, [
      [32, 0x1a2b3c4d],
      [16, 1],
      [16, 0],
      [64, -1],
    ]),
    le,
  );
/** An Interface Description Block, with if_tsresol when given, then opt_endofopt. */
const idb = (le: boolean, linkType: number, tsresol?: number) =>
  block(
    1,
    cat(
      fields(le, [
        [16, linkType],
        [16, 0],
        [32, 0],
      ]),
      tsresol === undefined
        ? []
        : cat(
            fields(le, [
              [16, 9],
              [16, 1],
              [8, tsresol],
            ]),
            [0, 0, 0],
          ),
      fields(le, [
        [16, 0],
        [16, 0],
      ]),
    ),
    le,
  );
/** An Enhanced Packet Block: interface, 64-bit timestamp in the interface's units, the frame. */
const epb = (le: boolean, ifc: number, units: bigint, frame: Uint8Array) =>
  block(
    6,
    cat(
      fields(le, [
        [32, ifc],
        [32, Number(units >> 32n)],
        [32, Number(units & 0xffffffffn)],
        [32, frame.length],
        [32, frame.length],
      ]),
      frame,
    ),
    le,
  );

describe('readPcap on pcapng', () => {
  it('reads Enhanced Packet Blocks of several interfaces, each with its link type and time unit', () => {
    const eth = cat(MACS, [0x08, 0x00], ip);
    const file = cat(
      shb(true),
      idb(true, LINKTYPE_ETHERNET, 9), // nanoseconds
      idb(true, LINKTYPE_RAW), // default: microseconds
      epb(true, 0, 1_700_000_000_123_456_789n, eth),
      block(
        5,
        fields(true, [
          [32, 0],
          [32, 0],
          [32, 0],
        ]),
        true,
      ), // statistics: skipped
      epb(true, 1, 1_700_000_000_500_000n, ip),
    );
    const f = readPcap(file);
    if (f instanceof ParseError) throw new Error(f.reason);
    expect(f.linkType).toBe(LINKTYPE_ETHERNET);
    expect(f.truncated).toBe(false);
    expect(f.records.map((r) => [r.linkType, r.frame.length, r.origLen])).toEqual([
      [LINKTYPE_ETHERNET, eth.length, eth.length],
      [LINKTYPE_RAW, ip.length, ip.length],
    ]);
    expect(f.records[0].at).toBeCloseTo(1_700_000_000_123.457, 2);
    expect(f.records[1].at).toBeCloseTo(1_700_000_000_500, 6);
    expect(ipv4FromFrame(f.records[0].linkType, f.records[0].frame)).toEqual(ip);
  });

  it('reads big-endian sections, binary time units, and a new section forgetting old interfaces', () => {
    const file = cat(
      shb(false),
      idb(false, LINKTYPE_RAW, 0x80 | 10), // 2^-10 s
      epb(false, 0, 2048n, ip), // 2 s
      shb(true),
      epb(true, 0, 5n, ip), // interface 0 of the old section: gone, so skipped
      idb(true, LINKTYPE_IPV4),
      epb(true, 0, 3_000_000n, ip),
    );
    const f = readPcap(file);
    if (f instanceof ParseError) throw new Error(f.reason);
    expect(f.records.map((r) => [r.at, r.linkType])).toEqual([
      [2000, LINKTYPE_RAW],
      [3000, LINKTYPE_IPV4],
    ]);
  });

  it('reads a Simple Packet Block (timed as the packet before it) and applies if_tsoffset', () => {
    const withOffset = block(
      1,
      cat(
        fields(true, [
          [16, LINKTYPE_RAW],
          [16, 0],
          [32, 0],
        ]),
        fields(true, [
          [16, 14],
          [16, 8],
          [64, 100],
        ]), // if_tsoffset: 100 s
        fields(true, [
          [16, 0],
          [16, 0],
        ]),
      ),
      true,
    );
    const spb = block(3, cat(fields(true, [[32, ip.length]]), ip), true);
    const f = readPcap(cat(shb(true), withOffset, epb(true, 0, 250_000n, ip), spb));
    if (f instanceof ParseError) throw new Error(f.reason);
    expect(f.records.map((r) => [r.at, r.frame.length, r.origLen])).toEqual([
      [100_250, ip.length, ip.length],
      [100_250, ip.length, ip.length],
    ]);
    expect(f.records[1].frame).toEqual(ip);
  });

  it('stops at a damaged block and says so', () => {
    const whole = cat(
      shb(true),
      idb(true, LINKTYPE_RAW),
      epb(true, 0, 1n, ip),
      epb(true, 0, 2n, ip),
    );
    const f = readPcap(whole.subarray(0, whole.length - 3));
    if (f instanceof ParseError) throw new Error(f.reason);
    expect([f.records.length, f.truncated]).toEqual([1, true]);
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

  it('draws the same diagram from Ethernet, SLL2 and pcapng captures as from PcapLink’s', async () => {
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
    const ng = join(dir, 'two-interfaces.pcapng');
    const ngBlocks = [shb(true), idb(true, LINKTYPE_ETHERNET), idb(true, LINKTYPE_RAW)];
    raw.records.forEach((r, i) => {
      const units = BigInt(Math.round(r.at * 1000));
      ngBlocks.push(
        i % 2 === 0
          ? epb(true, 0, units, cat(MACS, [0x08, 0x00], r.frame))
          : epb(true, 1, units, r.frame),
      );
    });
    writeFileSync(ng, cat(...ngBlocks));
    expect(runLadder(ng, { conn: 1, list: false }).stdout.replace(ng, 'F')).toBe(expected);
    // An ARP frame first: skipped and counted, and frame numbers still count it.
    const withArp = join(dir, 'arp.pcap');
    const ethernet = frames((p) => cat(MACS, [0x08, 0x00], p));
    writeFileSync(withArp, pcapFile(LINKTYPE_ETHERNET, [arp, ...ethernet]));
    const arpOut = runLadder(withArp, { conn: 1, list: false });
    expect(arpOut.stdout).toContain('12 packets, 1 TCP connection; skipped: not-ip 1');
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
