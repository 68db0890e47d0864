/**
 * Segments that reach no connection (RFC 9293 §3.10.7.1): every one that is not itself a RST is
 * answered with a RST — nmap's FIN, NULL and Xmas probes included, which is how a scanner tells a
 * closed port from an open one — and those RSTs are rate-limited.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { PEER, US } from '../ip/helpers.ts';
import { RecordingLink } from './recording-link.ts';
import { sentSegment, tcpPacket, tcpSeg } from './tcp-packets.ts';

function setup(resetsPerSecond?: number) {
  const link = new RecordingLink();
  const clock = new VirtualClock();
  const stack = createStack({ link, address: '10.0.0.2', clock, tcp: { resetsPerSecond } });
  stack.net.createServer(() => {}).listen(80);
  const send = (s: Partial<TcpRepr>) => link.deliver(tcpPacket(tcpSeg(s), PEER, US));
  return { link, clock, stack, send };
}

const probes: [string, Partial<TcpRepr>][] = [
  ['FIN', { control: 'fin' }],
  ['NULL', { control: 'none' }],
  ['Xmas (FIN+PSH+URG)', { control: 'fin', psh: true, urg: true, urgentPointer: 7 }],
];

describe('a closed port', () => {
  for (const [name, probe] of probes) {
    it(`answers a ${name} probe with <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, () => {
      const { link, stack, send } = setup();
      send({ ...probe, dstPort: 81, seq: 5000 });
      expect(link.sent.length).toBe(1);
      const rst = sentSegment(link.sent[0]);
      const len = probe.control === 'fin' ? 1 : 0;
      expect(rst).toMatchObject({ control: 'rst', seq: 0, ack: 5000 + len, srcPort: 81 });
      expect(stack.tcp.stats.resetsSent).toBe(1);
    });
  }

  it('answers a segment with ACK with <SEQ=SEG.ACK><CTL=RST>', () => {
    const { link, send } = setup();
    send({ control: 'none', dstPort: 81, seq: 5000, ack: 777 });
    expect(sentSegment(link.sent[0])).toMatchObject({ control: 'rst', seq: 777, ack: null });
  });

  it('never answers a RST', () => {
    const { link, send } = setup();
    send({ control: 'rst', dstPort: 81 });
    send({ control: 'rst', dstPort: 81, ack: 5 });
    expect(link.sent.length).toBe(0);
  });

  it('rate-limits its RSTs (resetsPerSecond, burst as large), counting what it holds back', () => {
    const { link, clock, stack, send } = setup(100);
    for (let i = 0; i < 150; i++) send({ control: 'none', dstPort: 81, ack: i });
    expect(link.sent.length).toBe(100);
    expect(stack.tcp.stats.resetsRateLimited).toBe(50);
    clock.advance(100); // 10 tokens back
    for (let i = 0; i < 20; i++) send({ control: 'none', dstPort: 81, ack: i });
    expect(link.sent.length).toBe(110);
    expect(stack.tcp.stats.resetsRateLimited).toBe(60);
  });
});

describe('a listening port and a connection', () => {
  for (const [name, probe] of probes) {
    it(`drop a ${name} probe without answering, as Linux does`, () => {
      const { link, stack, send } = setup();
      send({ ...probe, dstPort: 80 });
      expect(link.sent.length).toBe(0);
      expect(stack.tcp.stats.listenerDrops['no-syn']).toBe(1);
    });
  }
});
