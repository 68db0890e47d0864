import { describe, expect, it } from 'vitest';
import {
  describeConnection,
  flagText,
  formatSegment,
  formatSpec,
  wireLayout,
} from '../../../src/drill/format.ts';
import { describeDiffs, type MatchContext, matchSegment } from '../../../src/drill/match.ts';
import { parseScript, type SegmentSpec } from '../../../src/drill/parse.ts';
import { TcpConnection } from '../../../src/tcp/conn.ts';
import { seg } from './scripted-target.ts';

const ISN = 0xfffffff0; // wraps: relative numbers cross 2^32

function spec(line: string): SegmentSpec {
  const e = parseScript(line).events[0];
  if (e.type !== 'packet') throw new Error('not a packet');
  return e.segment;
}

const CTX: MatchContext = { seqBase: ISN, ackBase: 0, tsVal: null };

describe('printer', () => {
  it('flags in packetdrill order', () => {
    expect(flagText(seg({ seq: 0, control: 'syn' }))).toBe('S');
    expect(flagText(seg({ seq: 0, control: 'syn', ack: 1 }))).toBe('S.');
    expect(flagText(seg({ seq: 0, control: 'fin', psh: true, ack: 1 }))).toBe('FP.');
    expect(flagText(seg({ seq: 0, control: 'rst' }))).toBe('R');
    expect(flagText(seg({ seq: 0 }))).toBe('-');
  });
  it('a SYN-ACK relative to the ISN, with options in wire layout', () => {
    const s = seg({
      seq: ISN,
      control: 'syn',
      ack: 1,
      window: 64240,
      options: {
        mss: 1460,
        windowScale: 7,
        sackPermitted: true,
        sackBlocks: [],
        timestamp: { tsVal: 5, tsEcr: 100 },
      },
    });
    expect(formatSegment(s, '>', { seqBase: ISN, ackBase: 0 })).toBe(
      '> S. 0:0(0) ack 1 win 64240 <mss 1460,sackOK,TS val 5 ecr 100,nop,wscale 7>',
    );
  });
  it('data past the 2^32 wrap, and SACK blocks without timestamps', () => {
    const s = seg({
      seq: (ISN + 1) >>> 0,
      ack: 1001,
      psh: true,
      payload: new Uint8Array(100),
      options: {
        mss: null,
        windowScale: null,
        sackPermitted: false,
        sackBlocks: [{ left: 2001, right: 3001 }],
        timestamp: null,
      },
    });
    expect(formatSegment(s, '>', { seqBase: ISN, ackBase: 0 })).toBe(
      '> P. 1:101(100) ack 1001 win 65535 <nop,nop,sack 2001:3001>',
    );
  });
  it('layout without SACK-permitted puts NOP,NOP before TS, and SACK-permitted alone after NOPs', () => {
    const o = {
      mss: null,
      windowScale: null,
      sackPermitted: false,
      sackBlocks: [],
      timestamp: { tsVal: 1, tsEcr: 2 },
    };
    expect(wireLayout(o).map((x) => x.kind)).toEqual(['nop', 'nop', 'ts']);
    expect(wireLayout({ ...o, timestamp: null, sackPermitted: true }).map((x) => x.kind)).toEqual([
      'nop',
      'nop',
      'sackOK',
    ]);
  });
  it('a script segment prints as written', () => {
    expect(formatSpec(spec('0 > P. 1:1001(1000) ack 1 <...>'))).toBe(
      '> P. 1:1001(1000) ack 1 <...>',
    );
    expect(formatSpec(spec('0 < S 0:0(0) win 100 <mss 1000>'))).toBe(
      '< S 0:0(0) win 100 <mss 1000>',
    );
  });
});

describe('connection line', () => {
  it('prints the drops and, beside them, the counters that are not drops', () => {
    const tuple = { localAddr: 1, localPort: 40000, remoteAddr: 2, remotePort: 8080 };
    const c = TcpConnection.connect(tuple, 1000, 0, { timestamps: false, sack: false });
    c.dispatch(0); // the SYN
    c.process(1, seg({ seq: 5000, control: 'syn', ack: 1001 }));
    expect(c.state).toBe('ESTABLISHED');
    expect(describeConnection(c)).not.toContain('counters=');
    c.process(2, seg({ seq: 5001, ack: 1001, urg: true })); // URG is ignored and counted
    c.process(3, seg({ seq: 1, ack: 1001, payload: new Uint8Array(1) })); // far out of window
    const line = describeConnection(c);
    expect(line).toContain('drops={"out-of-window":1}');
    expect(line).toContain('counters={"urg-ignored":1}');
  });
});

