/**
 * Full and half duplex, from the stack's own captures (src/apps/lessons/duplex.ts; docs/
 * duplex.md): an echo client streaming both ways at once on one connection, beside an HTTP
 * request and response that take turns. Counted at the server, segment by segment.
 */
import { describe, expect, it } from 'vitest';
import { duplexStats, echoDuplex, httpExchange } from '../../src/apps/lessons/duplex.ts';
import type { CapturedSegment } from '../../src/apps/lessons/sim.ts';
import { NO_OPTIONS, type TcpRepr } from '../../src/wire/tcp-repr.ts';

describe('full duplex: the echo service', () => {
  it('carries data both ways at once, each direction acknowledging the other on its data', async () => {
    const run = await echoDuplex();
    expect(run.received).toBe(run.sent);
    const { stats } = run;
    expect(stats.bytesIn).toBe(run.sent);
    expect(stats.bytesOut).toBe(run.sent);
    // Data changes direction again and again: both streams are flowing.
    expect(stats.turns).toBeGreaterThanOrEqual(8);
    // Echoed data leaves the server while the client is still sending (before its FIN).
    const finAt = run.segments.findIndex((s) => s.dir === 'in' && s.tcp.control === 'fin');
    const echoedBeforeFin = run.segments
      .slice(0, finAt)
      .filter((s) => s.dir === 'out' && s.tcp.payload.length > 0).length;
    expect(echoedBeforeFin).toBeGreaterThanOrEqual(3);
    // Piggybacking: data segments that acknowledge new data of the other direction, each way.
    expect(stats.piggybackedIn).toBeGreaterThan(0);
    expect(stats.piggybackedOut).toBeGreaterThan(0);
    // So few acknowledgments need a segment of their own.
    expect(stats.pureAcksIn + stats.pureAcksOut).toBeLessThan(stats.dataIn + stats.dataOut);
  });
});

describe('half duplex in practice: one HTTP request and response', () => {
  it('the client talks, then the server: data changes direction once', async () => {
    const run = await httpExchange({ bodyBytes: 4000 });
    const { stats } = run;
    expect(stats.turns).toBe(1);
    expect(stats.dataIn).toBe(1); // the request, one segment
    expect(stats.bytesIn).toBe(run.sent);
    expect(stats.bytesOut).toBe(run.received);
    expect(stats.dataOut).toBeGreaterThanOrEqual(3); // 4000 bytes of body and the head
    // Every inbound data segment comes before every outbound one.
    const data = run.segments.filter((s) => s.tcp.payload.length > 0).map((s) => s.dir);
    expect(data.join(',')).toMatch(/^(in,)+out(,out)*$/);
  });
});

describe('duplexStats', () => {
  const seg = (
    dir: 'in' | 'out',
    seq: number,
    ack: number | null,
    len: number,
    control: TcpRepr['control'] = 'none',
  ): CapturedSegment => ({
    at: 0,
    dir,
    src: 0,
    dst: 0,
    tcp: {
      srcPort: 1,
      dstPort: 2,
      control,
      psh: false,
      urg: false,
      ece: false,
      cwr: false,
      seq,
      ack,
      window: 1000,
      urgentPointer: 0,
      options: NO_OPTIONS,
      payload: new Uint8Array(len),
    },
  });

  it('counts a data segment as piggybacked only when its ACK is new, across the wrap', () => {
    const s = duplexStats([
      seg('out', 9, 0xffff_fff0, 0, 'syn'), // the SYN-ACK: the server's first ACK
      seg('in', 0xffff_fff0, 10, 100), // the client's first ACK: nothing to compare, not new
      seg('out', 10, 0x54, 50), // acknowledges the client's 100 bytes, across the wrap: new
      seg('in', 0x54, 10, 100), // same ACK as before: not new
      seg('in', 0xb8, 60, 0), // a pure ACK
      seg('out', 60, 0xb8, 50), // acknowledges 100 more: new
      seg('in', 0xb8, 110, 0, 'fin'),
    ]);
    expect(s).toEqual({
      dataIn: 2,
      dataOut: 2,
      piggybackedIn: 0,
      piggybackedOut: 2,
      pureAcksIn: 1,
      pureAcksOut: 0,
      turns: 3,
      bytesIn: 200,
      bytesOut: 100,
    });
  });
});
