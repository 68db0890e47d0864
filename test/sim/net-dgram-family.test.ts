/**
 * stack.dgram per address family, as Node 20 on Linux has it (each expectation first read off
 * real node:dgram on loopback, docs/ipv6.md "The API per family"): `ipv6Only` udp6 sockets, one
 * socket per family on a port, what bind() makes of each address, address() before and after
 * connect, and the errors of sending across families. Two dual-stack stacks over a simulated
 * wire, in virtual time.
 */
import { describe, expect, it } from 'vitest';
import type { RemoteInfo, Socket, SocketOptions } from '../../src/api/dgram.ts';
import { createStack, type NetStack } from '../../src/api/index.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import { netPair, runFor, settle } from './fixture.ts';

/** Two dual-stack stacks on a simulated wire: client 10.0.0.1 / fd00::1, server 10.0.0.2 / fd00::2. */
const pair6 = () => netPair({ ipv6: true });

type BindResult = { socket: Socket; err: NodeJS.ErrnoException | null };

async function bind(
  clock: VirtualClock,
  stack: NetStack,
  type: SocketOptions,
  port: number,
  address?: string,
): Promise<BindResult> {
  const socket = stack.dgram.createSocket(type);
  const done = new Promise<BindResult>((resolve) => {
    socket.once('listening', () => resolve({ socket, err: null }));
    socket.once('error', (err) => resolve({ socket, err }));
  });
  socket.bind({ port, address });
  return runFor(clock, done);
}

/** Every datagram a socket receives, as [text, rinfo]. */
function inbox(s: Socket): [string, RemoteInfo][] {
  const got: [string, RemoteInfo][] = [];
  s.on('message', (m, r) => got.push([m.toString(), r]));
  return got;
}

const UDP4: SocketOptions = { type: 'udp4' };
const UDP6: SocketOptions = { type: 'udp6' };
const V6ONLY: SocketOptions = { type: 'udp6', ipv6Only: true };

