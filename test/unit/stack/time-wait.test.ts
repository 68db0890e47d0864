/**
 * A connection in TIME_WAIT with nothing left for its owner becomes a compact entry in the TCP
 * layer (src/tcp/time-wait.ts): it answers as the whole connection did, and a new SYN that RFC 6191
 * accepts opens a new incarnation at once. Driven segment by segment on a RecordingLink, virtual
 * clock.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { TcpConnectionRow } from '../../../src/stack/tcp.ts';
import { seqGt } from '../../../src/tcp/seq.ts';
import { NO_OPTIONS, type TcpOptions, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { PEER, US } from '../ip/helpers.ts';
import { RecordingLink } from './recording-link.ts';
import { sentSegment, tcpPacket, tcpSeg } from './tcp-packets.ts';

const PORT = 80;
const PEER_PORT = 40_000;
const TIME_WAIT_MS = 60_000;

/** Let the stack's microtask and setImmediate services run (no time passes). */
async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

const ts = (tsVal: number, tsEcr = 0): TcpOptions => ({
  ...NO_OPTIONS,
  timestamp: { tsVal, tsEcr },
});

/**
 * A server that closes every connection at once; the peer (the test) opens one from PEER_PORT
 * and closes its side, so the server ends in TIME_WAIT. Returns what the test needs to go on.
 */
async function intoTimeWait(timestamps: boolean) {
  const link = new RecordingLink();
  const clock = new VirtualClock();
  const stack = createStack({ link, address: '10.0.0.2', clock });
  const gone: TcpConnectionRow[] = [];
  stack.tcp.onConnectionGone((row) => gone.push(row));
  let accepted = 0;
  stack.net
    .createServer((s) => {
      accepted++;
      s.on('error', () => {});
      s.end();
    })
    .listen(PORT);
  await turns();
  let tsVal = 1000;
  const opt = (): TcpOptions => (timestamps ? ts(tsVal++, 0) : NO_OPTIONS);
  const sent: TcpRepr[] = [];
  const take = (): TcpRepr[] => {
    const out = link.sent.splice(0).map(sentSegment);
    sent.push(...out);
    return out;
  };
  const send = (s: Partial<TcpRepr>) =>
    link.deliver(tcpPacket(tcpSeg({ srcPort: PEER_PORT, dstPort: PORT, ...s }), PEER, US));
  let seq = 5000;
  const synOpts = timestamps ? ts(tsVal++, 0) : NO_OPTIONS;
  send({ control: 'syn', seq, options: synOpts });
  await turns();
  const [synAck] = take();
  expect(synAck.control).toBe('syn');
  const iss = synAck.seq;
  const echo = () => (timestamps ? ts(tsVal++, synAck.options.timestamp?.tsVal ?? 0) : NO_OPTIONS);
  seq++;
  send({ seq, ack: iss + 1, options: echo() });
  await turns();
  // The server ends at once: its FIN.
  const fin = take().find((s) => s.control === 'fin');
  expect(fin).toBeDefined();
  // The peer ACKs it with its own FIN: the server goes to TIME_WAIT and ACKs.
  send({ control: 'fin', seq, ack: iss + 2, options: echo() });
  seq++;
  await turns();
  const last = take().at(-1)!;
  expect(last).toMatchObject({ control: 'none', seq: iss + 2, ack: seq });
  expect(accepted).toBe(1);
  return { link, clock, stack, gone, send, take, iss, rcvNxt: seq, sndNxt: iss + 2, opt, echo };
}

