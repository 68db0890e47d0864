/**
 * Why three steps: RFC 9293 §3.5's scenarios replayed with two real stacks in virtual time
 * (src/apps/lessons/handshake.ts), checked segment by segment as the server's capture shows them
 * and by what the server's application saw. docs/handshake.md explains them; scripts/
 * handshake-demo.ts writes the same runs as pcap files for `tunstack ladder`.
 */
import { describe, expect, it } from 'vitest';
import {
  CLIENT_PORT,
  FRESH_REQUEST,
  halfOpenDiscovery,
  LESSON_PORT,
  oldDuplicateSyn,
  STALE_REQUEST,
} from '../../src/apps/lessons/handshake.ts';
import { rfcLine as line } from '../../src/apps/lessons/sim.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

const states = (h: { state: string }[]) => h.map((c) => c.state);

describe('RFC 9293 Figure 8: recovery from an old duplicate SYN', () => {
  it('the old SYN is answered, reset by the client, and forgotten; the real SYN then opens', async () => {
    const run = await oldDuplicateSyn();
    const { clientIss: c, oldIss: old } = run;
    expect(old).toBe(seqAdd(c, -10));
    const segs = run.segments;
    for (const s of segs) {
      expect(s.tcp.srcPort === CLIENT_PORT || s.tcp.dstPort === CLIENT_PORT).toBe(true);
    }
    const server1 = segs[1].tcp.seq; // the server's ISN for the old SYN's connection
    const server2 = segs[4].tcp.seq; // and for the real one
    expect(segs.slice(0, 6).map(line)).toEqual([
      // 3. The old duplicate arrives (with the stale data it carried).
      `--> <SEQ=${old}><CTL=SYN> len=${STALE_REQUEST.length}`,
      // 4. The server cannot tell it is old: it answers. The ACK covers the SYN only.
      `<-- <SEQ=${server1}><ACK=${seqAdd(old, 1)}><CTL=SYN,ACK>`,
      // 5. The client's SYN was ISN c: this acknowledges c-9, not c+1, so it resets: SEQ=SEG.ACK.
      `--> <SEQ=${seqAdd(old, 1)}><CTL=RST>`,
      // 6-8. The real SYN, the server's answer to it, and the third step.
      `--> <SEQ=${c}><CTL=SYN>`,
      `<-- <SEQ=${server2}><ACK=${seqAdd(c, 1)}><CTL=SYN,ACK>`,
      `--> <SEQ=${seqAdd(c, 1)}><ACK=${seqAdd(server2, 1)}><CTL=ACK>`,
    ]);
    // A fresh ISN for the second attempt (RFC 6528: the clock moved on).
    expect(server2).not.toBe(server1);
  });

  it('the server never treats the old SYN as a connection: no accept, no data, back to LISTEN', async () => {
    const run = await oldDuplicateSyn();
    const [afterOldSyn, afterRst, established, closed] = run.checkpoints;
    // After the old SYN: a half-made connection in SYN_RECEIVED, nothing for the application.
    // A two-step open would be ESTABLISHED here and would have handed STALE_REQUEST to it.
    const embryo = afterOldSyn.server.filter((r) => r.state !== 'LISTEN');
    expect(embryo.map((r) => r.state)).toEqual(['SYN_RECEIVED']);
    expect(embryo[0].bytesReceived).toBe(0);
    expect(afterOldSyn.accepted).toBe(0);
    // After the client's reset: the listener alone, as before the old SYN.
    expect(afterRst.server.map((r) => r.state)).toEqual(['LISTEN']);
    expect(afterRst.accepted).toBe(0);
    expect(run.gone[0].history.map((h) => [h.state, h.at])).toEqual([
      ['SYN_RECEIVED', 0],
      ['CLOSED', 2], // one round trip: SYN-ACK out, RST back
    ]);
    // The real connection: one accept, and only the fresh request is ever read.
    expect(established.accepted).toBe(1);
    expect(established.server.find((r) => r.state === 'ESTABLISHED')?.remote).toBe(
      `10.0.0.1:${CLIENT_PORT}`,
    );
    expect(closed.accepted).toBe(1);
    expect(run.accepted).toBe(1);
    expect(run.received).toBe(FRESH_REQUEST);
    expect(run.received).not.toContain(STALE_REQUEST);
    expect(run.serverErrors).toEqual([]);
    expect(run.clientConnected).toBe(true);
    expect(run.clientErrors).toEqual([]);
    expect(states(run.gone[1].history)).toEqual([
      'SYN_RECEIVED',
      'ESTABLISHED',
      'CLOSE_WAIT',
      'LAST_ACK',
      'CLOSED',
    ]);
  });

  it('holds for any one-way delay', async () => {
    for (const delayMs of [0.25, 5, 40]) {
      const run = await oldDuplicateSyn({ delayMs });
      expect(run.accepted, `delay ${delayMs}`).toBe(1);
      expect(run.received, `delay ${delayMs}`).toBe(FRESH_REQUEST);
      expect(run.gone[0].history.at(-1)?.at, `delay ${delayMs}`).toBe(2 * delayMs);
    }
  });
});