describe('stack.dgram: ipv6Only and one socket per family on a port', () => {
  it('an ipv6Only udp6 socket and a udp4 one share a port (either order), each getting its family', async () => {
    const { clock, client, server } = pair6();
    for (const order of [
      [V6ONLY, UDP4],
      [UDP4, V6ONLY],
    ]) {
      const a = await bind(clock, server, order[0], 5000);
      const b = await bind(clock, server, order[1], 5000);
      expect([a.err, b.err]).toEqual([null, null]);
      const s6 = order[0] === V6ONLY ? a.socket : b.socket;
      const s4 = order[0] === V6ONLY ? b.socket : a.socket;
      expect(s6.address()).toEqual({ address: '::', family: 'IPv6', port: 5000 });
      expect(s4.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 5000 });
      const got6 = inbox(s6);
      const got4 = inbox(s4);
      const c = client.dgram.createSocket('udp6');
      c.bind(6000);
      c.send('to v6', 5000, 'fd00::2');
      c.send('to v4', 5000, '::ffff:10.0.0.2');
      await settle(clock);
      expect(got6).toEqual([
        ['to v6', { address: 'fd00::1', family: 'IPv6', port: 6000, size: 5 }],
      ]);
      expect(got4).toEqual([
        ['to v4', { address: '10.0.0.1', family: 'IPv4', port: 6000, size: 5 }],
      ]);
      // Closing one frees its family only.
      s6.close();
      const again = await bind(clock, server, UDP4, 5000);
      expect(again.err).toMatchObject({ code: 'EADDRINUSE' });
      const six = await bind(clock, server, V6ONLY, 5000);
      expect(six.err).toBeNull();
      six.socket.close();
      s4.close();
      c.close();
      await settle(clock);
    }
    await client.close();
    await server.close();
  });

  it('IPv4 datagrams to an ipv6Only socket find nobody: port unreachable, ECONNREFUSED at a connected sender', async () => {
    const { clock, client, server } = pair6();
    const { socket: s6 } = await bind(clock, server, V6ONLY, 5001);
    const got = inbox(s6);
    const c = client.dgram.createSocket('udp4');
    const errors: NodeJS.ErrnoException[] = [];
    c.on('error', (e) => errors.push(e));
    await runFor(clock, new Promise<void>((r) => c.connect(5001, '10.0.0.2', () => r())));
    c.send('hello?');
    await settle(clock);
    expect(got).toEqual([]);
    expect(server.stats.icmp.txDestUnreachable).toBe(1);
    expect(errors).toMatchObject([{ code: 'ECONNREFUSED', syscall: 'recvmsg' }]);
    // Over IPv6 it arrives.
    const c6 = client.dgram.createSocket('udp6');
    c6.send('hello', 5001, 'fd00::2');
    await settle(clock);
    expect(got.map(([t]) => t)).toEqual(['hello']);
    await client.close();
    await server.close();
  });

  it('a dual-stack udp6 socket shares its port with nobody; one family has one socket (EADDRINUSE)', async () => {
    const { clock, server } = pair6();
    let port = 7000;
    // [first, its address, second, its address, what the error names]
    const conflicts: [
      SocketOptions,
      string | undefined,
      SocketOptions,
      string | undefined,
      string,
    ][] = [
      [UDP6, undefined, UDP4, undefined, '0.0.0.0'],
      [UDP4, undefined, UDP6, undefined, '::'],
      [V6ONLY, undefined, UDP6, undefined, '::'],
      [UDP6, '::ffff:10.0.0.2', UDP4, undefined, '0.0.0.0'],
      [UDP6, 'fd00::2', V6ONLY, undefined, '::'],
      [UDP4, '10.0.0.2', UDP4, '0.0.0.0', '0.0.0.0'],
    ];
    for (const [o1, a1, o2, a2, shown] of conflicts) {
      port++;
      const a = await bind(clock, server, o1, port, a1);
      expect(a.err).toBeNull();
      const b = await bind(clock, server, o2, port, a2);
      expect(b.err, JSON.stringify([o1, a1, o2, a2])).toMatchObject({
        code: 'EADDRINUSE',
        errno: -98,
        syscall: 'bind',
        message: `bind EADDRINUSE ${shown}:${port}`,
      });
      a.socket.close();
    }
    const allowed: [SocketOptions, string | undefined, SocketOptions, string | undefined][] = [
      [UDP6, 'fd00::2', UDP4, undefined],
      [UDP4, '10.0.0.2', V6ONLY, 'fd00::2'],
    ];
    for (const [o1, a1, o2, a2] of allowed) {
      port++;
      const a = await bind(clock, server, o1, port, a1);
      const b = await bind(clock, server, o2, port, a2);
      expect([a.err, b.err], JSON.stringify([o1, a1, o2, a2])).toEqual([null, null]);
      a.socket.close();
      b.socket.close();
    }
    await server.close();
  });
});