describe('a TIME_WAIT connection with nothing left for its owner', () => {
  for (const timestamps of [false, true]) {
    describe(timestamps ? 'with timestamps' : 'without timestamps', () => {
      it('becomes a compact entry that ss still lists; its final row goes to onConnectionGone once, when it leaves', async () => {
        const t = await intoTimeWait(timestamps);
        expect(t.stack.tcp.stats.timeWaitSlim).toBe(1);
        expect(t.stack.tcp.timeWaitEntries).toBe(1);
        expect(t.stack.tcp.size).toBe(1);
        const rows = t.stack.tcp.connections().filter((r) => r.state !== 'LISTEN');
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          state: 'TIME_WAIT',
          local: `10.0.0.2:${PORT}`,
          remote: `10.0.0.1:${PEER_PORT}`,
          segsSent: 3, // SYN-ACK, FIN, the ACK of the peer's FIN
        });
        // Still in the table: not gone yet (a watcher adding the table's rows to the gone ones,
        // as the styles meter does, would count it twice).
        expect(t.gone).toHaveLength(0);
        // 2·MSL later the entry is gone, told once, with the row it had when it was made.
        t.clock.advance(TIME_WAIT_MS + 1);
        await turns();
        expect(t.stack.tcp.size).toBe(0);
        expect(t.stack.tcp.timeWaitEntries).toBe(0);
        expect(t.gone).toHaveLength(1);
        expect(t.gone[0]).toMatchObject({ state: 'TIME_WAIT', segsSent: 3 });
        expect(t.gone[0].history.at(-1)?.state).toBe('TIME_WAIT');
        expect(t.stack.timers.liveEntries).toBe(0);
      });

      it('ACKs a retransmitted FIN and restarts 2·MSL', async () => {
        const t = await intoTimeWait(timestamps);
        t.clock.advance(50_000);
        t.send({ control: 'fin', seq: t.rcvNxt - 1, ack: t.sndNxt, options: t.echo() });
        const [ack] = t.take();
        expect(ack).toMatchObject({ control: 'none', seq: t.sndNxt, ack: t.rcvNxt });
        if (timestamps) expect(ack.options.timestamp).not.toBeNull();
        else expect(ack.options.timestamp).toBeNull();
        // A second one at once is ACKed too (a FIN again is not rate-limited).
        t.send({ control: 'fin', seq: t.rcvNxt - 1, ack: t.sndNxt, options: t.echo() });
        expect(t.take()).toHaveLength(1);
        t.clock.advance(TIME_WAIT_MS - 1); // 50 s + 60 s − 1 ms after entering: still there
        expect(t.stack.tcp.size).toBe(1);
        t.clock.advance(2);
        expect(t.stack.tcp.size).toBe(0);
      });

      it('is forgotten on an exact RST; an in-window inexact one draws an ACK', async () => {
        const t = await intoTimeWait(timestamps);
        t.send({ control: 'rst', seq: t.rcvNxt + 10 });
        expect(t.take().map((s) => [s.control, s.ack])).toEqual([['none', t.rcvNxt]]);
        expect(t.stack.tcp.size).toBe(1);
        t.send({ control: 'rst', seq: t.rcvNxt });
        expect(t.take()).toEqual([]);
        expect(t.stack.tcp.size).toBe(0);
        expect(t.gone).toHaveLength(1);
      });

      it('answers other segments with the same ACK, at most once per invalidAckIntervalMs', async () => {
        const t = await intoTimeWait(timestamps);
        // An old ACK (below RCV.NXT): unacceptable, ACKed.
        t.send({ seq: t.rcvNxt - 100, ack: t.sndNxt, options: t.echo() });
        t.send({ seq: t.rcvNxt - 100, ack: t.sndNxt, options: t.echo() });
        const acks = t.take();
        expect(acks).toHaveLength(1);
        expect(acks[0]).toMatchObject({ control: 'none', seq: t.sndNxt, ack: t.rcvNxt });
        expect(t.stack.tcp.stats.timeWaitDrops['out-of-window']).toBe(1);
        t.clock.advance(500);
        t.send({ seq: t.rcvNxt - 100, ack: t.sndNxt, options: t.echo() });
        expect(t.take()).toHaveLength(1);
        // A segment without ACK (a scanner's FIN) is dropped unanswered.
        t.send({ control: 'fin', seq: t.rcvNxt + 5 });
        expect(t.take()).toEqual([]);
        expect(t.stack.tcp.size).toBe(1);
      });

      it('takes a new SYN above RCV.NXT to the listener at once, with an ISN above the old SND.NXT (RFC 6191)', async () => {
        const t = await intoTimeWait(timestamps);
        t.clock.advance(1000);
        t.send({ control: 'syn', seq: t.rcvNxt + 100_000, options: t.opt() });
        await turns();
        const [synAck] = t.take();
        expect(synAck).toMatchObject({ control: 'syn', ack: t.rcvNxt + 100_001 });
        expect(seqGt(synAck.seq, t.sndNxt)).toBe(true);
        expect(t.stack.tcp.stats.timeWaitReused).toBe(1);
        expect(t.stack.tcp.timeWaitEntries).toBe(0);
        const states = t.stack.tcp.connections().map((r) => r.state);
        expect(states).toContain('SYN_RECEIVED');
        expect(states).not.toContain('TIME_WAIT');
      });

      it('answers a SYN that could be an old duplicate with an ACK and stays', async () => {
        const t = await intoTimeWait(timestamps);
        // Not above RCV.NXT; with timestamps, an older TSval too (PAWS).
        t.send({ control: 'syn', seq: t.rcvNxt - 1, options: timestamps ? ts(1) : NO_OPTIONS });
        await turns();
        expect(t.take().map((s) => [s.control, s.seq, s.ack])).toEqual([
          ['none', t.sndNxt, t.rcvNxt],
        ]);
        expect(t.stack.tcp.stats.timeWaitReused).toBe(0);
        expect(t.stack.tcp.timeWaitEntries).toBe(1);
      });
    });
  }

  it('with timestamps, takes a SYN whose TSval is newer than TS.Recent even below RCV.NXT', async () => {
    const t = await intoTimeWait(true);
    t.send({ control: 'syn', seq: t.rcvNxt - 1000, options: ts(1_000_000) });
    await turns();
    const [synAck] = t.take();
    expect(synAck).toMatchObject({ control: 'syn', ack: t.rcvNxt - 999 });
    expect(seqGt(synAck.seq, t.sndNxt)).toBe(true);
    expect(t.stack.tcp.stats.timeWaitReused).toBe(1);
  });
});