describe('RFC 9293 Figure 10: the active side discovers a half-open connection', () => {
  it('a crashed client reopening from the same port resets the stale connection, then opens', async () => {
    const run = await halfOpenDiscovery();
    const segs = run.segments;
    // Find the rebooted client's SYN and read the exchange from there.
    const i = segs.findIndex((s) => s.tcp.control === 'syn' && s.tcp.seq === run.secondIss);
    expect(i).toBeGreaterThan(0);
    const before = segs[i - 1].tcp; // the server's last word on the old connection
    const serverNxt = before.seq;
    const expected = before.ack ?? 0; // RCV.NXT of the stale connection
    expect(segs.slice(i, i + 5).map(line)).toEqual([
      // 2. SYN from the rebooted client, same ports, new ISN.
      `--> <SEQ=${run.secondIss}><CTL=SYN>`,
      // 3. The stale ESTABLISHED connection answers with what it expects (RFC 5961 §4).
      `<-- <SEQ=${serverNxt}><ACK=${expected}><CTL=ACK>`,
      // 4. That acknowledges nothing the client sent: reset, SEQ=SEG.ACK (§3.10.7.3).
      `--> <SEQ=${expected}><CTL=RST>`,
      // 6-7. After its retransmission timeout the client's SYN opens a new connection.
      `--> <SEQ=${run.secondIss}><CTL=SYN>`,
      expect.stringMatching(
        new RegExp(`^<-- <SEQ=\\d+><ACK=${seqAdd(run.secondIss, 1)}><CTL=SYN,ACK>$`),
      ),
    ]);
    // The server's application hears of the reset; the old connection goes at that moment.
    expect(run.serverErrors).toEqual(['ECONNRESET']);
    expect(states(run.gone[0].history)).toEqual(['SYN_RECEIVED', 'ESTABLISHED', 'CLOSED']);
    expect(run.checkpoints[1].server.map((r) => r.state)).toEqual(['LISTEN']);
    // The new connection: the client's first SYN was spent on discovery; one RTO later (1 s,
    // RFC 6298 §2.1) the retransmitted SYN succeeds.
    expect(run.secondConnected).toBe(true);
    expect(run.secondErrors).toEqual([]);
    expect(run.secondConnectMs).toBeGreaterThanOrEqual(1000);
    expect(run.secondConnectMs).toBeLessThan(1100);
    expect(run.accepted).toBe(2);
    expect(run.received).toBe('hello\nagain\n');
    expect(
      run.segments.every((s) => s.tcp.dstPort === LESSON_PORT || s.tcp.srcPort === LESSON_PORT),
    ).toBe(true);
  });
});
