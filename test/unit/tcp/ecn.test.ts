/**
 * ECN (RFC 3168 §6.1; src/tcp/ecn.ts): negotiation on the SYNs, as Linux's tcp_ecn modes; ECT(0)
 * on new data only; the receiver's ECE echo from a CE mark until CWR; the sender's reduction
 * once per window, without a retransmission; and the SYN-cookie path.
 */
import { expect, describe as group, it } from 'vitest';
import { TcpConnection } from '../../../src/tcp/conn.ts';
import { TcpListener } from '../../../src/tcp/listener.ts';
import type { TcpConnectionOptions } from '../../../src/tcp/options.ts';
import { SynCookies } from '../../../src/tcp/syncookie.ts';
import { IpEcn } from '../../../src/wire/ipv4.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';
import {
  drain,
  expectOut,
  feed,
  LOCAL_ADDR,
  LOCAL_ISS,
  LOCAL_PORT,
  l,
  PLAIN,
  REMOTE_ADDR,
  REMOTE_ISS,
  r,
  seg,
  synSent,
  TUPLE,
} from './helpers.ts';

/** Active open with `o`; the peer's SYN-ACK carries `ece`/`cwr`. ESTABLISHED at t=10. */
function activeOpen(o: Partial<TcpConnectionOptions>, synAck: { ece: boolean; cwr: boolean }) {
  const c = synSent(o);
  feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss: 1000 }, ...synAck });
  expectOut(c, 10, [{ control: 'none', ack: r(1), ece: false, cwr: false }]);
  c.takeEvents();
  return c;
}

/** An ECN connection (we asked, the peer agreed) with 10 segments of 1000 bytes out at t=20. */
function ecnBulk(o: Partial<TcpConnectionOptions> = {}) {
  const c = activeOpen({ ecn: 1, initialWindow: 10, ...o }, { ece: true, cwr: false });
  expect(c.snapshot().ecn).toBe(true);
  c.send(new Uint8Array(20_000));
  const out = drain(c, 20);
  expect(out.map((s) => s.seq)).toEqual(Array.from({ length: 10 }, (_, i) => l(1 + 1000 * i)));
  return { c, out };
}

const counters = (c: TcpConnection) => c.snapshot().counters;

group('ECN negotiation (RFC 3168 §6.1.1, Linux tcp_ecn)', () => {
  it('mode 1: our SYN asks (ECE+CWR); a SYN-ACK with ECE alone agrees', () => {
    const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, { ...PLAIN, ecn: 1 });
    const [syn] = drain(c, 0);
    expect(syn).toMatchObject({ control: 'syn', ece: true, cwr: true });
    expect(syn.ipEcn ?? IpEcn.NotEct).toBe(IpEcn.NotEct); // never ECT on a SYN
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), ece: true, options: { mss: 1000 } });
    expect(c.snapshot().ecn).toBe(true);
  });

  it('mode 1: a SYN-ACK with ECE and CWR, or neither, does not agree', () => {
    expect(activeOpen({ ecn: 1 }, { ece: true, cwr: true }).snapshot().ecn).toBe(false);
    expect(activeOpen({ ecn: 1 }, { ece: false, cwr: false }).snapshot().ecn).toBe(false);
  });

  it('mode 2 (the default) and 0: our SYN does not ask, and a SYN-ACK with ECE changes nothing', () => {
    for (const ecn of [undefined, 2, 0] as const) {
      const o = ecn === undefined ? {} : { ecn };
      const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, { ...PLAIN, ...o });
      expect(drain(c, 0)[0]).toMatchObject({ control: 'syn', ece: false, cwr: false });
      feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), ece: true });
      expect(c.snapshot().ecn, `ecn ${ecn}`).toBe(false);
    }
  });

  it('mode 1: a SYN sent again after a timeout falls back to no ECN (Linux tcp_ecn_fallback)', () => {
    const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, { ...PLAIN, ecn: 1 });
    expect(drain(c, 0)[0]).toMatchObject({ ece: true, cwr: true });
    const again = drain(c, 1000); // initial RTO 1 s
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ control: 'syn', ece: false, cwr: false });
    // A late SYN-ACK agreeing to the first SYN: we no longer asked, so no ECN.
    feed(c, 1010, { control: 'syn', seq: REMOTE_ISS, ack: l(1), ece: true });
    expect(c.snapshot()).toMatchObject({ state: 'ESTABLISHED', ecn: false });
  });

  it('passive, modes 1 and 2: a SYN with ECE+CWR gets a SYN-ACK with ECE alone', () => {
    for (const ecn of [1, 2] as const) {
      const synIn = seg({ control: 'syn', seq: REMOTE_ISS, ece: true, cwr: true });
      const c = TcpConnection.accept(TUPLE, LOCAL_ISS, 0, synIn, { ...PLAIN, ecn });
      const [sa] = drain(c, 0);
      expect(sa, `ecn ${ecn}`).toMatchObject({ control: 'syn', ack: r(1), ece: true, cwr: false });
      expect(c.snapshot().ecn).toBe(true);
      // Sent again after a timeout, the SYN-ACK still agrees (Linux's tcp_ecn_make_synack).
      const [again] = drain(c, 1000);
      expect(again).toMatchObject({ control: 'syn', ece: true, cwr: false });
    }
  });

  it('passive: mode 0 refuses; a SYN with ECE alone (or CWR alone) is not an ECN-setup SYN', () => {
    const cases: [Partial<TcpRepr>, 0 | 2][] = [
      [{ ece: true, cwr: true }, 0],
      [{ ece: true, cwr: false }, 2],
      [{ ece: false, cwr: true }, 2],
    ];
    for (const [flags, ecn] of cases) {
      const synIn = seg({ control: 'syn', seq: REMOTE_ISS, ...flags });
      const c = TcpConnection.accept(TUPLE, LOCAL_ISS, 0, synIn, { ...PLAIN, ecn });
      expect(drain(c, 0)[0]).toMatchObject({ control: 'syn', ece: false, cwr: false });
      expect(c.snapshot().ecn).toBe(false);
    }
  });
});

