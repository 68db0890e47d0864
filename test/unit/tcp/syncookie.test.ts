/**
 * SYN cookies (RFC 4987 §3.6, Linux's encoding): the codec (src/tcp/syncookie.ts) and the
 * listener's use of it (src/tcp/listener.ts): a cookie SYN-ACK keeps no state, and a cookie ACK
 * makes an ESTABLISHED connection with the options the cookie carried.
 */

import { expect, describe as group, it } from 'vitest';
import { mulberry32 } from '../../../src/stack/rng.ts';
import { TcpListener } from '../../../src/tcp/listener.ts';
import type { TcpConnectionOptions } from '../../../src/tcp/options.ts';
import { seqDiff } from '../../../src/tcp/seq.ts';
import {
  COOKIE_MSS_TABLE,
  COOKIE_PERIOD_MS,
  cookieMssIndex,
  cookieTsOptions,
  cookieTsVal,
  SynCookies,
} from '../../../src/tcp/syncookie.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { drain, LOCAL_ADDR, LOCAL_PORT, PLAIN, REMOTE_ADDR, REMOTE_PORT, seg } from './helpers.ts';

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const OTHER_SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 2);

/** Seeded 32-bit words for forged values, the same every run (src/stack/rng.ts's mulberry32). */
function rng(seed: number): () => number {
  const random = mulberry32(seed);
  return () => Math.floor(random() * 2 ** 32);
}

