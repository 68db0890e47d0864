import { expect, describe as group, it } from 'vitest';
import { TcpConnection } from '../../../src/tcp/conn.ts';
import { windowShiftFor } from '../../../src/tcp/handshake.ts';
import {
  expectOut,
  feed,
  LOCAL_ISS,
  l,
  PLAIN,
  REMOTE_ISS,
  r,
  seg,
  synSent,
  TUPLE,
} from './helpers.ts';

group('window scale (RFC 7323 §2)', () => {
  it('picks the smallest shift that fits the buffer', () => {
    expect(windowShiftFor(65535)).toBe(0);
    expect(windowShiftFor(65536)).toBe(1);
    expect(windowShiftFor(1 << 20)).toBe(5);
    expect(windowShiftFor(2 ** 40)).toBe(14);
  });

  it('scales both ways when both SYNs carry it; SYN windows are unscaled', () => {
    const c = synSent({ windowScale: true, rcvBuf: 1 << 20 });
    feed(c, 10, {
      control: 'syn',
      seq: REMOTE_ISS,
      ack: l(1),
      window: 1000,
      options: { mss: 1000, windowScale: 7 },
    });
    expect(c.snapshot()).toMatchObject({ sndShift: 7, rcvShift: 5, sndWnd: 1000 });
    // Our ACK advertises 1 MiB >> 5.
    expectOut(c, 10, [{ ack: r(1), window: (1 << 20) >> 5 }]);
    feed(c, 20, { seq: r(1), ack: l(1), window: 1000 });
    expect(c.sndWnd).toBe(1000 << 7);
  });

  it('the SYN offers our shift, capped window in the SYN itself', () => {
    const c = TcpConnection.connect(TUPLE, LOCAL_ISS, 0, {
      ...PLAIN,
      windowScale: true,
      rcvBuf: 1 << 20,
    });
    expectOut(c, 0, [{ control: 'syn', window: 65535, options: { windowScale: 5 } }]);
  });

  it('no scaling when the peer does not offer it', () => {
    const c = synSent({ windowScale: true, rcvBuf: 1 << 20 });
    feed(c, 10, {
      control: 'syn',
      seq: REMOTE_ISS,
      ack: l(1),
      window: 1000,
      options: { mss: 1000 },
    });
    expect(c.snapshot()).toMatchObject({ sndShift: 0, rcvShift: 0 });
    expectOut(c, 10, [{ window: 65535 }]);
  });

  it('a shift above 14 is taken as 14', () => {
    const c = synSent({ windowScale: true });
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { windowScale: 20 } });
    expect(c.snapshot().sndShift).toBe(14);
  });

  it('passive open answers window scale only when offered', () => {
    const offered = TcpConnection.accept(
      TUPLE,
      LOCAL_ISS,
      0,
      seg({ control: 'syn', seq: REMOTE_ISS, options: { windowScale: 2 } }),
      { ...PLAIN, windowScale: true },
    );
    expectOut(offered, 0, [{ control: 'syn', options: { windowScale: 0 } }]);
    const plain = TcpConnection.accept(
      TUPLE,
      LOCAL_ISS,
      0,
      seg({ control: 'syn', seq: REMOTE_ISS }),
      { ...PLAIN, windowScale: true },
    );
    expectOut(plain, 0, [{ control: 'syn', options: { windowScale: null, mss: 1000 } }]);
  });
});

group('MSS (RFC 9293 §3.7.1)', () => {
  const smssFor = (mss: number | null) => {
    const c = synSent();
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1), options: { mss } });
    return c.snapshot().smss;
  };
  it('takes the smaller of the two, 536 without the option', () => {
    expect(smssFor(800)).toBe(800);
    expect(smssFor(9000)).toBe(1000);
    expect(smssFor(null)).toBe(536);
  });
  it('ignores an MSS of 0 and never goes below 48 (Linux tcp_min_snd_mss): one byte per segment is an attack', () => {
    expect(smssFor(0)).toBe(536);
    expect(smssFor(1)).toBe(48);
    expect(smssFor(47)).toBe(48);
    expect(smssFor(48)).toBe(48);
  });
});

