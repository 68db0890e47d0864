/**
 * `tunstack ladder`: conversations emitted with src/wire, written by PcapLink, read back and drawn.
 * The expected diagrams below are written out by hand from the layout rules in render-text.ts
 * (time column, state column of 12, arrow at least 40 wide and 7 wider than the longest label).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLadder, type Ladder, ladderFromPackets } from '../../../src/cli/ladder/ladder.ts';
import { renderSvg } from '../../../src/cli/ladder/render-svg.ts';
import { renderText } from '../../../src/cli/ladder/render-text.ts';
import { type CapturedPacket, traceConnections } from '../../../src/cli/ladder/segments.ts';
import { runLadder } from '../../../src/cli/ladder.ts';
import { ipv4FromFrame, readPcap } from '../../../src/link/pcap-read.ts';
import { put16 } from '../../../src/wire/bytes.ts';
import { internetChecksum } from '../../../src/wire/checksum.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import {
  FOUR_WAY,
  HANDSHAKE,
  ISN_A,
  ISN_B,
  packet,
  pcapOf,
  REFUSED,
  RESET,
  RETRANSMISSION,
  SIMULTANEOUS_CLOSE,
  type Step,
  SYN_OPTIONS,
} from './ladder-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ladder-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The capture's IPv4 packets, as `tunstack ladder` takes them out of the file. */
async function captured(steps: readonly Step[]): Promise<CapturedPacket[]> {
  const pcap = readPcap(await pcapOf(steps));
  if (pcap instanceof ParseError) throw new Error(pcap.reason);
  return pcap.records.map((r) => {
    const ip = ipv4FromFrame(pcap.linkType, r.frame);
    if (ip instanceof ParseError) throw new Error(ip.reason);
    return { at: r.at, bytes: ip };
  });
}

async function ladderOf(steps: readonly Step[]): Promise<Ladder> {
  const ladder = ladderFromPackets(await captured(steps));
  if (ladder === null) throw new Error('no connection');
  return ladder;
}

const states = (l: Ladder) => l.rows.map((r) => [r.stateA, r.stateB]);

