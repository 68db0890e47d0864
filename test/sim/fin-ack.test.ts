/**
 * A FIN's ACK leaves at the end of the turn (src/stack/tcp.ts, #serviceAfterTurn): a server that
 * ends its side when the peer's FIN arrives answers with one FIN+ACK, not a pure ACK and then a
 * FIN. A server that keeps its side open still ACKs the FIN in the same turn.
 */
import { describe, expect, it } from 'vitest';
import { IpProtocol } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { emitTcp, tcpSegmentLen } from '../../src/wire/tcp.ts';
import { parseTcpPacket } from '../../src/wire/tcp-packet.ts';
import type { TcpRepr } from '../../src/wire/tcp-repr.ts';
import { tcpSeg } from '../unit/stack/tcp-packets.ts';
import { CLIENT_ADDR, drainTasks, ipPacket, rawHost, SERVER_ADDR } from './fixture.ts';

/** A segment from the raw host to port 7, plain defaults (tcpSeg) under `fields`. */
const seg = (fields: Partial<TcpRepr>): TcpRepr => tcpSeg({ dstPort: 7, ...fields });

function tcpPacket(s: TcpRepr): Uint8Array {
  const bytes = new Uint8Array(tcpSegmentLen(s));
  emitTcp(bytes, s, CLIENT_ADDR, SERVER_ADDR);
  return ipPacket(bytes, { protocol: IpProtocol.Tcp });
}

/**
 * An echo server on port 7 that ends its side when the peer ends (node:net's default) or, with
 * allowHalfOpen, keeps it open; a client that sends one request, then its FIN. Returns what the
 * stack answers the FIN with, once the turn's nextTicks, microtasks and immediates have run.
 */
async function echoThenFin(allowHalfOpen: boolean): Promise<TcpRepr[]> {
  const { clock, stack, send, received } = rawHost();
  stack.net
    .createServer({ allowHalfOpen }, (s) => {
      s.on('data', (d: Buffer) => s.write(d));
    })
    .listen(7);
  const replies = async (): Promise<TcpRepr[]> => {
    clock.advance(0);
    await drainTasks();
    clock.advance(0);
    const out: TcpRepr[] = [];
    for (const p of received.splice(0)) {
      const d = parseTcpPacket(p);
      if (d instanceof ParseError) throw new Error(`bad packet from the stack: ${d.reason}`);
      out.push(d.tcp);
    }
    return out;
  };
  send(tcpPacket(seg({ control: 'syn', seq: 999 })));
  const [synAck] = await replies();
  expect(synAck).toMatchObject({ control: 'syn', ack: 1000 });
  const iss = synAck.seq;
  const request = new Uint8Array([1, 2, 3, 4]);
  send(tcpPacket(seg({ ack: (iss + 1) >>> 0 })));
  send(tcpPacket(seg({ ack: (iss + 1) >>> 0, psh: true, payload: request })));
  const [echo, ...more] = await replies();
  expect(more).toEqual([]);
  expect(echo).toMatchObject({ seq: (iss + 1) >>> 0, ack: 1004 });
  expect([...echo.payload]).toEqual([1, 2, 3, 4]);
  send(tcpPacket(seg({ control: 'fin', seq: 1004, ack: (iss + 5) >>> 0 })));
  return replies();
}

describe("the ACK of a peer's FIN", () => {
  it('rides on our FIN when the owner ends its side in the same turn: one segment', async () => {
    const answer = await echoThenFin(false);
    expect(answer).toHaveLength(1);
    expect(answer[0]).toMatchObject({ control: 'fin', ack: 1005 });
  });

  it('still goes in the same turn when the owner keeps its side open', async () => {
    const answer = await echoThenFin(true);
    expect(answer).toHaveLength(1);
    expect(answer[0]).toMatchObject({ control: 'none', ack: 1005 });
  });
});
