/**
 * Hostile input, part 4: hand-built segments on connections that hand-built segments opened
 * (from 10.0.0.99, an address the namespace's kernel does not own, so that only our packets
 * speak for it): MSS 0 and window scale 15 in the SYN, blind SYN and RST injection (RFC 5961
 * challenge ACKs), and ICMP errors quoting forged segments. Written onto tun0 unchanged through
 * AF_PACKET (hostile/inject.ts). Issue 9, item 5.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelDescribe, STACK_ADDR, waitFor } from './harness.ts';
import { ECHO, PEER } from './hostile/catalogue.ts';
import { type HostileFixture, hostileGroup } from './hostile/inject.ts';
import {
  describeReply,
  F,
  icmpMessage,
  ipv4,
  type ParsedReply,
  PROTO_ICMP,
  PROTO_TCP,
  parseReply,
  tcp,
  udp,
} from './hostile/packets.ts';

const PEER_ADDR = 0x0a000063;

interface RawConn {
  sport: number;
  /** Our next sequence number (the stack's RCV.NXT). */
  seq: number;
  /** The stack's next sequence number (our RCV.NXT). */
  ack: number;
  synAck: ParsedReply;
}

let nextPort = 50_000;

/** Replies to `sport` sent since the tap was last cleared. */
const repliesTo = (fx: HostileFixture, sport: number): ParsedReply[] =>
  fx.tap.sent
    .map(parseReply)
    .filter((r) => r.protocol === PROTO_TCP && r.dst === PEER_ADDR && r.dport === sport);

/** Wait until a reply to `sport` satisfies `pred` (the app answers a microtask after input). */
async function waitReply(
  fx: HostileFixture,
  sport: number,
  pred: (r: ParsedReply) => boolean,
  what: string,
): Promise<ParsedReply> {
  let found: ParsedReply | undefined;
  await waitFor(
    () => {
      found = repliesTo(fx, sport).find(pred);
      return found !== undefined;
    },
    5_000,
    `${what}; got [${repliesTo(fx, sport).map(describeReply).join('; ')}]`,
  );
  return found!;
}

/** Open a connection to `dport` by hand: SYN (with `options`), SYN-ACK, ACK (with `window`). */
async function rawConnect(
  fx: HostileFixture,
  dport: number,
  options: number[] = [2, 4, 0x05, 0xb4],
  window = 65_535,
): Promise<RawConn> {
  const sport = nextPort++;
  const isn = 0xffff_ff00;
  await fx.inject([
    tcp({ src: PEER, dst: STACK_ADDR, sport, dport, flags: 'S', seq: isn, options, window }),
  ]);
  const synAck = await waitReply(fx, sport, (r) => r.flags === (F.SYN | F.ACK), 'a SYN-ACK');
  expect(synAck.ack).toBe((isn + 1) >>> 0);
  const seq = (isn + 1) >>> 0;
  const ack = (synAck.seq! + 1) >>> 0;
  await fx.inject([
    tcp({ src: PEER, dst: STACK_ADDR, sport, dport, flags: 'A', seq, ack, window }),
  ]);
  expect(stateOf(fx, sport)).toBe('ESTABLISHED');
  return { sport, seq, ack, synAck };
}

function rowOf(fx: HostileFixture, sport: number) {
  return fx.stack.connections().find((r) => r.remote === `${PEER}:${sport}`);
}
const stateOf = (fx: HostileFixture, sport: number) => rowOf(fx, sport)?.state ?? 'gone';

/** Send `data` on the connection; resolves with the stack's first data segment back (echo). */
async function sendData(fx: HostileFixture, c: RawConn, data: Uint8Array): Promise<ParsedReply> {
  await fx.inject([
    tcp({
      src: PEER,
      dst: STACK_ADDR,
      sport: c.sport,
      dport: ECHO,
      flags: 'PA',
      seq: c.seq,
      ack: c.ack,
      payload: data,
    }),
  ]);
  c.seq = (c.seq + data.length) >>> 0;
  return waitReply(fx, c.sport, (r) => (r.payloadLength ?? 0) > 0, 'echoed data');
}

/** An ICMP error (type/code, 4 "rest" bytes) quoting a forged segment of `c` from the stack. */
function icmpAbout(c: RawConn, type: number, code: number, rest: number): Uint8Array {
  const forged = tcp({
    src: STACK_ADDR,
    dst: PEER,
    sport: ECHO,
    dport: c.sport,
    flags: 'A',
    seq: (c.ack + 0x4000_0000) >>> 0, // nowhere near what the stack has sent
    ack: c.seq,
  });
  return ipv4({
    src: PEER,
    dst: STACK_ADDR,
    protocol: PROTO_ICMP,
    payload: icmpMessage(type, code, rest, forged.subarray(0, 28)),
  });
}

