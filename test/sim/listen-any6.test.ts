/**
 * The wildcard listener (TcpLayer.listenAny) and acceptAnyDestination over IPv6: a dual-stack
 * stack that accepts any destination holds a SYN to any IPv6 address until its owner decides,
 * answers from the address the client dialled, and lets go of the address ids (src/stack/addr6.ts)
 * once the SYN is decided and the connection gone. Two dual-stack stacks over a simulated wire,
 * in virtual time.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../src/api/index.ts';
import type { Ip6Datagram } from '../../src/ip/ipv6-input.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import type { HeldSyn } from '../../src/stack/held-syn.ts';
import type { TcpHandle } from '../../src/stack/tcp.ts';
import type { TcpEvent } from '../../src/tcp/events.ts';
import { UnreachCode } from '../../src/wire/icmp.ts';
import { formatIpv6 } from '../../src/wire/ipv6.ts';
import { runFor, runUntil } from './fixture.ts';

const FAR = 'fd09::1';

/** A client (fd00::1) and a relay's gateway (fd00::2) that takes every destination. */
function pair() {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const tcp = { isnSecret: new Uint8Array(16).fill(3) };
  const client = createStack({ link: la, address: '10.0.0.1', address6: 'fd00::1', clock, tcp });
  const gw = createStack({ link: lb, address: '10.0.0.2', address6: 'fd00::2', clock, tcp });
  const foreign: { protocol: number; dst: string }[] = [];
  gw.acceptAnyDestination({
    datagram: () => {},
    datagram6: (d: Ip6Datagram) => foreign.push({ protocol: d.protocol, dst: formatIpv6(d.dst) }),
  });
  const held: HeldSyn<TcpHandle>[] = [];
  expect(gw.tcp.listenAny({ syn: (s) => held.push(s) })).toBe(true);
  return { clock, client, gw, held, foreign, any: gw.tcp.stats.any };
}

describe('listenAny over IPv6', () => {
  it('holds a SYN to another IPv6 address, accepts it from that address, and frees its ids after', async () => {
    const { clock, client, gw, held } = pair();
    const sock = client.net.connect(80, FAR);
    await runUntil(clock, () => held.length === 1, 5_000, 'the SYN held');
    const s = held[0];
    expect(gw.tcp.formatAddr(s.localAddr)).toBe(FAR);
    expect(gw.tcp.formatAddr(s.remoteAddr)).toBe('fd00::1');
    expect(s.localPort).toBe(80);
    // Held: the two ids stay (the client's and the dialled one's).
    expect(gw.tcp.ipv6Peers).toBe(2);
    const got: string[] = [];
    const h = s.accept({
      tcpEvent: (hh: TcpHandle, e: TcpEvent) => {
        if (e.type === 'data') {
          got.push(Buffer.from(e.data).toString());
          hh.send(Buffer.from('pong'));
        }
        if (e.type === 'fin') hh.shutdown();
      },
    });
    expect(h).not.toBeNull();
    const reply: Buffer[] = [];
    sock.on('data', (d: Buffer) => reply.push(d));
    sock.on('connect', () => sock.end('ping'));
    let closed = false;
    sock.on('close', () => {
      closed = true;
    });
    await runUntil(clock, () => closed, 30_000, 'client closed');
    expect(got.join('')).toBe('ping');
    expect(Buffer.concat(reply).toString()).toBe('pong');
    expect([sock.remoteAddress, sock.remoteFamily]).toEqual([FAR, 'IPv6']);
    // The relayed connection answers as [fd09::1]:80 in the table (ss).
    expect(gw.connections().some((r) => r.local === `[${FAR}]:80`)).toBe(true);
    // Once it has left the table (TIME_WAIT on whichever side closed first), no id is held.
    await runUntil(
      clock,
      () => gw.connections().length === 0 && client.connections().length === 0,
      300_000,
      'connections gone',
    );
    expect(gw.tcp.ipv6Peers).toBe(0);
    await client.close();
    await gw.close();
  });

  it('refuse: the client hears a RST from the dialled address (ECONNREFUSED)', async () => {
    const { clock, client, gw, held, any } = pair();
    const sock = client.net.connect(9, FAR);
    const err = new Promise<string>((resolve) =>
      sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    await runUntil(clock, () => held.length === 1, 5_000, 'the SYN held');
    held[0].refuse();
    expect(await runFor(clock, err)).toBe('ECONNREFUSED');
    expect(any.refused).toBe(1);
    expect(gw.tcp.ipv6Peers).toBe(0);
    await client.close();
    await gw.close();
  });

  it('unreachable: ICMPv6 destination unreachable from the gateway, a valid message', async () => {
    const { clock, client, gw, held, any } = pair();
    const sock = client.net.connect(443, FAR);
    sock.on('error', () => {});
    await runUntil(clock, () => held.length === 1, 5_000, 'the SYN held');
    held[0].unreachable(UnreachCode.Host);
    await runUntil(
      clock,
      () => client.stats.icmp6.rxDestUnreachable === 1,
      5_000,
      'the ICMPv6 error at the client',
    );
    expect(gw.stats.icmp6.txDestUnreachable).toBe(1);
    expect(client.stats.icmp6.rxDestUnreachable).toBe(1);
    expect(any.unreachable).toBe(1);
    expect(gw.tcp.ipv6Peers).toBe(0);
    sock.destroy();
    await client.close();
    await gw.close();
  });

  it('a held SYN that expires lets go of its ids', async () => {
    const { clock, client, gw, held, any } = pair();
    const sock = client.net.connect(80, FAR);
    sock.on('error', () => {});
    await runUntil(clock, () => held.length === 1, 5_000, 'the SYN held');
    expect(gw.tcp.ipv6Peers).toBe(2);
    await runUntil(clock, () => any.expired === 1, 60_000, 'the SYN expired');
    expect(gw.tcp.ipv6Peers).toBe(0);
    sock.destroy();
    await client.close();
    await gw.close();
  });

  it('UDP and ICMPv6 to other addresses go to the handler; the stack does not answer them', async () => {
    const { clock, client, gw, foreign } = pair();
    const u = client.dgram.createSocket('udp6');
    u.send(Buffer.from('hi'), 53, FAR);
    client.sendEchoRequest6(FAR, 1, 1, new Uint8Array(8));
    await runUntil(clock, () => foreign.length === 2, 5_000, 'both datagrams');
    expect(foreign).toEqual([
      { protocol: 17, dst: FAR },
      { protocol: 58, dst: FAR },
    ]);
    expect(gw.stats.icmp6.txEchoReplies).toBe(0);
    expect(gw.stats.icmp6.txDestUnreachable).toBe(0);
    // Its own address is still its own: echo answered.
    client.sendEchoRequest6('fd00::2', 1, 2, new Uint8Array(8));
    await runUntil(clock, () => gw.stats.icmp6.txEchoReplies === 1, 5_000, 'echo reply');
    u.close();
    await client.close();
    await gw.close();
  });
});
