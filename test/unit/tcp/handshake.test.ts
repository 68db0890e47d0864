import { expect, describe as group, it } from 'vitest';
import { TcpConnection } from '../../../src/tcp/conn.ts';
import {
  established,
  expectOut,
  feed,
  LOCAL_ISS,
  l,
  PLAIN,
  REMOTE_ISS,
  r,
  seg,
  synReceived,
  synSent,
  TUPLE,
} from './helpers.ts';

group('active open', () => {
  it('sends SYN with our MSS and reaches ESTABLISHED on SYN-ACK', () => {
    const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, PLAIN);
    expect(c.state).toBe('SYN_SENT');
    expectOut(c, 0, [{ control: 'syn', seq: LOCAL_ISS, ack: null, options: { mss: 1000 } }]);
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss: 500 } });
    expect(c.state).toBe('ESTABLISHED');
    expectOut(c, 10, [{ control: 'none', seq: l(1), ack: r(1) }]);
    expect(c.takeEvents()).toEqual([{ type: 'connected' }]);
    const s = c.snapshot();
    expect(s.smss).toBe(500);
    expect(s.irs).toBe(REMOTE_ISS);
    expect(s.sndUna).toBe(l(1));
    expect(s.srtt).toBe(10);
    expect(c.pollAt()).toBeNull();
  });

  it('retransmits the SYN with exponential backoff, then fails with ETIMEDOUT', () => {
    const c = synSent({ synRetries: 2 });
    expect(c.pollAt()).toBe(1000);
    expectOut(c, 999, []);
    expectOut(c, 1000, [{ control: 'syn', seq: LOCAL_ISS }]);
    expect(c.pollAt()).toBe(3000);
    expectOut(c, 3000, [{ control: 'syn', seq: LOCAL_ISS }]);
    expect(c.pollAt()).toBe(7000);
    expectOut(c, 7000, []);
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' }]);
    expect(c.pollAt()).toBeNull();
  });

  it('RST with an acceptable ACK in SYN_SENT is ECONNREFUSED', () => {
    const c = synSent();
    feed(c, 5, { control: 'rst', seq: 0, ack: l(1) });
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'error', code: 'ECONNREFUSED' }, { type: 'closed' }]);
    expectOut(c, 5, []);
  });

  it('RST without ACK in SYN_SENT is ignored (RFC 5961 §3)', () => {
    const c = synSent();
    feed(c, 5, { control: 'rst', seq: 12345 });
    expect(c.state).toBe('SYN_SENT');
  });

  it('an unacceptable ACK in SYN_SENT gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const c = synSent();
    feed(c, 5, { control: 'syn', seq: REMOTE_ISS, ack: l(5) });
    expect(c.state).toBe('SYN_SENT');
    expectOut(c, 5, [{ control: 'rst', seq: l(5), ack: null }]);
  });

  it('defaults the peer MSS to 536 when absent', () => {
    const c = synSent();
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1) });
    expect(c.snapshot().smss).toBe(536);
  });
});

group('passive open', () => {
  it('SYN_RECEIVED goes to ESTABLISHED on the ACK of our SYN', () => {
    const c = synReceived();
    expect(c.state).toBe('SYN_RECEIVED');
    feed(c, 10, { seq: r(1), ack: l(1) });
    expect(c.state).toBe('ESTABLISHED');
    expect(c.takeEvents()).toEqual([{ type: 'connected' }]);
    expectOut(c, 10, []);
  });

  it('retransmits the SYN-ACK when the SYN is retransmitted', () => {
    const c = synReceived();
    feed(c, 300, { control: 'syn', seq: REMOTE_ISS });
    expectOut(c, 300, [{ control: 'syn', seq: LOCAL_ISS, ack: r(1) }]);
  });

  it('a bad ACK in SYN_RECEIVED gets a reset', () => {
    const c = synReceived();
    feed(c, 10, { seq: r(1), ack: l(7) });
    expect(c.state).toBe('SYN_RECEIVED');
    expectOut(c, 10, [{ control: 'rst', seq: l(7) }]);
  });

  it('RST in SYN_RECEIVED (passive) closes quietly', () => {
    const c = synReceived();
    feed(c, 10, { control: 'rst', seq: r(1) });
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'closed' }]);
  });
});

group('simultaneous open', () => {
  it('SYN in SYN_SENT leads to SYN_RECEIVED, a SYN-ACK, then ESTABLISHED', () => {
    const c = synSent();
    feed(c, 5, { control: 'syn', seq: REMOTE_ISS, options: { mss: 1000 } });
    expect(c.state).toBe('SYN_RECEIVED');
    expectOut(c, 5, [{ control: 'syn', seq: LOCAL_ISS, ack: r(1) }]);
    // The peer's SYN-ACK: its SYN is old now, so it is not acceptable; we answer with an ACK.
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1) });
    expectOut(c, 10, [{ control: 'none', seq: l(1), ack: r(1) }]);
    feed(c, 11, { seq: r(1), ack: l(1) });
    expect(c.state).toBe('ESTABLISHED');
  });
});

group('established fixture', () => {
  it('leaves no deadline', () => {
    const c = established();
    expect(c.pollAt()).toBeNull();
    expect(seg({}).payload.length).toBe(0);
  });
});

group('closing before the handshake completes (RFC 9293 §3.10.4)', () => {
  it('close in SYN_SENT deletes the connection without a segment', () => {
    const c = synSent();
    c.close();
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'closed' }]);
    expectOut(c, 5, []);
    expect(c.pollAt()).toBeNull();
  });

  it('shutdown in SYN_SENT: FIN follows the handshake and the queued data', () => {
    const c = synSent();
    c.send(new Uint8Array([7, 7]));
    c.shutdown();
    expect(c.state).toBe('SYN_SENT');
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss: 1000 } });
    expect(c.state).toBe('FIN_WAIT_1');
    expectOut(c, 10, [{ control: 'fin', seq: l(1), ack: r(1), payload: new Uint8Array([7, 7]) }]);
  });

  it('close in SYN_RECEIVED: FIN_WAIT_1 once the handshake completes', () => {
    const c = synReceived();
    c.close();
    expect(c.state).toBe('SYN_RECEIVED');
    feed(c, 10, { seq: r(1), ack: l(1) });
    expect(c.state).toBe('FIN_WAIT_1');
    expectOut(c, 10, [{ control: 'fin', seq: l(1) }]);
  });

  it('abort in SYN_RECEIVED sends RST', () => {
    const c = synReceived();
    c.abort();
    expectOut(c, 5, [{ control: 'rst', seq: l(1) }]);
  });

  it('SYN-ACK retransmission in SYN_RECEIVED, then the listener gives up quietly', () => {
    const c = synReceived({ synRetries: 1 });
    expect(c.pollAt()).toBe(1000);
    expectOut(c, 1000, [{ control: 'syn', seq: LOCAL_ISS, ack: r(1) }]);
    expectOut(c, 3000, []);
    expect(c.state).toBe('CLOSED');
    expect(c.takeEvents()).toEqual([{ type: 'closed' }]);
  });

  it('data on the SYN-ACK is delivered', () => {
    const c = synSent();
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), payload: 'early' });
    const ev = c.takeEvents();
    expect(ev[0]).toEqual({ type: 'connected' });
    expect(ev[1].type).toBe('data');
    expect(c.rcvNxt).toBe(r(6));
  });
});
