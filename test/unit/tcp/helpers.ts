/**
 * Test helpers for the TCP core (STYLE.md: tests in virtual time, after smoltcp's socket tests).
 *
 *   feed(conn, at, seg)          one segment in at time `at`
 *   expectOut(conn, at, [segs])  exactly these segments come out at `at` (fields given are
 *                                compared), then nothing
 *
 * Fixtures build a connection in a given state. The remote ISN is just below 2³² so that most
 * tests cross the wrap.
 */
import { expect } from 'vitest';
import { TcpConnection } from '../../../src/tcp/conn.ts';
import type { TcpConnectionOptions } from '../../../src/tcp/options.ts';
import { seqAdd } from '../../../src/tcp/seq.ts';
import type { TcpOptions, TcpRepr } from '../../../src/wire/tcp-repr.ts';

export const LOCAL_ADDR = 0x0a000001; // 10.0.0.1
export const REMOTE_ADDR = 0x0a000002; // 10.0.0.2
export const LOCAL_PORT = 49152;
export const REMOTE_PORT = 80;
export const LOCAL_ISS = 1000;
/** Just below 2³²: the peer's data wraps after 16 bytes. */
export const REMOTE_ISS = 0xffff_fff0;
export const TUPLE = {
  localAddr: LOCAL_ADDR,
  localPort: LOCAL_PORT,
  remoteAddr: REMOTE_ADDR,
  remotePort: REMOTE_PORT,
};

/** Plain options: no window scale, timestamps or SACK, so segments are easy to write. */
export const PLAIN: Partial<TcpConnectionOptions> = {
  windowScale: false,
  timestamps: false,
  sack: false,
  mss: 1000,
  rcvBuf: 64000,
  sndBuf: 64000,
  maxOoo: 64000,
};

export interface SegSpec extends Partial<Omit<TcpRepr, 'options' | 'payload'>> {
  options?: Partial<TcpOptions>;
  payload?: Uint8Array | string;
}

const EMPTY_OPTIONS: TcpOptions = {
  mss: null,
  windowScale: null,
  sackPermitted: false,
  sackBlocks: [],
  timestamp: null,
};

/** A segment from the remote end (ports from the remote's point of view). */
export function seg(s: SegSpec): TcpRepr {
  const payload =
    typeof s.payload === 'string'
      ? new TextEncoder().encode(s.payload)
      : (s.payload ?? new Uint8Array(0));
  return {
    srcPort: REMOTE_PORT,
    dstPort: LOCAL_PORT,
    control: 'none',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq: 0,
    ack: null,
    window: 64000,
    urgentPointer: 0,
    ...s,
    options: { ...EMPTY_OPTIONS, ...s.options },
    payload,
  };
}

export function feed(conn: TcpConnection, at: number, s: SegSpec): void {
  conn.process(at, seg(s));
}

/** Everything `dispatch(at)` produces, until null. */
export function drain(conn: TcpConnection, at: number): TcpRepr[] {
  const out: TcpRepr[] = [];
  for (let i = 0; i < 1000; i++) {
    const s = conn.dispatch(at);
    if (s === null) return out;
    out.push(s);
  }
  throw new Error('dispatch did not settle');
}

/** Compare the fields a spec gives (payload as bytes or text; options field by field). */
export function expectSeg(actual: TcpRepr, spec: SegSpec): void {
  const { options, payload, ...fields } = spec;
  for (const [k, v] of Object.entries(fields)) {
    expect((actual as unknown as Record<string, unknown>)[k], `field ${k}`).toEqual(v);
  }
  if (payload !== undefined) {
    const want = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    expect(Array.from(actual.payload), 'payload').toEqual(Array.from(want));
  }
  if (options !== undefined) {
    for (const [k, v] of Object.entries(options)) {
      expect((actual.options as unknown as Record<string, unknown>)[k], `option ${k}`).toEqual(v);
    }
  }
}

/** Exactly these segments come out at `at`, then nothing. */
export function expectOut(conn: TcpConnection, at: number, specs: SegSpec[]): TcpRepr[] {
  const out = drain(conn, at);
  expect(out.length, `segments out: ${out.map(describe).join(' | ')}`).toBe(specs.length);
  for (let i = 0; i < specs.length; i++) expectSeg(out[i], specs[i]);
  return out;
}