describe('handshake, data and the four-way close', () => {
  it('draws the exact text', async () => {
    const text = renderText(await ladderOf(FOUR_WAY));
    expect(text.split('\n')).toEqual([
      '               10.0.0.1:40000                                                       10.0.0.2:80',
      '         CLOSED       |                                                                  | LISTEN',
      '0.000000 SYN_SENT     |--- SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7> ----------->| SYN_RECEIVED',
      '0.000125 ESTABLISHED  |<-- SYN/ACK seq=0 ack=1 win=65160 <mss 1460,sackOK,TS,wscale 7> --|',
      '0.000375              |--- ACK seq=1 ack=1 win=64256 ----------------------------------->| ESTABLISHED',
      '0.000875              |--- PSH/ACK seq=1 ack=1 len=5 win=64256 ------------------------->|',
      '0.001125              |<-- ACK seq=1 ack=6 win=65152 ------------------------------------|',
      '0.002625              |<-- PSH/ACK seq=1 ack=6 len=5 win=65152 --------------------------|',
      '0.002750              |--- ACK seq=6 ack=6 win=64256 ----------------------------------->|',
      '0.004750 FIN_WAIT_1   |--- FIN/ACK seq=6 ack=6 win=64256 ------------------------------->| CLOSE_WAIT',
      '0.005000 FIN_WAIT_2   |<-- ACK seq=6 ack=7 win=65152 ------------------------------------|',
      '0.005500 TIME_WAIT    |<-- FIN/ACK seq=6 ack=7 win=65152 --------------------------------| LAST_ACK',
      '0.005625              |--- ACK seq=7 ack=7 win=64256 ----------------------------------->| CLOSED',
      '',
    ]);
  });

  it('infers each end’s state after each segment (RFC 9293 §3.3.2)', async () => {
    const l = await ladderOf(FOUR_WAY);
    expect([l.initialA, l.initialB]).toEqual(['CLOSED', 'LISTEN']);
    expect(states(l)).toEqual([
      ['SYN_SENT', 'SYN_RECEIVED'],
      ['ESTABLISHED', 'SYN_RECEIVED'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['ESTABLISHED', 'ESTABLISHED'],
      ['FIN_WAIT_1', 'CLOSE_WAIT'],
      ['FIN_WAIT_2', 'CLOSE_WAIT'],
      ['TIME_WAIT', 'LAST_ACK'],
      ['TIME_WAIT', 'CLOSED'],
    ]);
  });

  it('counts seq and ack from each side’s ISN, across the 2³² wrap', async () => {
    expect(ISN_A + 6).toBeGreaterThan(2 ** 32); // a's numbers wrap during the test
    const l = await ladderOf(FOUR_WAY);
    expect(l.rows.map((r) => [r.from, r.seq, r.ack, r.len])).toEqual([
      ['a', 0, null, 0],
      ['b', 0, 1, 0],
      ['a', 1, 1, 0],
      ['a', 1, 1, 5],
      ['b', 1, 6, 0],
      ['b', 1, 6, 5],
      ['a', 6, 6, 0],
      ['a', 6, 6, 0],
      ['b', 6, 7, 0],
      ['b', 6, 7, 0],
      ['a', 7, 7, 0],
    ]);
    expect(l.rows.map((r) => r.frame)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('scales windows after the handshake only, with each sender’s shift (RFC 7323 §2.2)', async () => {
    const l = await ladderOf(FOUR_WAY);
    expect(l.windowScale).toEqual({ a: 7, b: 7 });
    expect(l.rows[0].window).toBe(64240); // the SYN's own window is never scaled
    expect(l.rows[2].window).toBe(502 * 128);
    expect(l.rows[4].window).toBe(509 * 128);
  });

  it('leaves windows unscaled when only one SYN offered scaling', async () => {
    const noScale = { ...SYN_OPTIONS, windowScale: null };
    const steps: Step[] = HANDSHAKE.map(([dt, from, spec]) =>
      from === 'b' ? [dt, from, { ...spec, options: noScale }] : [dt, from, spec],
    );
    const l = await ladderOf(steps);
    expect(l.windowScale).toBeNull();
    expect(l.rows[2].window).toBe(502);
  });
});

describe('other endings', () => {
  it('simultaneous close: both ends pass through CLOSING to TIME_WAIT (RFC 9293 Figure 13)', async () => {
    const l = await ladderOf(SIMULTANEOUS_CLOSE);
    expect(renderText(l).split('\n').slice(5)).toEqual([
      '0.001375 FIN_WAIT_1   |--- FIN/ACK seq=1 ack=1 win=64256 ------------------------------->|',
      '0.001500 CLOSING      |<-- FIN/ACK seq=1 ack=1 win=65152 --------------------------------| CLOSING',
      '0.001625              |--- ACK seq=2 ack=2 win=64256 ----------------------------------->| TIME_WAIT',
      '0.001750 TIME_WAIT    |<-- ACK seq=2 ack=2 win=65152 ------------------------------------|',
      '',
    ]);
  });

  it('reset: an RST at the receiver’s RCV.NXT closes both ends', async () => {
    const l = await ladderOf(RESET);
    const last = l.rows[l.rows.length - 1];
    expect(last.flags).toBe('RST/ACK');
    expect([last.seq, last.ack, last.note]).toEqual([1, 6, null]);
    expect([last.stateA, last.stateB]).toEqual(['CLOSED', 'CLOSED']);
  });

  it('reset: an RST with an inexact sequence number is challenged, not obeyed (RFC 5961 §3.2)', async () => {
    const steps: Step[] = [
      ...HANDSHAKE,
      [1, 'b', { flags: 'R', seq: ISN_B + 100 }], // in a's window, not at RCV.NXT
      [1, 'b', { flags: 'R', seq: ISN_B + 1 }],
    ];
    const l = await ladderOf(steps);
    expect(l.rows[3].note).toMatch(/challenge/);
    expect(l.rows[3].stateA).toBe('ESTABLISHED');
    expect(l.rows[4].note).toBeNull();
    expect(l.rows[4].stateA).toBe('CLOSED');
  });

  it('refused: the peer was CLOSED, and the RST/ACK of the SYN closes the opener', async () => {
    const l = await ladderOf(REFUSED);
    expect([l.initialA, l.initialB]).toEqual(['CLOSED', 'CLOSED']);
    expect(states(l)).toEqual([
      ['SYN_SENT', 'CLOSED'],
      ['CLOSED', 'CLOSED'],
    ]);
    expect(l.notes).toEqual([]);
  });

  it('retransmission: marks exactly the segment whose sequence range was already sent', async () => {
    const l = await ladderOf(RETRANSMISSION);
    expect(l.rows.map((r) => r.retransmission)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      false,
    ]);
    expect(renderText(l)).toContain('PSH/ACK seq=1 ack=1 len=3 win=64256 [retransmission] ---');
    // The SACK block is in a's sequence space, relative to a's ISN.
    expect(l.rows[5].options).toBe('<sack 4-7>');
  });

  it('a retransmitted SYN is marked and does not start a new connection', async () => {
    const [syn, ...rest] = HANDSHAKE;
    const packets = await captured([syn, [1000, 'a', syn[2]], ...rest]);
    const trace = traceConnections(packets);
    expect(trace.connections).toHaveLength(1);
    const l = buildLadder(trace.connections[0]);
    expect(l.rows.map((r) => r.retransmission)).toEqual([false, true, false, false]);
    expect(l.rows[1].stateA).toBe('SYN_SENT');
  });

  it('simultaneous open: both ends go SYN_SENT → SYN_RECEIVED → ESTABLISHED', async () => {
    const steps: Step[] = [
      [0, 'a', { flags: 'S', seq: ISN_A, options: SYN_OPTIONS }],
      [0.125, 'b', { flags: 'S', seq: ISN_B, options: SYN_OPTIONS }],
      [0.125, 'a', { flags: 'SA', seq: ISN_A, ack: ISN_B + 1, options: SYN_OPTIONS }],
      [0.125, 'b', { flags: 'SA', seq: ISN_B, ack: ISN_A + 1, options: SYN_OPTIONS }],
    ];
    const l = await ladderOf(steps);
    expect([l.initialA, l.initialB]).toEqual(['CLOSED', 'CLOSED']);
    expect(states(l)).toEqual([
      ['SYN_SENT', 'CLOSED'],
      ['SYN_RECEIVED', 'SYN_RECEIVED'],
      ['SYN_RECEIVED', 'ESTABLISHED'],
      ['ESTABLISHED', 'ESTABLISHED'],
    ]);
  });
});

describe('connections in a capture', () => {
  it('splits a 4-tuple at a new SYN (port reuse) and tells interleaved connections apart', async () => {
    const other: Step = [0.125, 'a', { flags: 'S', seq: 7, options: SYN_OPTIONS }];
    const reuse: Step = [1000, 'a', { flags: 'S', seq: 123_456, options: SYN_OPTIONS }];
    const packets = await captured([...FOUR_WAY, reuse]);
    // A third connection from another port, inserted after the first packet.
    const otherPacket = packet('a', other[2]);
    otherPacket[21] = 0x41; // source port 40000 (0x9c40) → 40001
    // The TCP checksum is now wrong: the ladder decodes it anyway, as checksum offload.
    packets.splice(1, 0, { at: packets[0].at, bytes: otherPacket });
    const trace = traceConnections(packets);
    expect(trace.connections.map((c) => [c.id, c.a.port, c.segments.length])).toEqual([
      [1, 40000, 11],
      [2, 40001, 1],
      [3, 40000, 1],
    ]);
    expect(trace.checksumUnverified).toBe(1);
    expect(trace.connections[0].segments.map((s) => s.frame)).toEqual([
      1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
  });

  it('skips what is not TCP over IPv4, by reason', () => {
    const udp = packet('a', { flags: 'A', seq: 1 });
    udp[9] = 17; // protocol UDP (header checksum now wrong)
    const fixed = udp.slice();
    put16(fixed, 10, 0);
    put16(fixed, 10, internetChecksum(fixed, 0, 20));
    const trace = traceConnections([
      { at: 0, bytes: udp },
      { at: 0, bytes: fixed },
      { at: 0, bytes: new Uint8Array([0x45, 0, 0]) },
    ]);
    expect(trace.connections).toEqual([]);
    expect(trace.skipped).toEqual({ 'bad-checksum': 1, 'not-tcp': 1, truncated: 1 });
  });

  it('a capture that starts mid-connection counts from the first numbers seen', async () => {
    const l = await ladderOf(FOUR_WAY.slice(3));
    expect([l.initialA, l.initialB]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect(l.rows[0].seq).toBe(0);
    expect(l.rows[1].ack).toBe(5);
    expect(l.rows[0].window).toBe(502); // scale unknown: shown as on the wire
    expect(states(l).slice(-4)).toEqual([
      ['FIN_WAIT_1', 'CLOSE_WAIT'],
      ['FIN_WAIT_2', 'CLOSE_WAIT'],
      ['TIME_WAIT', 'LAST_ACK'],
      ['TIME_WAIT', 'CLOSED'],
    ]);
    expect(l.notes[0]).toMatch(/mid-connection/);
  });

  it('a capture that starts at the SYN/ACK puts the SYN/ACK’s receiver on the left', async () => {
    const l = await ladderOf(FOUR_WAY.slice(1));
    expect(l.a.port).toBe(40000);
    expect([l.initialA, l.initialB]).toEqual(['SYN_SENT', 'LISTEN']);
    expect(states(l).slice(0, 2)).toEqual([
      ['ESTABLISHED', 'SYN_RECEIVED'],
      ['ESTABLISHED', 'ESTABLISHED'],
    ]);
  });

  it('a FIN the capture shows ahead of missing data is taken when the receiver’s ACK covers it', async () => {
    // b's "world" segment is missing from the capture; a's ACK (ack=6) and FIN show it arrived.
    const steps = FOUR_WAY.filter((_, i) => i !== 5);
    const l = await ladderOf(steps);
    expect(states(l).slice(-4)).toEqual([
      ['FIN_WAIT_1', 'CLOSE_WAIT'],
      ['FIN_WAIT_2', 'CLOSE_WAIT'],
      ['TIME_WAIT', 'LAST_ACK'],
      ['TIME_WAIT', 'CLOSED'],
    ]);
  });
});

/**
 * XML 1.0 well-formedness, enough for our SVG: every tag closed in order, attributes quoted, no
 * bare '<' or '&' in text. Returns the element names in document order.
 */
function wellFormedElements(xml: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const tag =
    /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos);[^"<&]*)*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    if (xml[i] === '<') {
      tag.lastIndex = i;
      const m = tag.exec(xml);
      if (m === null) throw new Error(`malformed tag at ${i}: ${xml.slice(i, i + 40)}`);
      const [whole, closing, name, , selfClosing] = m;
      if (closing) {
        const top = open.pop();
        if (top !== name) throw new Error(`</${name}> closes <${top}> at ${i}`);
      } else {
        names.push(name);
        if (!selfClosing) open.push(name);
      }
      i += whole.length;
    } else if (xml[i] === '&') {
      const m = /^&(amp|lt|gt|quot|apos);/.exec(xml.slice(i, i + 6));
      if (m === null) throw new Error(`bare & at ${i}`);
      i += m[0].length;
    } else {
      i++;
    }
  }
  if (open.length > 0) throw new Error(`unclosed: ${open.join(' ')}`);
  return names;
}

describe('SVG', () => {
  it('is well-formed, one arrow per segment between two lifelines, labels escaped', async () => {
    const l = await ladderOf(FOUR_WAY);
    const svg = renderSvg(l);
    const names = wellFormedElements(svg);
    expect(names[0]).toBe('svg');
    expect(names.filter((n) => n === 'svg')).toHaveLength(1);
    expect(names.filter((n) => n === 'line')).toHaveLength(l.rows.length + 2);
    expect(svg.match(/marker-end="url\(#head\)"/g)).toHaveLength(l.rows.length);
    expect(svg).toContain('&lt;mss 1460,sackOK,TS,wscale 7&gt;');
    // State labels: the two initial ones and one per change (8 changes on a's side and b's).
    const stateTexts = [...svg.matchAll(/class="state"[^>]*>([A-Z_0-9]+)</g)].map((m) => m[1]);
    expect(stateTexts).toEqual([
      'CLOSED',
      'LISTEN',
      'SYN_SENT',
      'SYN_RECEIVED',
      'ESTABLISHED',
      'ESTABLISHED',
      'FIN_WAIT_1',
      'CLOSE_WAIT',
      'FIN_WAIT_2',
      'TIME_WAIT',
      'LAST_ACK',
      'CLOSED',
    ]);
  });

  it('the checker itself rejects broken XML', () => {
    expect(() => wellFormedElements('<svg><text>a < b</text></svg>')).toThrow();
    expect(() => wellFormedElements('<svg><g></svg>')).toThrow();
    expect(() => wellFormedElements('<svg><text>R&D</text></svg>')).toThrow();
    expect(() => wellFormedElements('<svg x=1/>')).toThrow();
  });

  it('draws retransmissions dashed and resets red', async () => {
    const svg = renderSvg(await ladderOf(RETRANSMISSION));
    expect(svg.match(/class="seg retrans"/g)).toHaveLength(1);
    const rst = renderSvg(await ladderOf(RESET));
    expect(rst.match(/class="seg rst"/g)).toHaveLength(1);
  });
});

describe('tunstack ladder (the command)', () => {
  async function file(name: string, steps: readonly Step[]): Promise<string> {
    const path = join(dir, name);
    writeFileSync(path, await pcapOf(steps));
    return path;
  }

  it('--list numbers the connections with packets, bytes, data each way and duration', async () => {
    const path = await file('two.pcap', [
      ...FOUR_WAY,
      ...REFUSED.map(([, f, s]): Step => [1000, f, s]),
    ]);
    const out = runLadder(path, { conn: 1, list: true });
    expect(out.exitCode).toBe(0);
    expect(out.stdout.split('\n')).toEqual([
      '#  opener          peer         packets  bytes  data →  data ←    duration',
      '1  10.0.0.1:40000  10.0.0.2:80       11    490       5       5  0.005625 s',
      '2  10.0.0.1:40000  10.0.0.2:80        2    100       0       0  1.000000 s',
      `${path}: 13 packets, 2 TCP connections`,
      '',
    ]);
  });

  it('draws the chosen connection and writes the SVG', async () => {
    const path = await file('refused.pcap', [
      ...FOUR_WAY,
      ...REFUSED.map(([, f, s]): Step => [1000, f, s]),
    ]);
    const svg = join(dir, 'refused.svg');
    const out = runLadder(path, { conn: 2, list: false, svg });
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain('RST/ACK seq=0 ack=1 win=0');
    expect(out.stdout).toContain('connection 2 of 2');
    expect(out.stdout).toContain(`wrote ${svg}`);
    expect(wellFormedElements(readFileSync(svg, 'utf8'))[0]).toBe('svg');
  });

  it('--max-rows cuts the diagram and says how much is left', async () => {
    const path = await file('cut.pcap', FOUR_WAY);
    const out = runLadder(path, { conn: 1, list: false, maxRows: 3 });
    expect(out.stdout).toContain('… 8 more segments not drawn');
    expect(out.stdout).not.toContain('PSH/ACK');
  });

  it('fails with a message, not a stack trace, on a missing file, a non-pcap or a bad --conn', async () => {
    const notPcap = join(dir, 'not.pcap');
    writeFileSync(notPcap, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const pcapng = join(dir, 'ng.pcapng');
    writeFileSync(pcapng, new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, ...new Uint8Array(28)]));
    const path = await file('one.pcap', FOUR_WAY);
    for (const [f, conn, message] of [
      [join(dir, 'missing.pcap'), 1, /cannot read/],
      [notPcap, 1, /not a pcap or pcapng file \(bad-magic\)/],
      [pcapng, 1, /no TCP connections in .*ng\.pcapng/],
      [path, 2, /no connection 2: .* has 1/],
    ] as const) {
      const out = runLadder(f, { conn, list: false });
      expect(out.exitCode).toBe(1);
      expect(out.stdout).toBe('');
      expect(out.stderr).toMatch(message);
    }
  });
});