group('ECT(0) on what we send (RFC 3168 §6.1.5, Linux tcp_ecn_send)', () => {
  it('new data is ECT(0); pure ACKs and retransmissions are not', () => {
    const { c, out } = ecnBulk();
    for (const s of out) expect(s.ipEcn).toBe(IpEcn.Ect0);
    // A pure ACK for the peer's data.
    feed(c, 30, { seq: r(1), ack: l(1), payload: 'x' });
    feed(c, 30, { seq: r(2), ack: l(1), payload: 'y' });
    const acks = drain(c, 70); // the delayed ACK
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.payload.length).toBe(0);
      expect(a.ipEcn ?? IpEcn.NotEct).toBe(IpEcn.NotEct);
    }
    // The retransmission timeout resends l(1): not ECT.
    const rto = c.snapshot().rto;
    const [re] = drain(c, 20 + rto);
    expect(re).toMatchObject({ seq: l(1) });
    expect(re.ipEcn ?? IpEcn.NotEct).toBe(IpEcn.NotEct);
    expect(c.snapshot().retransmits).toBe(1);
  });

  it('without ECN nothing is marked', () => {
    const c = activeOpen({ ecn: 2 }, { ece: true, cwr: false });
    c.send(new Uint8Array(3000));
    for (const s of drain(c, 20)) expect(s.ipEcn ?? IpEcn.NotEct).toBe(IpEcn.NotEct);
  });

  it('a zero-window probe is not ECT', () => {
    const c = activeOpen({ ecn: 1 }, { ece: true, cwr: false });
    feed(c, 15, { seq: r(1), ack: l(1), window: 0 });
    c.send(new Uint8Array(100));
    expect(drain(c, 15)).toEqual([]);
    const probes = drain(c, 15 + 10_000);
    expect(probes.length).toBeGreaterThan(0);
    for (const p of probes) expect(p.ipEcn ?? IpEcn.NotEct).toBe(IpEcn.NotEct);
  });
});