describe('stack.dgram: addresses and errors per family', () => {
  it('what bind() makes of each address', async () => {
    const { clock, server } = pair6();
    const ok: [SocketOptions, string | undefined, string][] = [
      [UDP4, undefined, '0.0.0.0'],
      [UDP4, '0.0.0.0', '0.0.0.0'],
      [UDP4, '10.0.0.2', '10.0.0.2'],
      [UDP4, 'localhost', '10.0.0.2'],
      [UDP6, undefined, '::'],
      [V6ONLY, undefined, '::'],
      [UDP6, 'fd00::2', 'fd00::2'],
      [UDP6, '::1', 'fd00::2'],
      [UDP6, '::ffff:0.0.0.0', '::ffff:0.0.0.0'],
      [UDP6, '::FFFF:10.0.0.2', '::ffff:10.0.0.2'],
    ];
    for (const [o, addr, shown] of ok) {
      const { socket, err } = await bind(clock, server, o, 0, addr);
      expect(err, JSON.stringify([o, addr])).toBeNull();
      expect(socket.address()).toMatchObject({
        address: shown,
        family: o.type === 'udp6' ? 'IPv6' : 'IPv4',
      });
      socket.close();
    }
    const bad: [SocketOptions, string, string, number][] = [
      [UDP4, '::1', 'EINVAL', -22],
      [UDP6, '10.0.0.2', 'EINVAL', -22],
      [V6ONLY, '::ffff:10.0.0.2', 'EINVAL', -22],
      [UDP6, 'fd09::1', 'EADDRNOTAVAIL', -99],
      [UDP4, '10.9.9.9', 'EADDRNOTAVAIL', -99],
      [UDP6, '::ffff:10.9.9.9', 'EADDRNOTAVAIL', -99],
    ];
    for (const [o, addr, code, errno] of bad) {
      const { err } = await bind(clock, server, o, 4568, addr);
      expect(err, JSON.stringify([o, addr])).toMatchObject({
        code,
        errno,
        syscall: 'bind',
        address: addr,
        port: 4568,
        message: `bind ${code} ${addr}:4568`,
      });
    }
    const { err } = await bind(clock, server, UDP4, 4568, 'nosuch.invalid');
    expect(err).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo' });
    await server.close();
  });

  it('udp6 on a stack without IPv6 is EAFNOSUPPORT, as on a host without IPv6', async () => {
    const clock = new VirtualClock();
    const [la] = SimLink.pair(clock, { delayMs: 1 });
    const stack = createStack({ link: la, address: '10.0.0.2', clock });
    const { err } = await bind(clock, stack, UDP6, 53);
    expect(err).toMatchObject({
      code: 'EAFNOSUPPORT',
      errno: -97,
      message: 'bind EAFNOSUPPORT :::53',
    });
    const four = await bind(clock, stack, UDP4, 53);
    expect(four.err).toBeNull();
    await stack.close();
  });

  it('address() after connect names our address in the peer family; sending across families fails as on Linux', async () => {
    const { clock, client, server } = pair6();
    const connected = async (o: SocketOptions, host: string, bindTo?: string) => {
      const { socket } = await bind(clock, server, o, 0, bindTo);
      const err = await runFor(
        clock,
        new Promise<Error | undefined>((r) => socket.connect(9, host, (e) => r(e))),
      );
      return { socket, err };
    };
    const a = await connected(UDP4, '10.0.0.1');
    expect([a.err, a.socket.address().address]).toEqual([undefined, '10.0.0.2']);
    const b = await connected(UDP6, '::ffff:10.0.0.1');
    expect([b.err, b.socket.address().address]).toEqual([undefined, '::ffff:10.0.0.2']);
    expect(b.socket.remoteAddress()).toEqual({
      address: '::ffff:10.0.0.1',
      family: 'IPv6',
      port: 9,
    });
    const c = await connected(UDP6, 'fd00::1');
    expect([c.err, c.socket.address().address]).toEqual([undefined, 'fd00::2']);
    // Refused connects go to the callback: an IPv6-only socket to an IPv4 peer, a socket bound
    // to an IPv4-mapped address to an IPv6 one, a literal of the other family.
    const refused: [SocketOptions, string, string | undefined, string][] = [
      [V6ONLY, '::ffff:10.0.0.1', undefined, 'ENETUNREACH'],
      [UDP6, '::ffff:10.0.0.1', 'fd00::2', 'ENETUNREACH'],
      [UDP6, 'fd00::1', '::ffff:10.0.0.2', 'EAFNOSUPPORT'],
      [UDP6, '10.0.0.1', undefined, 'EINVAL'],
      [UDP4, 'fd00::1', undefined, 'EINVAL'],
    ];
    for (const [o, host, bindTo, code] of refused) {
      const r = await connected(o, host, bindTo);
      expect(r.err, JSON.stringify([o, host, bindTo])).toMatchObject({
        code,
        syscall: 'connect',
        message: `connect ${code} ${host}:9`,
      });
      expect(() => r.socket.remoteAddress()).toThrow(
        expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }),
      );
      // And send() to it the same.
      const sent = await runFor(
        clock,
        new Promise<Error | null>((res) => r.socket.send('x', 9, host, (e) => res(e))),
      );
      expect(sent).toMatchObject({ code, syscall: 'send', message: `send ${code} ${host}:9` });
    }
    expect(client.stats.udp.rxDatagrams).toBe(0); // nothing went out
    await client.close();
    await server.close();
  });
});
