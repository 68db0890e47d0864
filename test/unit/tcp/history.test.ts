import { expect, describe as group, it } from 'vitest';
import {
  appendChange,
  MAX_HISTORY,
  stampPending,
  unpackHistory,
} from '../../../src/tcp/history.ts';
import { TCP_STATES, type TcpState } from '../../../src/tcp/state.ts';
import {
  closeWait,
  established,
  expectOut,
  feed,
  finWait1,
  l,
  lastAck,
  r,
  synReceived,
  synSent,
  timeWait,
} from './helpers.ts';

const states = (h: { state: TcpState }[]) => h.map((c) => c.state);

group('state history: packing', () => {
  it('round-trips every state with µs times, the creation state first at 0', () => {
    for (const [i, s] of TCP_STATES.entries()) {
      const at = 1.25 + i * 86_400_000; // days apart: beyond a small integer
      expect(unpackHistory('SYN_SENT', appendChange(null, s, at), 0)).toEqual([
        { state: 'SYN_SENT', at: 0 },
        { state: s, at },
      ]);
    }
  });

  it('one change is one number; later ones an array exactly as long as its contents, bounded', () => {
    let h = appendChange(null, 'ESTABLISHED', 1);
    expect(typeof h).toBe('number');
    h = appendChange(h, 'FIN_WAIT_1', 1.5);
    expect(h).toHaveLength(2);
    for (let i = 0; i < 20; i++) h = appendChange(h, i % 2 ? 'FIN_WAIT_1' : 'ESTABLISHED', 2 + i);
    expect(h).toHaveLength(MAX_HISTORY - 1);
    const out = unpackHistory('SYN_SENT', h, 0);
    expect(out).toHaveLength(MAX_HISTORY);
    // The creation state is kept; the newest changes are kept, the oldest dropped.
    expect(out[0]).toEqual({ state: 'SYN_SENT', at: 0 });
    expect(out.at(-1)).toEqual({ state: 'FIN_WAIT_1', at: 21 });
    expect(out[1].at).toBe(15);
  });

  it('a change of unknown time shows the latest time until stamped', () => {
    const one = appendChange(null, 'CLOSED', null);
    expect(unpackHistory('SYN_SENT', one, 3)[1]).toEqual({ state: 'CLOSED', at: 3 });
    expect(unpackHistory('SYN_SENT', stampPending(one, 4), 9)[1]).toEqual({
      state: 'CLOSED',
      at: 4,
    });
    let h = appendChange(appendChange(null, 'ESTABLISHED', 5), 'FIN_WAIT_1', null);
    expect(unpackHistory('SYN_SENT', h, 7).at(-1)).toEqual({ state: 'FIN_WAIT_1', at: 7 });
    h = stampPending(h, 9);
    h = stampPending(h, 11); // nothing left to stamp
    expect(unpackHistory('SYN_SENT', h, 20).slice(1)).toEqual([
      { state: 'ESTABLISHED', at: 5 },
      { state: 'FIN_WAIT_1', at: 9 },
    ]);
  });
});

group('state history: the core records every change', () => {
  it('active open, active close: SYN_SENT → ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → CLOSED', () => {
    const c = timeWait();
    expectOut(c, 60_030, []);
    expect(c.state).toBe('CLOSED');
    expect(c.stateHistory()).toEqual([
      { state: 'SYN_SENT', at: 0 },
      { state: 'ESTABLISHED', at: 10 },
      // shutdown() brings no time: stamped by the dispatch at 10 that sends the FIN.
      { state: 'FIN_WAIT_1', at: 10 },
      { state: 'FIN_WAIT_2', at: 20 },
      { state: 'TIME_WAIT', at: 30 },
      { state: 'CLOSED', at: 60_030 },
    ]);
  });

  it('a user call is stamped at the next dispatch, not at the last time seen', () => {
    const c = established(); // t = 10
    c.shutdown();
    expect(c.stateHistory().at(-1)).toEqual({ state: 'FIN_WAIT_1', at: 10 });
    expectOut(c, 5000, [{ control: 'fin', seq: l(1), ack: r(1) }]);
    expect(c.stateHistory().at(-1)).toEqual({ state: 'FIN_WAIT_1', at: 5000 });
  });

  it('passive open, passive close: SYN_RECEIVED → ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED', () => {
    const c = synReceived();
    feed(c, 3, { seq: r(1), ack: l(1) });
    feed(c, 5012, { control: 'fin', seq: r(1), ack: l(1) });
    c.shutdown();
    c.dispatch(5020);
    feed(c, 5030, { seq: r(2), ack: l(2) });
    expect(states(c.stateHistory())).toEqual([
      'SYN_RECEIVED',
      'ESTABLISHED',
      'CLOSE_WAIT',
      'LAST_ACK',
      'CLOSED',
    ]);
    expect(c.stateHistory().map((h) => h.at)).toEqual([0, 3, 5012, 5020, 5030]);
  });

  it('a reset in ESTABLISHED: the history ends CLOSED at the reset', () => {
    const c = closeWait();
    feed(c, 44, { control: 'rst', seq: r(2) });
    expect(c.stateHistory().slice(-2)).toEqual([
      { state: 'CLOSE_WAIT', at: 20 },
      { state: 'CLOSED', at: 44 },
    ]);
  });

  it('abort() is a user call too; LAST_ACK by fixture; a connection that never changed has one entry', () => {
    expect(synSent().stateHistory()).toEqual([{ state: 'SYN_SENT', at: 0 }]);
    const c = finWait1();
    c.abort();
    c.dispatch(70);
    expect(c.stateHistory().at(-1)).toEqual({ state: 'CLOSED', at: 70 });
    expect(states(lastAck().stateHistory())).toEqual([
      'SYN_SENT',
      'ESTABLISHED',
      'CLOSE_WAIT',
      'LAST_ACK',
    ]);
  });
});
