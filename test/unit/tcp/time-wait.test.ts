/** The rules of a compact TIME_WAIT entry (src/tcp/time-wait.ts), segment by segment. */
import { describe, expect, it } from 'vitest';
import {
  reuseIsn,
  synReusable,
  type TimeWaitEntry,
  timeWaitAck,
  timeWaitInput,
} from '../../../src/tcp/time-wait.ts';
import { NO_OPTIONS, type TcpOptions, type TcpRepr } from '../../../src/wire/tcp-repr.ts';

const OPTS = { timeWaitMs: 60_000, invalidAckIntervalMs: 500 };
const RCV_NXT = 10_000;
const SND_NXT = 70_000;

function entry(tsRecent: number | null = null): TimeWaitEntry {
  return {
    localAddr: 0x0a000002,
    localPort: 80,
    remoteAddr: 0x0a000001,
    remotePort: 40_000,
    rcvNxt: RCV_NXT,
    sndNxt: SND_NXT,
    rcvWnd: 65_535,
    windowField: 65_535,
    tsRecent,
    tsOffset: 123,
    expiry: 60_000,
    lastAckAt: Number.NEGATIVE_INFINITY,
  };
}

function seg(s: Partial<TcpRepr>): TcpRepr {
  return {
    srcPort: 40_000,
    dstPort: 80,
    control: 'none',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq: RCV_NXT,
    ack: SND_NXT,
    window: 1000,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: new Uint8Array(0),
    ...s,
  };
}

const ts = (tsVal: number): TcpOptions => ({ ...NO_OPTIONS, timestamp: { tsVal, tsEcr: 0 } });

describe('timeWaitInput', () => {
  it('a FIN again: ACK, and 2·MSL restarts from now; not rate-limited', () => {
    const e = entry();
    const fin = seg({ control: 'fin', seq: RCV_NXT - 1 });
    expect(timeWaitInput(e, fin, 1000, OPTS)).toEqual({ kind: 'ack' });
    expect(e.expiry).toBe(61_000);
    expect(timeWaitInput(e, fin, 1001, OPTS)).toEqual({ kind: 'ack' });
    expect(e.expiry).toBe(61_001);
  });

  it('an exact RST: gone; an in-window one: a challenge ACK; an out-of-window one: dropped', () => {
    const e = entry();
    expect(timeWaitInput(e, seg({ control: 'rst', seq: RCV_NXT, ack: null }), 0, OPTS)).toEqual({
      kind: 'gone',
    });
    expect(timeWaitInput(entry(), seg({ control: 'rst', seq: RCV_NXT + 5 }), 0, OPTS)).toEqual({
      kind: 'ack',
    });
    expect(timeWaitInput(entry(), seg({ control: 'rst', seq: RCV_NXT - 5 }), 0, OPTS)).toEqual({
      kind: 'drop',
      reason: 'rst-out-of-window',
    });
  });

  it('an unacceptable segment: an ACK at most once per invalidAckIntervalMs (data always)', () => {
    const e = entry();
    const old = seg({ seq: RCV_NXT - 100 });
    expect(timeWaitInput(e, old, 0, OPTS).kind).toBe('ack');
    expect(timeWaitInput(e, old, 499, OPTS)).toEqual({ kind: 'drop', reason: 'out-of-window' });
    expect(timeWaitInput(e, old, 500, OPTS).kind).toBe('ack');
    const data = seg({ seq: RCV_NXT - 100, payload: new Uint8Array(10) });
    expect(timeWaitInput(e, data, 501, OPTS).kind).toBe('ack');
  });

  it('no ACK, no SYN, no RST: dropped; an in-window ACK of our FIN: dropped (nothing owed)', () => {
    expect(timeWaitInput(entry(), seg({ ack: null }), 0, OPTS)).toEqual({
      kind: 'drop',
      reason: 'no-ack',
    });
    expect(timeWaitInput(entry(), seg({}), 0, OPTS)).toEqual({ kind: 'drop', reason: 'old' });
    // An ACK of something we never sent: a challenge ACK (RFC 5961 §5.2).
    expect(timeWaitInput(entry(), seg({ ack: SND_NXT + 10 }), 0, OPTS).kind).toBe('ack');
  });

  it('with timestamps: none is dropped; an older TSval (PAWS) draws a rate-limited ACK', () => {
    const e = entry(5000);
    expect(timeWaitInput(e, seg({}), 0, OPTS)).toEqual({ kind: 'drop', reason: 'no-timestamp' });
    expect(timeWaitInput(e, seg({ options: ts(4000) }), 0, OPTS).kind).toBe('ack');
    expect(timeWaitInput(e, seg({ options: ts(4000) }), 1, OPTS)).toEqual({
      kind: 'drop',
      reason: 'paws',
    });
    // A RST is exempt.
    expect(timeWaitInput(e, seg({ control: 'rst', ack: null }), 2, OPTS).kind).toBe('gone');
  });
});