group('SYN cookie codec', () => {
  const codec = new SynCookies(SECRET);
  const T = 5 * COOKIE_PERIOD_MS + 1234; // somewhere inside a period
  const tuple = [LOCAL_ADDR, LOCAL_PORT, REMOTE_ADDR, REMOTE_PORT] as const;
  const make = (c: SynCookies, isn: number, idx: number, at: number) =>
    c.make(...tuple, isn, idx, at);
  const check = (c: SynCookies, isn: number, cookie: number, at: number) =>
    c.check(...tuple, isn, cookie, at);

  it('round-trips every MSS index, for peer ISNs across the wrap', () => {
    for (const isn of [0, 1, 0x7fff_ffff, 0xffff_fff0, 0xffff_ffff]) {
      for (let idx = 0; idx < COOKIE_MSS_TABLE.length; idx++) {
        const cookie = make(codec, isn, idx, T);
        expect(check(codec, isn, cookie, T)).toBe(idx);
        expect(check(codec, isn, cookie, T + 1000)).toBe(idx);
      }
    }
  });

  it('rounds the peer MSS down to the table (536 for anything smaller)', () => {
    expect(COOKIE_MSS_TABLE).toEqual([536, 1300, 1440, 1460]);
    const cases: Array<[number, number]> = [
      [9000, 3],
      [1460, 3],
      [1459, 2],
      [1440, 2],
      [1400, 1],
      [1300, 1],
      [1299, 0],
      [536, 0],
      [100, 0],
    ];
    for (const [mss, idx] of cases) expect(cookieMssIndex(mss), `mss ${mss}`).toBe(idx);
  });

  it('refuses a cookie for another 4-tuple, another peer ISN or another secret', () => {
    const isn = 0x1234_5678;
    const cookie = make(codec, isn, 3, T);
    expect(check(codec, isn, cookie, T)).toBe(3);
    expect(codec.check(LOCAL_ADDR + 1, LOCAL_PORT, REMOTE_ADDR, REMOTE_PORT, isn, cookie, T)).toBe(
      -1,
    );
    expect(codec.check(LOCAL_ADDR, LOCAL_PORT + 1, REMOTE_ADDR, REMOTE_PORT, isn, cookie, T)).toBe(
      -1,
    );
    expect(codec.check(LOCAL_ADDR, LOCAL_PORT, REMOTE_ADDR + 1, REMOTE_PORT, isn, cookie, T)).toBe(
      -1,
    );
    expect(codec.check(LOCAL_ADDR, LOCAL_PORT, REMOTE_ADDR, REMOTE_PORT + 1, isn, cookie, T)).toBe(
      -1,
    );
    // The peer ISN is added, not hashed (as in Linux): one less reads as index 4, past the table.
    expect(check(codec, isn - 1, cookie, T)).toBe(-1);
    expect(check(codec, isn + 1000, cookie, T)).toBe(-1);
    expect(check(new SynCookies(OTHER_SECRET), isn, cookie, T)).toBe(-1);
  });

  it('refuses a wrong ACK: all but the 2 data bits of the low 24 are checked', () => {
    const isn = 99;
    const cookie = make(codec, isn, 3, T);
    // +1 would carry index 4, past the table; larger offsets break the hash or the counter.
    for (const delta of [1, 4, 0x100, 0x10000, 0x100_0000, 0x8000_0000, -4, -0x100]) {
      expect(check(codec, isn, (cookie + delta) >>> 0, T), `delta ${delta}`).toBe(-1);
    }
    // As in Linux, the index is added inside the hashed field: cookie − 1 reads as index 2, and
    // the cookie for index 0 less one as index 2^24 − 1, refused. (Only someone who already has
    // a valid cookie for the 4-tuple can shift it, so this gives nothing away.)
    expect(check(codec, isn, (cookie - 1) >>> 0, T)).toBe(2);
    const c0 = make(codec, isn, 0, T);
    expect(check(codec, isn, (c0 - 1) >>> 0, T)).toBe(-1);
    // Blind forgeries: 100 000 random ACK numbers, none accepted (2^-22 each, and 2 counter
    // values of 256).
    const next = rng(12345);
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) if (check(codec, isn, next(), T) >= 0) accepted++;
    expect(accepted).toBe(0);
  });

  it('accepts a cookie in its own period and the next, and refuses it after (MAX_COOKIE_AGE)', () => {
    const start = 7 * COOKIE_PERIOD_MS; // the first instant of a period
    const cookie = make(codec, 5, 2, start);
    expect(check(codec, 5, cookie, start + 2 * COOKIE_PERIOD_MS - 1)).toBe(2); // just within
    expect(check(codec, 5, cookie, start + 2 * COOKIE_PERIOD_MS)).toBe(-1); // stale
    const late = start + COOKIE_PERIOD_MS - 1; // the last instant of a period
    const c2 = make(codec, 5, 2, late);
    expect(check(codec, 5, c2, late + COOKIE_PERIOD_MS)).toBe(2);
    expect(check(codec, 5, c2, late + 1 + COOKIE_PERIOD_MS)).toBe(-1);
    // A cookie from a later period than now is no good either.
    expect(check(codec, 5, cookie, start - 1)).toBe(-1);
  });

  it('follows its period (a shorter one for simulations)', () => {
    const fast = new SynCookies(SECRET, 1000);
    const cookie = make(fast, 5, 1, 0);
    expect(check(fast, 5, cookie, 1999)).toBe(1);
    expect(check(fast, 5, cookie, 2000)).toBe(-1);
  });

  it('derives the same codec from the same secret, and a different one from another', () => {
    const a = SynCookies.derivedFrom(new Uint8Array(16).fill(1));
    const b = SynCookies.derivedFrom(new Uint8Array(16).fill(1));
    const c = SynCookies.derivedFrom(new Uint8Array(16).fill(2));
    const cookie = make(a, 77, 3, T);
    expect(check(b, 77, cookie, T)).toBe(3);
    expect(check(c, 77, cookie, T)).toBe(-1);
    expect(() => new SynCookies(new Uint8Array(16))).toThrow(RangeError);
  });

  it('carries window scale, SACK-permitted and ECN in the low 6 bits of TSval, never above now', () => {
    for (const tsNow of [0, 5, 63, 64, 1000, 0x7fff_ffff, 0xffff_ffc0, 0xffff_ffff]) {
      for (const ws of [null, 0, 1, 7, 8, 14]) {
        for (const sack of [false, true]) {
          for (const ecn of [false, true]) {
            const ts = cookieTsVal(tsNow, ws, sack, ecn);
            const back = seqDiff(tsNow, ts);
            expect(back, `tsNow ${tsNow}`).toBeGreaterThanOrEqual(0);
            expect(back).toBeLessThan(64);
            expect(cookieTsOptions(ts)).toEqual({ windowScale: ws, sackPermitted: sack, ecn });
          }
        }
      }
    }
  });
});

