import { expect, describe as group, it } from 'vitest';
import { TcpListener } from '../../../src/tcp/listener.ts';
import { resetFor } from '../../../src/tcp/reply.ts';
import {
  drain,
  LOCAL_ADDR,
  LOCAL_ISS,
  l,
  PLAIN,
  REMOTE_ADDR,
  REMOTE_ISS,
  r,
  seg,
} from './helpers.ts';

const fixedIsn = { next: () => LOCAL_ISS };

function listener(o: { synBacklog?: number; backlog?: number; synCookies?: 0 | 1 | 2 } = {}) {
  return new TcpListener(LOCAL_ADDR, 49152, fixedIsn, { ...o, conn: PLAIN });
}

group('TcpListener (RFC 9293 §3.10.7.2)', () => {
  it('makes a SYN_RECEIVED connection from a SYN and queues it for accept once established', () => {
    const ln = listener();
    const v = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ control: 'syn', seq: REMOTE_ISS }));
    expect(v.kind).toBe('created');
    if (v.kind !== 'created') return;
    const c = v.conn;
    expect(c.state).toBe('SYN_RECEIVED');
    expect(c.accepts(REMOTE_ADDR, LOCAL_ADDR, { srcPort: 80, dstPort: 49152 })).toBe(true);
    expect(c.accepts(REMOTE_ADDR + 1, LOCAL_ADDR, { srcPort: 80, dstPort: 49152 })).toBe(false);
    const [synAck] = drain(c, 0);
    expect(synAck).toMatchObject({ control: 'syn', seq: LOCAL_ISS, ack: r(1) });
    expect(ln.accept()).toBeNull();
    c.process(5, seg({ seq: r(1), ack: l(1) }));
    expect(ln.pending).toBe(1);
    expect(ln.accept()).toBe(c);
    expect(ln.accept()).toBeNull();
  });

  it('answers a stray ACK with a reset and ignores RST and bare segments', () => {
    const ln = listener();
    const v = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ seq: 5, ack: 77 }));
    expect(v).toMatchObject({ kind: 'reset', seg: { control: 'rst', seq: 77, ack: null } });
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ control: 'rst', seq: 5 })).kind).toBe(
      'drop',
    );
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ control: 'fin', seq: 5 })).kind).toBe(
      'drop',
    );
  });

  it('bounds the SYN queue and the accept queue (SYN cookies off)', () => {
    const ln = listener({ synBacklog: 2, backlog: 1, synCookies: 0 });
    const syn = (port: number) => seg({ control: 'syn', seq: REMOTE_ISS, srcPort: port });
    const a = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(1));
    const b = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(2));
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(3))).toEqual({
      kind: 'drop',
      reason: 'syn-queue-full',
    });
    if (a.kind !== 'created' || b.kind !== 'created') throw new Error('not created');
    drain(a.conn, 0);
    a.conn.process(1, seg({ srcPort: 1, seq: r(1), ack: l(1) }));
    expect(ln.pending).toBe(1);
    expect(ln.process(0, REMOTE_ADDR, LOCAL_ADDR, syn(4))).toEqual({
      kind: 'drop',
      reason: 'accept-queue-full',
    });
    expect(ln.stats.drops).toEqual({ 'syn-queue-full': 1, 'accept-queue-full': 1 });
  });

  it('listens on any address with localAddr 0', () => {
    const ln = new TcpListener(0, 80, fixedIsn);
    expect(ln.accepts(0x01020304, { dstPort: 80 })).toBe(true);
    expect(ln.accepts(0x01020304, { dstPort: 81 })).toBe(false);
  });

  it('close aborts connections not yet accepted', () => {
    const ln = listener();
    const v = ln.process(0, REMOTE_ADDR, LOCAL_ADDR, seg({ control: 'syn', seq: REMOTE_ISS }));
    const aborted = ln.close();
    expect(aborted).toHaveLength(1);
    if (v.kind === 'created') expect(v.conn.state).toBe('CLOSED');
  });
});

group('resetFor (RFC 9293 §3.10.7.1)', () => {
  it('with ACK: <SEQ=SEG.ACK><CTL=RST>', () => {
    expect(resetFor(seg({ seq: 10, ack: 99, payload: 'abc' }))).toMatchObject({
      control: 'rst',
      seq: 99,
      ack: null,
      srcPort: 49152,
      dstPort: 80,
    });
  });
  it('without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN count', () => {
    expect(resetFor(seg({ control: 'syn', seq: 0xffffffff }))).toMatchObject({ seq: 0, ack: 0 });
    expect(resetFor(seg({ control: 'fin', seq: 10, payload: 'abc' }))).toMatchObject({ ack: 14 });
  });
  it('never answers an RST', () => {
    expect(resetFor(seg({ control: 'rst', seq: 1 }))).toBeNull();
  });
});