kernelDescribe('hostile input: hand-built segments on hand-built connections', () => {
  const g = hostileGroup();
  beforeAll(() => g.open());
  afterAll(() => g.close());

  it('SYN with MSS 0: the connection works with segments of at least 48 bytes (Linux tcp_min_snd_mss), not 1-byte segments', async () => {
    const c = await rawConnect(g.fx, ECHO, [2, 4, 0, 0]);
    const first = await sendData(g.fx, c, new Uint8Array(200).fill(0x42));
    expect(first.payloadLength, describeReply(first)).toBeGreaterThanOrEqual(48);
  });

  it('SYN with window scale 15: the shift is taken as 14 (RFC 7323 §2.3)', async () => {
    const c = await rawConnect(g.fx, ECHO, [1, 3, 3, 15], 1);
    // Our ACK said window 1: with the shift clamped, SND.WND is 1 << 14.
    expect(rowOf(g.fx, c.sport)?.sndWnd).toBe(1 << 14);
  });

  it('in-window SYN on an established connection: one challenge ACK (RFC 5961 §4), the connection stays', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    const replies = await fx.inject([
      tcp({ src: PEER, dst: STACK_ADDR, sport: c.sport, dport: ECHO, flags: 'S', seq: c.seq + 10 }),
    ]);
    const mine = replies.filter((r) => r.dport === c.sport).map(describeReply);
    expect(mine).toEqual([`TCP ${ECHO}>${c.sport} [A] seq=${c.ack} ack=${c.seq} len=0`]);
    expect(stateOf(fx, c.sport)).toBe('ESTABLISHED');
  });

  it('in-window RST that is not exact: one challenge ACK (RFC 5961 §3.2), the connection stays', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    const replies = await fx.inject([
      tcp({
        src: PEER,
        dst: STACK_ADDR,
        sport: c.sport,
        dport: ECHO,
        flags: 'R',
        seq: c.seq + 100,
      }),
    ]);
    const mine = replies.filter((r) => r.dport === c.sport).map(describeReply);
    expect(mine).toEqual([`TCP ${ECHO}>${c.sport} [A] seq=${c.ack} ack=${c.seq} len=0`]);
    expect(stateOf(fx, c.sport)).toBe('ESTABLISHED');
  });

  it('RST far outside the window: silence, the connection stays', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    const replies = await fx.inject([
      tcp({
        src: PEER,
        dst: STACK_ADDR,
        sport: c.sport,
        dport: ECHO,
        flags: 'R',
        seq: (c.seq + 0x8000_0000) >>> 0,
      }),
    ]);
    expect(replies.filter((r) => r.dport === c.sport).map(describeReply)).toEqual([]);
    expect(stateOf(fx, c.sport)).toBe('ESTABLISHED');
  });

  it('the exact RST ends the connection (the checks above are not "ignore every RST")', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    await fx.inject([
      tcp({ src: PEER, dst: STACK_ADDR, sport: c.sport, dport: ECHO, flags: 'R', seq: c.seq }),
    ]);
    await waitFor(() => stateOf(fx, c.sport) === 'gone', 5_000, 'the connection to go');
  });

  it('ICMP host unreachable and port unreachable quoting forged segments: counted, no reply, the connection stays and echoes', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    const before = fx.stack.stats.icmp.rxDestUnreachable;
    const replies = await fx.inject([icmpAbout(c, 3, 1, 0), icmpAbout(c, 3, 3, 0)]);
    expect(fx.stack.stats.icmp.rxDestUnreachable - before).toBe(2);
    expect(replies.map(describeReply)).toEqual([]);
    expect(stateOf(fx, c.sport)).toBe('ESTABLISHED');
    fx.tap.clear();
    const back = await sendData(fx, c, new Uint8Array(10).fill(0x43));
    expect(back.payloadLength).toBe(10);
  });

  it('ICMP "fragmentation needed, MTU 68" quoting a forged segment: the connection keeps its segment size', async () => {
    const fx = g.fx;
    const c = await rawConnect(fx, ECHO);
    await fx.inject([icmpAbout(c, 3, 4, 68)]);
    expect(stateOf(fx, c.sport)).toBe('ESTABLISHED');
    fx.tap.clear();
    const back = await sendData(fx, c, new Uint8Array(1000).fill(0x44));
    expect(back.payloadLength, describeReply(back)).toBe(1000);
  });

  it('ICMP port unreachable quoting a forged UDP datagram from our echo port: the UDP echo still answers', async () => {
    const fx = g.fx;
    const forged = udp({
      src: STACK_ADDR,
      dst: PEER,
      sport: ECHO,
      dport: 5555,
      payload: new Uint8Array(4),
    });
    const err = ipv4({
      src: PEER,
      dst: STACK_ADDR,
      protocol: PROTO_ICMP,
      payload: icmpMessage(3, 3, 0, forged.subarray(0, 28)),
    });
    const before = fx.stack.stats.icmp.rxErrorsReported;
    await fx.inject([err]);
    expect(fx.stack.stats.icmp.rxErrorsReported - before).toBe(1);
    const replies = await fx.inject([
      udp({
        src: PEER,
        dst: STACK_ADDR,
        sport: 5555,
        dport: ECHO,
        payload: new Uint8Array([1, 2, 3]),
      }),
    ]);
    await waitFor(
      () => fx.tap.sent.map(parseReply).some((r) => r.dport === 5555 && r.payloadLength === 3),
      5_000,
      `the UDP echo; got [${replies.map(describeReply).join('; ')}]`,
    );
  });
}, ['python3', 'ping', 'curl']);