// -------------------------------------------------------------------------------------------------
// The listener

const ISN = { next: () => 1000 };
/** Timestamps, window scale and SACK on, MSS 1460, 256 KiB buffer (our shift: 3). */
const FULL: Partial<TcpConnectionOptions> = {
  ...PLAIN,
  timestamps: true,
  windowScale: true,
  sack: true,
  mss: 1460,
  rcvBuf: 256 * 1024,
};

function listener(
  o: { synBacklog?: number; backlog?: number; synCookies?: 0 | 1 | 2 } = {},
  conn: Partial<TcpConnectionOptions> = PLAIN,
) {
  return new TcpListener(LOCAL_ADDR, LOCAL_PORT, ISN, { ...o, conn }, new SynCookies(SECRET));
}

const PEER_ISN = 0xffff_fff0; // the peer's data wraps
const syn = (port: number, options: Partial<TcpRepr['options']> = { mss: 1460 }) =>
  seg({ control: 'syn', seq: PEER_ISN, srcPort: port, window: 65535, options });

/** The cookie SYN-ACK a listener answered `s` with. */
function cookieSynAck(ln: TcpListener, at: number, s: TcpRepr): TcpRepr {
  const v = ln.process(at, REMOTE_ADDR, LOCAL_ADDR, s);
  if (v.kind !== 'synack') throw new Error(`expected a cookie SYN-ACK, got ${v.kind}`);
  return v.seg;
}

/** The third segment for a SYN-ACK, from port `port` (with `extra` fields). */
function thirdAck(synAck: TcpRepr, port: number, extra: Parameters<typeof seg>[0] = {}) {
  return seg({
    srcPort: port,
    seq: (PEER_ISN + 1) >>> 0,
    ack: (synAck.seq + 1) >>> 0,
    window: 1000,
    ...extra,
  });
}

