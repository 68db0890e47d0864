/** The pure rules beside the connection: acceptability, receive window, sender SWS/Nagle, timers. */
import { expect, describe as group, it } from 'vitest';
import { isAcceptable, receiveWindow, windowField } from '../../../src/tcp/recv.ts';
import { bytesToSend } from '../../../src/tcp/send.ts';
import { chooseTimer, IDLE, type TimerFacts } from '../../../src/tcp/timers.ts';

group('isAcceptable (RFC 9293 §3.10.7.4, the four cases)', () => {
  const nxt = 0xfffffff0; // the window wraps
  it('zero length, zero window: only SEG.SEQ = RCV.NXT', () => {
    expect(isAcceptable(nxt, 0, nxt, 0)).toBe(true);
    expect(isAcceptable(nxt + 1, 0, nxt, 0)).toBe(false);
  });
  it('zero length, open window: RCV.NXT ≤ SEG.SEQ < RCV.NXT + RCV.WND', () => {
    expect(isAcceptable(5, 0, nxt, 100)).toBe(true); // across the wrap
    expect(isAcceptable((nxt + 100) >>> 0, 0, nxt, 100)).toBe(false);
    expect(isAcceptable(nxt - 1, 0, nxt, 100)).toBe(false);
  });
  it('data, zero window: never', () => {
    expect(isAcceptable(nxt, 10, nxt, 0)).toBe(false);
  });
  it('data, open window: either end inside', () => {
    expect(isAcceptable(nxt - 5, 10, nxt, 100)).toBe(true); // tail inside
    expect(isAcceptable((nxt + 99) >>> 0, 10, nxt, 100)).toBe(true); // head inside
    expect(isAcceptable(nxt - 10, 10, nxt, 100)).toBe(false); // all old
  });
});

group('receive window (RFC 9293 §3.8.6.2.2)', () => {
  it('keeps the right edge until it can move by min(RCV.BUFF/2, MSS)', () => {
    // advertised edge 1000 ahead; 1500 free: moving by 500 < MSS 1000 -> keep 1000.
    expect(receiveWindow(0, 1000, 1500, 10_000, 1000)).toBe(1000);
    expect(receiveWindow(0, 1000, 2000, 10_000, 1000)).toBe(2000);
  });
  it('never shrinks the offered window', () => {
    expect(receiveWindow(0, 1000, 0, 10_000, 1000)).toBe(1000);
  });
  it('rounds the scaled field up rather than retreat the edge', () => {
    expect(windowField(0, 1000, 3, 0)).toBe(125);
    expect(windowField(0, 1001, 3, 1001)).toBe(126);
    expect(windowField(0, 10_000_000, 0, 0)).toBe(0xffff);
  });
});

group('bytesToSend (sender SWS §3.8.6.2.1 and Nagle §3.7.4)', () => {
  const base = {
    queued: 0,
    usable: 10_000,
    mss: 1000,
    maxSndWnd: 10_000,
    idle: false,
    noDelay: false,
    closing: false,
    force: false,
  };
  it('a full segment always goes', () => {
    expect(bytesToSend({ ...base, queued: 5000 })).toBe(1000);
  });
  it('a small tail waits for the ACK unless idle, noDelay or closing', () => {
    expect(bytesToSend({ ...base, queued: 10 })).toBe(0);
    expect(bytesToSend({ ...base, queued: 10, idle: true })).toBe(10);
    expect(bytesToSend({ ...base, queued: 10, noDelay: true })).toBe(10);
    expect(bytesToSend({ ...base, queued: 10, closing: true })).toBe(10);
  });
  it('a small window is used only at half the largest window seen, or on override', () => {
    const small = { ...base, queued: 5000, usable: 300, idle: true };
    expect(bytesToSend(small)).toBe(0);
    expect(bytesToSend({ ...small, maxSndWnd: 600 })).toBe(300);
    expect(bytesToSend({ ...small, force: true })).toBe(300);
  });
  it('nothing when the window is closed', () => {
    expect(bytesToSend({ ...base, queued: 5000, usable: 0, force: true })).toBe(0);
  });
});

group('chooseTimer', () => {
  const facts: TimerFacts = {
    state: 'ESTABLISHED',
    synSent: true,
    inFlight: false,
    unsent: false,
    userClosed: false,
    rto: 200,
    pto: null,
    recoveryProbe: false,
    reorderAt: null,
    persistInterval: 400,
    finWait2Ms: 60_000,
    keepaliveAt: null,
  };
  it('retransmit while data is in flight, keeping a running deadline (RFC 6298 §5.1)', () => {
    const t = chooseTimer(IDLE, 100, { ...facts, inFlight: true });
    expect(t).toEqual({ kind: 'retransmit', at: 300 });
    expect(chooseTimer(t, 150, { ...facts, inFlight: true })).toBe(t);
  });
  it('a tail loss probe instead, when allowed, never beyond the RTO', () => {
    expect(chooseTimer(IDLE, 0, { ...facts, inFlight: true, pto: 50 })).toEqual({
      kind: 'tlp',
      at: 50,
    });
    expect(chooseTimer(IDLE, 0, { ...facts, inFlight: true, pto: 500 })).toEqual({
      kind: 'tlp',
      at: 200,
    });
  });
  it('a running RTO stays for a tail loss probe, but gives way to a recovery probe', () => {
    const rto = chooseTimer(IDLE, 0, { ...facts, inFlight: true });
    expect(chooseTimer(rto, 10, { ...facts, inFlight: true, pto: 5 })).toBe(rto);
    expect(chooseTimer(rto, 10, { ...facts, inFlight: true, pto: 5, recoveryProbe: true })).toEqual(
      { kind: 'tlp', at: 15 },
    );
  });
  it('persist when something waits and nothing is in flight', () => {
    expect(chooseTimer(IDLE, 0, { ...facts, unsent: true })).toEqual({ kind: 'persist', at: 400 });
  });
  it('FIN_WAIT_2 after close(), keep-alive when idle, TIME_WAIT keeps its own', () => {
    expect(chooseTimer(IDLE, 0, { ...facts, state: 'FIN_WAIT_2', userClosed: true }).kind).toBe(
      'finWait2',
    );
    expect(chooseTimer(IDLE, 0, { ...facts, keepaliveAt: 7000 })).toEqual({
      kind: 'keepalive',
      at: 7000,
    });
    const tw = { kind: 'timeWait' as const, at: 99 };
    expect(chooseTimer(tw, 0, { ...facts, state: 'TIME_WAIT' })).toBe(tw);
    expect(chooseTimer(tw, 0, { ...facts, state: 'CLOSED' })).toBe(IDLE);
  });
  it('SYN retries only once the SYN is out', () => {
    expect(chooseTimer(IDLE, 0, { ...facts, state: 'SYN_SENT', synSent: false })).toBe(IDLE);
    expect(chooseTimer(IDLE, 0, { ...facts, state: 'SYN_SENT' })).toEqual({
      kind: 'synRetry',
      at: 200,
    });
  });
});