group('timestamps (RFC 7323 §3–5)', () => {
  function tsEstablished() {
    const c = synSent({ timestamps: true });
    const syn = c.snapshot();
    expect(syn.timestamps).toBe(false);
    feed(c, 10, {
      control: 'syn',
      seq: REMOTE_ISS,
      ack: l(1),
      options: { mss: 1000, timestamp: { tsVal: 5000, tsEcr: LOCAL_ISS } },
    });
    return c;
  }

  it('negotiates, echoes TS.Recent and measures RTT from TSecr', () => {
    const c = tsEstablished();
    expect(c.snapshot()).toMatchObject({ timestamps: true, srtt: 10 });
    const [ack] = expectOut(c, 10, [{ ack: r(1) }]);
    expect(ack.options.timestamp).toEqual({ tsVal: LOCAL_ISS + 10, tsEcr: 5000 });
    // Data sent at 20, retransmitted at 220; the ACK echoes the retransmission's TSval: RTT 5.
    c.send(new Uint8Array(1));
    expectOut(c, 20, [{ options: { timestamp: { tsVal: LOCAL_ISS + 20, tsEcr: 5000 } } }]);
    expectOut(c, 220, [{ seq: l(1) }]);
    feed(c, 225, {
      seq: r(1),
      ack: l(2),
      options: { timestamp: { tsVal: 5001, tsEcr: LOCAL_ISS + 220 } },
    });
    expect(c.snapshot().srtt).toBeCloseTo((7 / 8) * 10 + (1 / 8) * 5);
  });

  it('PAWS: a segment with an older TSval is ACKed and dropped', () => {
    const c = tsEstablished();
    expectOut(c, 10, [{ ack: r(1) }]);
    feed(c, 20, {
      seq: r(1),
      ack: l(1),
      payload: 'a',
      options: { timestamp: { tsVal: 6000, tsEcr: 0 } },
    });
    expect(c.rcvNxt).toBe(r(2));
    feed(c, 21, {
      seq: r(2),
      ack: l(1),
      payload: 'b',
      options: { timestamp: { tsVal: 5999, tsEcr: 0 } },
    });
    expect(c.rcvNxt).toBe(r(2));
    expect(c.snapshot().drops.paws).toBe(1);
    expectOut(c, 21, [{ ack: r(2) }]);
  });

  it('once negotiated, a segment without timestamps is dropped', () => {
    const c = tsEstablished();
    feed(c, 20, { seq: r(1), ack: l(1), payload: 'a' });
    expect(c.rcvNxt).toBe(r(1));
    expect(c.snapshot().drops['no-timestamp']).toBe(1);
  });

  it('data segments leave room for the option: payload = SMSS − 12', () => {
    const c = tsEstablished();
    c.send(new Uint8Array(3000));
    expectOut(c, 10, [{ payload: new Uint8Array(988) }, { seq: l(989) }, { seq: l(1977) }]);
    // The 36-byte tail waits for an ACK (Nagle).
    feed(c, 30, { seq: r(1), ack: l(2965), options: { timestamp: { tsVal: 5001, tsEcr: 0 } } });
    expectOut(c, 30, [{ seq: l(2965), payload: new Uint8Array(36) }]);
  });
});

group('SACK (RFC 2018)', () => {
  function sackEstablished() {
    const c = synSent({ sack: true });
    feed(c, 10, {
      control: 'syn',
      seq: REMOTE_ISS,
      ack: l(1),
      options: { mss: 1000, sackPermitted: true },
    });
    expectOut(c, 10, [{ ack: r(1) }]);
    return c;
  }
  it('offers SACK-permitted and reports out-of-order blocks, most recent first', () => {
    const c = sackEstablished();
    expect(c.snapshot().sack).toBe(true);
    feed(c, 20, { seq: r(11), ack: l(1), payload: 'bbbbb' });
    expectOut(c, 20, [{ ack: r(1), options: { sackBlocks: [{ left: r(11), right: r(16) }] } }]);
    feed(c, 21, { seq: r(21), ack: l(1), payload: 'ccccc' });
    expectOut(c, 21, [
      {
        ack: r(1),
        options: {
          sackBlocks: [
            { left: r(21), right: r(26) },
            { left: r(11), right: r(16) },
          ],
        },
      },
    ]);
    feed(c, 22, { seq: r(1), ack: l(1), payload: 'aaaaaaaaaa' });
    expectOut(c, 22, [{ ack: r(16), options: { sackBlocks: [{ left: r(21), right: r(26) }] } }]);
  });
  it('is off unless both offer it', () => {
    const c = synSent({ sack: true });
    feed(c, 10, { control: 'syn', seq: REMOTE_ISS, ack: l(1) });
    feed(c, 20, { seq: r(11), ack: l(1), payload: 'bbbbb' });
    expectOut(c, 20, [{ ack: r(1), options: { sackBlocks: [] } }]);
  });
});