export function describe(s: TcpRepr): string {
  const flags = `${s.control}${s.ack !== null ? '+ack' : ''}`;
  return `${flags} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length}`;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Remote sequence numbers: r(n) is REMOTE_ISS + n (r(1) is the first data byte). */
export const r = (n: number): number => seqAdd(REMOTE_ISS, n);
/** Local sequence numbers: l(n) is LOCAL_ISS + n. */
export const l = (n: number): number => seqAdd(LOCAL_ISS, n);

/** SYN_SENT: an active open whose SYN went out at t=0. */
export function synSent(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, { ...PLAIN, ...o });
  expectOut(c, 0, [{ control: 'syn', seq: LOCAL_ISS, ack: null }]);
  return c;
}

/**
 * A flight for loss-recovery tests: ESTABLISHED by active open at time 10 (MSS 1000 both ways,
 * SACK agreed unless `o.sack` is false, ECN too with `ece`), then `segments` full segments sent
 * at time 20.
 */
export function sackFlight(
  o: Partial<TcpConnectionOptions>,
  segments: number,
  ece = false,
): TcpConnection {
  const sack = o.sack ?? true;
  const c = synSent({ ...o, sack });
  feed(c, 10, {
    control: 'syn',
    seq: REMOTE_ISS,
    ack: l(1),
    ...(ece ? { ece: true } : {}),
    options: { mss: 1000, sackPermitted: sack },
  });
  expectOut(c, 10, [{ ack: r(1) }]);
  c.send(new Uint8Array(segments * 1000));
  expect(drain(c, 20)).toHaveLength(segments);
  return c;
}

/** ESTABLISHED by active open; peer window 64000, MSS 1000 both ways. Time is 10. */
export function established(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = synSent(o);
  feed(c, 10, {
    control: 'syn',
    seq: REMOTE_ISS,
    ack: l(1),
    window: 64000,
    options: { mss: 1000 },
  });
  expectOut(c, 10, [{ control: 'none', seq: l(1), ack: r(1) }]);
  c.takeEvents();
  return c;
}

/** SYN_RECEIVED by passive open at t=0 (SYN-ACK already sent). */
export function synReceived(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = TcpConnection.accept(
    TUPLE,
    LOCAL_ISS,
    0,
    seg({ control: 'syn', seq: REMOTE_ISS, window: 64000, options: { mss: 1000 } }),
    { ...PLAIN, ...o },
  );
  expectOut(c, 0, [{ control: 'syn', seq: LOCAL_ISS, ack: r(1) }]);
  return c;
}

/** FIN_WAIT_1: established, then shutdown; the FIN (seq l(1)) is out at t=10. */
export function finWait1(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = established(o);
  c.shutdown();
  expectOut(c, 10, [{ control: 'fin', seq: l(1), ack: r(1) }]);
  return c;
}

/** FIN_WAIT_2: our FIN acknowledged at t=20. */
export function finWait2(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = finWait1(o);
  feed(c, 20, { seq: r(1), ack: l(2) });
  expectOut(c, 20, []);
  return c;
}

/** CLOSE_WAIT: the peer's FIN (seq r(1)) arrived at t=20 and was acknowledged. */
export function closeWait(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = established(o);
  feed(c, 20, { control: 'fin', seq: r(1), ack: l(1) });
  expectOut(c, 20, [{ control: 'none', seq: l(1), ack: r(2) }]);
  c.takeEvents();
  return c;
}

/** LAST_ACK: CLOSE_WAIT, then shutdown; our FIN (seq l(1)) out at t=30. */
export function lastAck(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = closeWait(o);
  c.shutdown();
  expectOut(c, 30, [{ control: 'fin', seq: l(1), ack: r(2) }]);
  return c;
}

/** TIME_WAIT: FIN_WAIT_2, then the peer's FIN at t=30 (acknowledged). */
export function timeWait(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = finWait2(o);
  feed(c, 30, { control: 'fin', seq: r(1), ack: l(2) });
  expectOut(c, 30, [{ control: 'none', seq: l(2), ack: r(2) }]);
  c.takeEvents();
  return c;
}

/** CLOSING: FIN_WAIT_1, then the peer's FIN that does not acknowledge ours, at t=20. */
export function closing(o: Partial<TcpConnectionOptions> = {}): TcpConnection {
  const c = finWait1(o);
  feed(c, 20, { control: 'fin', seq: r(1), ack: l(1) });
  expectOut(c, 20, [{ control: 'none', seq: l(2), ack: r(2) }]);
  c.takeEvents();
  return c;
}