group('the receiver echoes CE with ECE until CWR (RFC 3168 §6.1.3)', () => {
  it('a CE-marked data segment is ACKed at once with ECE, and every segment after until CWR', () => {
    const c = activeOpen({ ecn: 1, quickAck: false }, { ece: true, cwr: false });
    // An ECT(0) segment: the usual delayed ACK, no ECE.
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a', ipEcn: IpEcn.Ect0 });
    expect(drain(c, 20)).toEqual([]);
    expect(drain(c, 60)[0]).toMatchObject({ ack: r(2), ece: false });
    // CE: an ACK at once, with ECE.
    feed(c, 100, { seq: r(2), ack: l(1), payload: 'b', ipEcn: IpEcn.Ce });
    expectOut(c, 100, [{ ack: r(3), ece: true }]);
    expect(counters(c)['ecn-ce-received']).toBe(1);
    // Our data, while echoing, carries ECE too (and ECT(0)).
    c.send(new Uint8Array(10));
    const [d] = expectOut(c, 101, [{ seq: l(1), ece: true }]);
    expect(d.ipEcn).toBe(IpEcn.Ect0);
    // More data not marked: still ECE.
    feed(c, 110, { seq: r(3), ack: l(11), payload: 'c' });
    expect(drain(c, 200)[0]).toMatchObject({ ack: r(4), ece: true });
    // The peer's CWR ends the echo.
    feed(c, 210, { seq: r(4), ack: l(11), payload: 'd', cwr: true });
    const after = drain(c, 300);
    expect(after[0]).toMatchObject({ ack: r(5), ece: false });
  });

  it('CE and CWR on one segment: the echo goes on', () => {
    const c = activeOpen({ ecn: 1 }, { ece: true, cwr: false });
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a', ipEcn: IpEcn.Ce });
    expectOut(c, 20, [{ ece: true }]);
    feed(c, 30, { seq: r(2), ack: l(1), payload: 'b', ipEcn: IpEcn.Ce, cwr: true });
    expectOut(c, 30, [{ ack: r(3), ece: true }]);
  });

  it('CE on a segment without data is not echoed; nor is CE without ECN', () => {
    const c = activeOpen({ ecn: 1 }, { ece: true, cwr: false });
    feed(c, 20, { seq: r(1), ack: l(1), ipEcn: IpEcn.Ce });
    expect(drain(c, 20)).toEqual([]);
    const plain = activeOpen({ ecn: 2 }, { ece: false, cwr: false });
    feed(plain, 20, { seq: r(1), ack: l(1), payload: 'a', ipEcn: IpEcn.Ce });
    for (const s of drain(plain, 100)) expect(s.ece).toBe(false);
    expect(counters(plain)['ecn-ce-received']).toBeUndefined();
  });
});

group('the sender reacts to ECE once per window, without retransmitting (RFC 3168 §6.1.2)', () => {
  it('cuts cwnd and ssthresh, retransmits nothing, and sets CWR on the next new data only', () => {
    const { c } = ecnBulk();
    const before = c.snapshot();
    expect(before.cwnd).toBe(10_000);
    // The first segment is acknowledged with ECE: a congestion event.
    feed(c, 30, { seq: r(1), ack: l(1001), ece: true });
    const s = c.snapshot();
    // Reno: ssthresh = FlightSize / 2 = 9000 / 2; cwnd falls to it (no inflation, no recovery).
    expect(s).toMatchObject({ ssthresh: 4500, cwnd: 4500, inRecovery: false, retransmits: 0 });
    expect(counters(c)).toMatchObject({ 'ecn-ece-received': 1, 'ecn-cwnd-reduced': 1 });
    // 9000 in flight > cwnd: nothing may go. Acknowledge more (the ECE still echoed): no new cut.
    expect(drain(c, 30)).toEqual([]);
    feed(c, 40, { seq: r(1), ack: l(6001), ece: true });
    // Nor does cwnd grow on an ACK with ECE (§6.1.2); without ECE, 5000 bytes acknowledged
    // would have added a segment in congestion avoidance.
    expect(c.snapshot()).toMatchObject({ ssthresh: 4500, cwnd: 4500, retransmits: 0 });
    expect(counters(c)['ecn-cwnd-reduced']).toBe(1);
    expect(drain(c, 40)).toEqual([]); // 4000 in flight: 500 bytes of room, too little to send
    feed(c, 45, { seq: r(1), ack: l(7001) });
    const next = drain(c, 45);
    expect(next.length).toBeGreaterThan(0);
    expect(next[0]).toMatchObject({ seq: l(10_001), cwr: true });
    expect(next[0].ipEcn).toBe(IpEcn.Ect0);
    for (const later of next.slice(1)) expect(later.cwr).toBe(false);
    expect(counters(c)['ecn-cwr-sent']).toBe(1);
    // Everything before the cut acknowledged: a new ECE is a new window's event.
    const sndMax = c.sndMax;
    feed(c, 50, { seq: r(1), ack: sndMax, ece: true });
    expect(counters(c)['ecn-cwnd-reduced']).toBe(2);
    expect(c.snapshot().retransmits).toBe(0);
  });

  it('CUBIC reduces by its β', () => {
    const { c } = ecnBulk({ congestion: 'cubic' });
    feed(c, 30, { seq: r(1), ack: l(1001), ece: true });
    // ssthresh = 9000 × 0.7.
    expect(c.snapshot()).toMatchObject({ ssthresh: 6300, cwnd: 6300, retransmits: 0 });
  });

  it('no reaction during loss recovery, which already cut the window', () => {
    const { c } = ecnBulk({ sack: false });
    for (let i = 0; i < 3; i++) feed(c, 30 + i, { seq: r(1), ack: l(1) });
    expect(drain(c, 32)[0]).toMatchObject({ seq: l(1) }); // fast retransmit
    const s = c.snapshot();
    expect(s.inRecovery).toBe(true);
    feed(c, 33, { seq: r(1), ack: l(1), ece: true });
    expect(c.snapshot().ssthresh).toBe(s.ssthresh);
    expect(counters(c)['ecn-cwnd-reduced']).toBeUndefined();
    expect(counters(c)['ecn-ece-received']).toBe(1);
  });

  it('ECE on a connection without ECN is ignored', () => {
    const c = activeOpen({ ecn: 2, initialWindow: 10 }, { ece: false, cwr: false });
    c.send(new Uint8Array(10_000));
    drain(c, 20);
    feed(c, 30, { seq: r(1), ack: l(1001), ece: true });
    expect(c.snapshot().cwnd).toBe(11_000); // slow start went on
    expect(counters(c)['ecn-ece-received']).toBeUndefined();
  });
});

