/**
 * ICMP destination unreachables for TCP beside path MTU discovery (src/stack/tcp.ts, as Linux's
 * tcp_v4_err): a hard one (port unreachable) ends an open in SYN_SENT at once; a soft one (host
 * unreachable) lets it keep trying, and its timeout then reports EHOSTUNREACH, not ETIMEDOUT;
 * one quoting a sequence number we never sent is dropped (RFC 5927).
 */
import { describe, expect, it } from 'vitest';
import type { TcpHandle, TcpOwner } from '../../../src/stack/tcp.ts';
import type { TcpEvent } from '../../../src/tcp/events.ts';
import { put32 } from '../../../src/wire/bytes.ts';
import { emitIcmp } from '../../../src/wire/icmp.ts';
import { PEER, packet, US } from '../ip/helpers.ts';
import { dualStack, HOST6, icmp6Packet } from './dual-stack.ts';
import { sentSegment, tcpPacket, tcpSeg } from './tcp-packets.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

async function syn(v6 = false) {
  const { link, clock, stack } = dualStack({ tcp: { conn: { synRetries: 2, maxRetries: 2 } } });
  const events: TcpEvent['type'][] = [];
  const errors: string[] = [];
  const owner: TcpOwner = {
    tcpEvent: (_h, e) => {
      events.push(e.type);
      if (e.type === 'error') errors.push(e.code);
    },
  };
  const h = (
    v6 ? stack.tcp.connect6(HOST6, 80, owner) : stack.tcp.connect(PEER, 80, owner)
  ) as TcpHandle;
  await tick();
  expect(link.sent).toHaveLength(1);
  const sent = link.sent[0];
  link.sent = [];
  return { link, clock, stack, h, sent, events, errors };
}

/** An ICMP destination unreachable with `code` quoting `pkt` (IP header and 8 bytes). */
function unreachable(pkt: Uint8Array, code: number, edit?: (q: Uint8Array) => void): Uint8Array {
  const quote = pkt.slice(0, 28);
  edit?.(quote);
  const msg = new Uint8Array(8 + quote.length);
  emitIcmp(msg, { kind: 'dest-unreachable', code, nextHopMtu: 0, data: quote });
  return packet(msg, { src: PEER, dst: US, protocol: 1 });
}

function unreachable6(pkt: Uint8Array, code: number): Uint8Array {
  return icmp6Packet({ kind: 'dest-unreachable', code, data: pkt }, HOST6);
}

describe('TCP and ICMP destination unreachables', () => {
  it('port unreachable (hard) ends an open in SYN_SENT with ECONNREFUSED at once', async () => {
    const { link, stack, h, sent, errors } = await syn();
    link.deliver(unreachable(sent, 3));
    expect(h.state).toBe('CLOSED');
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(stack.tcp.stats).toMatchObject({ icmpAccepted: 1, icmpHardErrors: 1 });
  });

  it('host unreachable (soft) lets SYN_SENT retry; its timeout reports EHOSTUNREACH', async () => {
    const { link, clock, stack, h, sent, errors } = await syn();
    link.deliver(unreachable(sent, 1));
    expect(h.state).toBe('SYN_SENT');
    expect(stack.tcp.stats.icmpSoftErrors).toBe(1);
    for (let i = 0; i < 20 && h.state !== 'CLOSED'; i++) {
      clock.advance(1000);
      await tick();
    }
    expect(link.sent.length).toBe(2); // the SYN went twice more (synRetries 2)
    expect(errors).toEqual(['EHOSTUNREACH']);
  });

  it('without an ICMP error the same timeout is ETIMEDOUT', async () => {
    const { clock, h, errors } = await syn();
    for (let i = 0; i < 20 && h.state !== 'CLOSED'; i++) {
      clock.advance(1000);
      await tick();
    }
    expect(errors).toEqual(['ETIMEDOUT']);
  });

  it('a soft error is forgotten once the path works: a later timeout is ETIMEDOUT', async () => {
    const { link, clock, stack, h, sent, errors } = await syn();
    link.deliver(unreachable(sent, 1));
    expect(stack.tcp.stats.icmpSoftErrors).toBe(1);
    const ours = sentSegment(sent);
    const synAck = tcpSeg({
      srcPort: 80,
      dstPort: ours.srcPort,
      control: 'syn',
      seq: 7000,
      ack: ours.seq + 1,
    });
    link.deliver(tcpPacket(synAck, PEER, US));
    expect(h.state).toBe('ESTABLISHED');
    h.send(new Uint8Array(100));
    for (let i = 0; i < 200 && h.state !== 'CLOSED'; i++) {
      clock.advance(1000);
      await tick();
    }
    expect(errors).toEqual(['ETIMEDOUT']);
  });

  it('an unreachable quoting a sequence number we never sent is dropped', async () => {
    const { link, stack, h, sent, errors } = await syn();
    link.deliver(unreachable(sent, 3, (q) => put32(q, 24, 12345)));
    expect(h.state).toBe('SYN_SENT');
    expect(errors).toEqual([]);
    expect(stack.tcp.stats).toMatchObject({ icmpOutOfWindow: 1, icmpHardErrors: 0 });
  });

  it('IPv6: port unreachable (code 4) refuses, address unreachable (code 3) is soft', async () => {
    const a = await syn(true);
    a.link.deliver(unreachable6(a.sent, 4));
    expect(a.errors).toEqual(['ECONNREFUSED']);
    const b = await syn(true);
    b.link.deliver(unreachable6(b.sent, 3));
    expect(b.h.state).toBe('SYN_SENT');
    expect(b.stack.tcp.stats.icmpSoftErrors).toBe(1);
  });
});