describe('RFC 6191: a new SYN in TIME_WAIT', () => {
  const syn = (seq: number, options: TcpOptions = NO_OPTIONS) =>
    seg({ control: 'syn', ack: null, seq, options });

  it('without timestamps: reused when above RCV.NXT, else an ACK', () => {
    expect(timeWaitInput(entry(), syn(RCV_NXT + 1), 0, OPTS)).toEqual({ kind: 'reuse' });
    expect(timeWaitInput(entry(), syn(RCV_NXT), 0, OPTS)).toEqual({ kind: 'ack' });
    expect(timeWaitInput(entry(), syn(RCV_NXT - 1), 0, OPTS)).toEqual({ kind: 'ack' });
    // Across the wrap of sequence space.
    const e = { ...entry(), rcvNxt: 0xffff_fff0 };
    expect(synReusable(e, syn(5))).toBe(true);
  });

  it('with timestamps: a newer TSval is enough; an older one (PAWS) never is', () => {
    expect(synReusable(entry(5000), syn(RCV_NXT - 1000, ts(5001)))).toBe(true);
    expect(synReusable(entry(5000), syn(RCV_NXT + 1000, ts(4999)))).toBe(false);
    // The same TSval: the sequence number decides.
    expect(synReusable(entry(5000), syn(RCV_NXT + 1, ts(5000)))).toBe(true);
    expect(synReusable(entry(5000), syn(RCV_NXT, ts(5000)))).toBe(false);
    // A SYN without timestamps to a timestamped entry: the sequence number decides.
    expect(synReusable(entry(5000), syn(RCV_NXT + 1))).toBe(true);
  });

  it('a SYN-ACK or a SYN+RST is never a new SYN', () => {
    expect(synReusable(entry(), seg({ control: 'syn', seq: RCV_NXT + 1 }))).toBe(false);
  });

  it('the new ISN is above the old SND.NXT', () => {
    const e = entry();
    expect(reuseIsn(e, SND_NXT + 1)).toBe(SND_NXT + 1);
    expect(reuseIsn(e, SND_NXT)).toBe(SND_NXT + 65_537);
    expect(reuseIsn(e, SND_NXT - 10)).toBe(SND_NXT + 65_537);
    expect(reuseIsn({ ...e, sndNxt: 0xffff_ffff }, 3)).toBe(3);
  });
});

describe('timeWaitAck', () => {
  it('<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, our window, TSval = now + offset and TS.Recent', () => {
    expect(timeWaitAck(entry(), 5)).toMatchObject({
      control: 'none',
      seq: SND_NXT,
      ack: RCV_NXT,
      window: 65_535,
      srcPort: 80,
      dstPort: 40_000,
      options: { timestamp: null },
    });
    expect(timeWaitAck(entry(777), 5).options.timestamp).toEqual({ tsVal: 128, tsEcr: 777 });
  });
});