describe('matcher', () => {
  const ackSeg = seg({ seq: (ISN + 1) >>> 0, ack: 1001, window: 502 });

  it('matches relative seq, ack, window omitted', () => {
    expect(matchSegment(spec('0 > . 1:1(0) ack 1001'), ackSeg, CTX)).toEqual([]);
    expect(matchSegment(spec('0 > . 1:1(0) ack 1001 win 502'), ackSeg, CTX)).toEqual([]);
  });
  it('reports each differing field in script terms', () => {
    const d = matchSegment(spec('0 > P. 2:12(10) ack 1 win 500'), ackSeg, CTX);
    expect(describeDiffs(d)).toBe(
      'flags: expected P., got .; seq: expected 2, got 1; len: expected 10, got 0; ack: expected 1, got 1001; win: expected 500, got 502',
    );
  });
  it('no <...> means no options; <...> means any', () => {
    const withTs = seg({
      ...ackSeg,
      options: { ...ackSeg.options, timestamp: { tsVal: 9, tsEcr: 700 } },
    });
    expect(describeDiffs(matchSegment(spec('0 > . 1:1(0) ack 1001'), withTs, CTX))).toBe(
      'options (layout): expected (none), got <nop,nop,TS val 9 ecr 700>',
    );
    expect(matchSegment(spec('0 > . 1:1(0) ack 1001 <...>'), withTs, CTX)).toEqual([]);
  });
  it('TS ecr is exact, TS val unchecked without a tick, within tolerance with one', () => {
    const withTs = seg({
      ...ackSeg,
      options: { ...ackSeg.options, timestamp: { tsVal: 5000, tsEcr: 700 } },
    });
    expect(
      matchSegment(spec('0 > . 1:1(0) ack 1001 <nop,nop,TS val 100 ecr 700>'), withTs, CTX),
    ).toEqual([]);
    expect(
      matchSegment(spec('0 > . 1:1(0) ack 1001 <nop,nop,TS val 100 ecr 701>'), withTs, CTX)[0]
        .field,
    ).toBe('options (TS ecr)');
    const ticked: MatchContext = {
      ...CTX,
      tsVal: { toScript: (a) => a - 4900, toleranceTicks: 4 },
    };
    expect(
      matchSegment(spec('0 > . 1:1(0) ack 1001 <nop,nop,TS val 104 ecr 700>'), withTs, ticked),
    ).toEqual([]);
    expect(
      matchSegment(spec('0 > . 1:1(0) ack 1001 <nop,nop,TS val 105 ecr 700>'), withTs, ticked),
    ).toEqual([{ field: 'TS val (script clock)', expected: '105', actual: '100' }]);
  });
  it('option values and order are checked: mss, wscale, layout', () => {
    const syn = seg({
      seq: ISN,
      control: 'syn',
      options: { mss: 1460, windowScale: 7, sackPermitted: true, sackBlocks: [], timestamp: null },
    });
    expect(
      matchSegment(spec('0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>'), syn, CTX),
    ).toEqual([]);
    expect(
      matchSegment(spec('0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale ...>'), syn, CTX),
    ).toEqual([]);
    expect(
      matchSegment(spec('0 > S 0:0(0) <mss 1000,nop,nop,sackOK,nop,wscale 7>'), syn, CTX)[0].field,
    ).toBe('options (mss)');
    expect(
      matchSegment(spec('0 > S 0:0(0) <mss 1460,nop,wscale 7,nop,nop,sackOK>'), syn, CTX)[0].field,
    ).toBe('options (layout)');
  });
  it('SACK blocks compare in the peer sequence space', () => {
    const s = seg({
      seq: (ISN + 1) >>> 0,
      ack: 1,
      options: {
        mss: null,
        windowScale: null,
        sackPermitted: false,
        sackBlocks: [{ left: 1001, right: 2001 }],
        timestamp: null,
      },
    });
    expect(matchSegment(spec('0 > . 1:1(0) ack 1 <nop,nop,sack 1001:2001>'), s, CTX)).toEqual([]);
    expect(matchSegment(spec('0 > . 1:1(0) ack 1 <nop,nop,sack 1001:3001>'), s, CTX)[0].field).toBe(
      'options (sack blocks)',
    );
  });
});