group('ECN through SYN cookies (Linux cookie_init_timestamp, TS_OPT_ECN)', () => {
  const SECRET = new Uint8Array(32).fill(7);
  const conn: Partial<TcpConnectionOptions> = { ...PLAIN, timestamps: true };
  const listener = (ecn: 0 | 1 | 2) =>
    new TcpListener(
      LOCAL_ADDR,
      LOCAL_PORT,
      { next: () => LOCAL_ISS },
      { synCookies: 2, conn: { ...conn, ecn } },
      new SynCookies(SECRET),
    );
  const synIn = (ece: boolean) =>
    seg({
      control: 'syn',
      seq: REMOTE_ISS,
      ece,
      cwr: ece,
      options: { mss: 1000, timestamp: { tsVal: 777, tsEcr: 0 } },
    });

  for (const [ecnAsk, mode, agreed] of [
    [true, 2, true],
    [false, 2, false],
    [true, 0, false],
  ] as const) {
    it(`SYN ${ecnAsk ? 'asking' : 'not asking'}, mode ${mode}: ECN ${agreed ? 'agreed' : 'not'}`, () => {
      const ln = listener(mode);
      const v = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, synIn(ecnAsk));
      if (v.kind !== 'synack') throw new Error(`expected a cookie SYN-ACK, got ${v.kind}`);
      expect(v.seg).toMatchObject({ ece: agreed, cwr: false });
      const ts = v.seg.options.timestamp!;
      const ack = seg({
        seq: r(1),
        ack: (v.seg.seq + 1) >>> 0,
        options: { timestamp: { tsVal: 778, tsEcr: ts.tsVal } },
      });
      const made = ln.process(5, REMOTE_ADDR, LOCAL_ADDR, ack);
      expect(made.kind).toBe('cookie');
      if (made.kind !== 'cookie') return;
      made.conn.process(5, made.seg);
      expect(made.conn.snapshot()).toMatchObject({ state: 'ESTABLISHED', ecn: agreed });
    });
  }

  it('without timestamps a cookie cannot carry ECN: the SYN-ACK does not agree', () => {
    const ln = new TcpListener(
      LOCAL_ADDR,
      LOCAL_PORT,
      { next: () => LOCAL_ISS },
      { synCookies: 2, conn: PLAIN },
      new SynCookies(SECRET),
    );
    const v = ln.process(
      0,
      REMOTE_ADDR,
      LOCAL_ADDR,
      seg({ control: 'syn', seq: REMOTE_ISS, ece: true, cwr: true }),
    );
    expect(v).toMatchObject({ kind: 'synack', seg: { ece: false } });
  });
});