group('TcpListener with SYN cookies', () => {
  it('mode 1: a SYN that finds the SYN queue full gets a cookie SYN-ACK and leaves no state', () => {
    const ln = listener({ synBacklog: 1 });
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(1000)).kind).toBe('created');
    const sa = cookieSynAck(ln, 1, syn(1001));
    expect(sa).toMatchObject({
      control: 'syn',
      srcPort: LOCAL_PORT,
      dstPort: 1001,
      ack: (PEER_ISN + 1) >>> 0,
      window: 64000,
      // No timestamps in PLAIN: MSS only.
      options: { mss: 1000, windowScale: null, sackPermitted: false, timestamp: null },
    });
    expect(ln.handshaking).toBe(1);
    expect(ln.pending).toBe(0);
    expect(ln.cookieStats).toEqual({ SyncookiesSent: 1, SyncookiesRecv: 0, SyncookiesFailed: 0 });
    // Many more: still one connection held.
    for (let p = 2000; p < 2100; p++) cookieSynAck(ln, 2, syn(p));
    expect(ln.handshaking).toBe(1);
    expect(ln.cookieStats.SyncookiesSent).toBe(101);
  });

  it('a cookie ACK makes an ESTABLISHED connection, queued for accept', () => {
    const ln = listener({ synCookies: 2 });
    const sa = cookieSynAck(ln, 0, syn(1001));
    expect(ln.handshaking).toBe(0);
    const v = ln.process(50, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1001));
    expect(v.kind).toBe('cookie');
    if (v.kind !== 'cookie') return;
    v.conn.process(50, v.seg);
    expect(v.conn.state).toBe('ESTABLISHED');
    expect(v.conn.iss).toBe(sa.seq);
    expect(v.conn.irs).toBe(PEER_ISN);
    expect(v.conn.takeEvents()).toEqual([{ type: 'connected' }]);
    expect(drain(v.conn, 50)).toEqual([]); // nothing to say: no SYN-ACK again, no ACK
    expect(ln.accept()).toBe(v.conn);
    expect(ln.cookieStats).toEqual({ SyncookiesSent: 1, SyncookiesRecv: 1, SyncookiesFailed: 0 });
    // The connection works: data both ways.
    v.conn.send(new TextEncoder().encode('hi'));
    const [out] = drain(v.conn, 60);
    expect(out).toMatchObject({ seq: (sa.seq + 1) >>> 0, ack: (PEER_ISN + 1) >>> 0 });
    expect(new TextDecoder().decode(out.payload)).toBe('hi');
  });

  it('delivers data that comes on the cookie ACK', () => {
    const ln = listener({ synCookies: 2 });
    const sa = cookieSynAck(ln, 0, syn(1001));
    const v = ln.process(50, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1001, { payload: 'GET /' }));
    if (v.kind !== 'cookie') throw new Error(v.kind);
    v.conn.process(50, v.seg);
    const events = v.conn.takeEvents();
    expect(events[0]).toEqual({ type: 'connected' });
    const data = events.find((e) => e.type === 'data');
    expect(data !== undefined && 'data' in data && new TextDecoder().decode(data.data)).toBe(
      'GET /',
    );
    expect(v.conn.rcvNxt).toBe((PEER_ISN + 6) >>> 0);
  });

  it('carries window scale and SACK through timestamps; our TSval never goes back', () => {
    const ln = listener({ synCookies: 2 }, FULL);
    const tsSyn = syn(1001, {
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      timestamp: { tsVal: 5000, tsEcr: 0 },
    });
    const sa = cookieSynAck(ln, 10, tsSyn);
    expect(sa.options).toMatchObject({ mss: 1460, windowScale: 3, sackPermitted: true });
    const ts = sa.options.timestamp;
    expect(ts?.tsEcr).toBe(5000);
    expect(cookieTsOptions(ts?.tsVal ?? 0)).toEqual({
      windowScale: 7,
      sackPermitted: true,
      ecn: false,
    });
    const ack = thirdAck(sa, 1001, {
      window: 100,
      options: { timestamp: { tsVal: 5100, tsEcr: ts?.tsVal ?? 0 } },
    });
    const v = ln.process(20, REMOTE_ADDR, LOCAL_ADDR, ack);
    if (v.kind !== 'cookie') throw new Error(v.kind);
    v.conn.process(20, v.seg);
    const s = v.conn.snapshot();
    expect(s).toMatchObject({
      state: 'ESTABLISHED',
      sndShift: 7,
      rcvShift: 3,
      sack: true,
      timestamps: true,
      sndWnd: 100 << 7,
      smss: 1460 - 12,
    });
    v.conn.send(new Uint8Array(10));
    const [out] = drain(v.conn, 30);
    expect(out.options.timestamp?.tsEcr).toBe(5100);
    expect(seqDiff(out.options.timestamp?.tsVal ?? 0, ts?.tsVal ?? 0)).toBeGreaterThan(0);
  });

  it('without timestamps a cookie carries no window scale or SACK, and the SYN-ACK offers none', () => {
    const ln = listener({ synCookies: 2 }, FULL);
    const sa = cookieSynAck(ln, 0, syn(1001, { mss: 1400, windowScale: 7, sackPermitted: true }));
    expect(sa.options).toMatchObject({
      mss: 1460,
      windowScale: null,
      sackPermitted: false,
      timestamp: null,
    });
    const v = ln.process(5, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1001, { window: 100 }));
    if (v.kind !== 'cookie') throw new Error(v.kind);
    v.conn.process(5, v.seg);
    expect(v.conn.snapshot()).toMatchObject({
      state: 'ESTABLISHED',
      sndShift: 0,
      rcvShift: 0,
      sack: false,
      timestamps: false,
      sndWnd: 100,
      smss: 1300, // 1400 rounded down to the table
    });
  });

  it('refuses a forged cookie with the usual reset, and counts it', () => {
    const ln = listener({ synCookies: 2 });
    const sa = cookieSynAck(ln, 0, syn(1001));
    const forged = thirdAck(sa, 1001, { ack: (sa.seq + 1000) >>> 0 });
    const v = ln.process(5, REMOTE_ADDR, LOCAL_ADDR, forged);
    expect(v).toMatchObject({ kind: 'reset', seg: { control: 'rst', seq: forged.ack } });
    // The right cookie from the wrong port, or with the wrong sequence number.
    expect(ln.process(5, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1002)).kind).toBe('reset');
    for (const seq of [PEER_ISN, PEER_ISN + 1000]) {
      const badSeq = thirdAck(sa, 1001, { seq: seq >>> 0 });
      expect(ln.process(5, REMOTE_ADDR, LOCAL_ADDR, badSeq).kind).toBe('reset');
    }
    expect(ln.cookieStats).toEqual({ SyncookiesSent: 1, SyncookiesRecv: 0, SyncookiesFailed: 4 });
    expect(ln.handshaking + ln.pending).toBe(0);
  });

  it('refuses a stale cookie (two periods on) with a reset', () => {
    const ln = listener({ synCookies: 2 });
    const sa = cookieSynAck(ln, 0, syn(1001));
    cookieSynAck(ln, 100_000, syn(1002)); // the listener keeps sending cookies
    const v = ln.process(2 * COOKIE_PERIOD_MS, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1001));
    expect(v.kind).toBe('reset');
    expect(ln.cookieStats.SyncookiesFailed).toBe(1);
    // Just within: a cookie made at 100 s is still good at 179.999 s.
    const sb = cookieSynAck(ln, 100_000, syn(1003));
    const ok = ln.process(3 * COOKIE_PERIOD_MS - 1, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sb, 1003));
    expect(ok.kind).toBe('cookie');
  });

  it('checks no cookie at a listener that has sent none lately', () => {
    const ln = listener({ synCookies: 1 });
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ seq: 5, ack: 77 })).kind).toBe('reset');
    expect(ln.cookieStats).toEqual({ SyncookiesSent: 0, SyncookiesRecv: 0, SyncookiesFailed: 0 });
    const l2 = listener({ synCookies: 2 });
    const sa = cookieSynAck(l2, 0, syn(1001));
    // Two periods after the last cookie sent, ACKs are not checked any more: a plain reset.
    expect(l2.process(2 * COOKIE_PERIOD_MS, REMOTE_ADDR, LOCAL_ADDR, thirdAck(sa, 1001)).kind).toBe(
      'reset',
    );
    expect(l2.cookieStats.SyncookiesFailed).toBe(0);
  });

  it('mode 0: a full SYN queue drops the SYN; mode 2: every SYN gets a cookie', () => {
    const off = listener({ synBacklog: 1, synCookies: 0 });
    expect(off.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(1000)).kind).toBe('created');
    expect(off.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(1001))).toEqual({
      kind: 'drop',
      reason: 'syn-queue-full',
    });
    expect(off.cookieStats.SyncookiesSent).toBe(0);
    const always = listener({ synCookies: 2 });
    expect(always.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(1000)).kind).toBe('synack');
    expect(always.handshaking).toBe(0);
  });

  it('keeps the accept queue bounded: a cookie ACK beyond it is dropped and counted', () => {
    const ln = listener({ synCookies: 2, backlog: 1 });
    const a = cookieSynAck(ln, 0, syn(1001));
    const b = cookieSynAck(ln, 0, syn(1002));
    const va = ln.process(1, REMOTE_ADDR, LOCAL_ADDR, thirdAck(a, 1001));
    if (va.kind !== 'cookie') throw new Error(va.kind);
    va.conn.process(1, va.seg);
    expect(ln.pending).toBe(1);
    expect(ln.process(1, REMOTE_ADDR, LOCAL_ADDR, thirdAck(b, 1002))).toEqual({
      kind: 'drop',
      reason: 'accept-queue-full',
    });
    // A SYN meanwhile is dropped too (Linux: the accept queue is full).
    expect(ln.process(1, REMOTE_ADDR, LOCAL_ADDR, syn(1003)).kind).toBe('drop');
    expect(ln.cookieStats.SyncookiesRecv).toBe(2);
    expect(ln.stats.drops['accept-queue-full']).toBe(2);
    // Once accepted, the peer's retransmission gets in.
    expect(ln.accept()).toBe(va.conn);
    expect(ln.process(2, REMOTE_ADDR, LOCAL_ADDR, thirdAck(b, 1002)).kind).toBe('cookie');
  });
});
