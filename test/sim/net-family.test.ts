/**
 * stack.net per address family, as Node 20 on Linux has it (each expectation was first read off
 * real node:net on loopback, docs/ipv6.md "The API per family"): an IPv4 and an IPv6-only server
 * on one port, a dual-stack one sharing its port with nobody, listen() on each kind of address,
 * address()/remoteAddress/remoteFamily/localAddress of servers and both ends of a connection,
 * IPv4-mapped peers, 'localhost', and the errors (EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENOTFOUND,
 * EAFNOSUPPORT) with Node's messages. Two dual-stack stacks over a simulated wire, virtual time.
 */
import { describe, expect, it } from 'vitest';
import { createStack, type NetStack } from '../../src/api/index.ts';
import type { ListenOptions, Server, Socket } from '../../src/api/net.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import { netPair, runFor, runUntil } from './fixture.ts';

/** Two dual-stack stacks on a simulated wire: client 10.0.0.1 / fd00::1, server 10.0.0.2 / fd00::2. */
const pair6 = () => netPair({ ipv6: true });

type ListenResult = { server: Server; err: NodeJS.ErrnoException | null };

/** listen(opts) and wait for 'listening' or 'error'. */
async function listen(
  clock: VirtualClock,
  stack: NetStack,
  opts: ListenOptions,
  onConnection?: (s: Socket) => void,
): Promise<ListenResult> {
  const server = stack.net.createServer((s) => {
    s.on('error', () => {});
    s.resume(); // read to the end, so that the socket finishes and the server can close
    if (onConnection) onConnection(s);
    else s.end(`hi ${s.remoteAddress}`);
  });
  const done = new Promise<ListenResult>((resolve) => {
    server.once('listening', () => resolve({ server, err: null }));
    server.once('error', (err) => resolve({ server, err }));
  });
  server.listen(opts);
  return runFor(clock, done);
}

/** Connect to host:port and read to the end: the text, or the error's code. */
async function fetchText(
  clock: VirtualClock,
  stack: NetStack,
  port: number,
  host: string,
): Promise<{ text: string; socket: Socket } | { code: string }> {
  const socket = stack.net.connect(port, host);
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => parts.push(d));
  return runFor(
    clock,
    new Promise((resolve) => {
      socket.on('end', () => resolve({ text: Buffer.concat(parts).toString(), socket }));
      socket.on('error', (e: NodeJS.ErrnoException) => resolve({ code: String(e.code) }));
    }),
  );
}

describe('stack.net: one server per family on a port, as Linux allows', () => {
  it("an ipv6Only '::' server and a '0.0.0.0' one share a port (either order), each serving its family", async () => {
    const { clock, client, server } = pair6();
    for (const [first, second] of [
      [{ host: '::', ipv6Only: true }, { host: '0.0.0.0' }],
      [{ host: '0.0.0.0' }, { host: '::', ipv6Only: true }],
    ] as ListenOptions[][]) {
      const a = await listen(clock, server, { ...first, port: 80 }, (s) =>
        s.end(`A ${s.remoteAddress}`),
      );
      const b = await listen(clock, server, { ...second, port: 80 }, (s) =>
        s.end(`B ${s.remoteAddress}`),
      );
      expect([a.err, b.err]).toEqual([null, null]);
      const six = first.host === '::' ? a : b;
      const four = first.host === '::' ? b : a;
      expect(six.server.address()).toEqual({ address: '::', family: 'IPv6', port: 80 });
      expect(four.server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 80 });
      const tag6 = six === a ? 'A' : 'B';
      const tag4 = four === a ? 'A' : 'B';
      // Each family reaches its own server, and the IPv4 one sees a plain IPv4 peer.
      expect(await fetchText(clock, client, 80, 'fd00::2')).toMatchObject({
        text: `${tag6} fd00::1`,
      });
      expect(await fetchText(clock, client, 80, '10.0.0.2')).toMatchObject({
        text: `${tag4} 10.0.0.1`,
      });
      // ss shows both listeners.
      const rows = server.connections().filter((r) => r.state === 'LISTEN');
      expect(rows.map((r) => r.local).sort()).toEqual(['0.0.0.0:80', '[::]:80']);

      // Closing one leaves the other serving; the closed family is refused.
      await runFor(clock, new Promise((r) => six.server.close(r)));
      expect(await fetchText(clock, client, 80, 'fd00::2')).toEqual({ code: 'ECONNREFUSED' });
      expect(await fetchText(clock, client, 80, '10.0.0.2')).toMatchObject({
        text: `${tag4} 10.0.0.1`,
      });
      await runFor(clock, new Promise((r) => four.server.close(r)));
      expect(server.tcp.isListening(80)).toBe(false);
    }
    await client.close();
    await server.close();
  });

  it('a dual-stack server shares its port with no other, and one family has one server (EADDRINUSE)', async () => {
    const { clock, server } = pair6();
    let port = 100;
    // [first, second, second's address in the error]: Linux refuses each second bind.
    const conflicts: [ListenOptions, ListenOptions, string][] = [
      [{ host: '::' }, { host: '0.0.0.0' }, '0.0.0.0'],
      [{ host: '0.0.0.0' }, { host: '::' }, '::'],
      [{ host: '::' }, { host: '10.0.0.2' }, '10.0.0.2'],
      [{ host: '10.0.0.2' }, { host: '::' }, '::'],
      [{ host: '::' }, { host: '::', ipv6Only: true }, '::'],
      [{ host: '::' }, { host: 'fd00::2' }, 'fd00::2'],
      [{ host: '::', ipv6Only: true }, { host: 'fd00::2' }, 'fd00::2'],
      [{ host: '0.0.0.0' }, { host: '10.0.0.2' }, '10.0.0.2'],
      [{ host: '::ffff:10.0.0.2' }, { host: '0.0.0.0' }, '0.0.0.0'],
      // Node 20 passes ipv6Only on only with a host: with none, '::' takes both families.
      [{ ipv6Only: true }, { host: '0.0.0.0' }, '0.0.0.0'],
      [{}, { host: '0.0.0.0' }, '0.0.0.0'],
    ];
    for (const [first, second, shown] of conflicts) {
      port++;
      const a = await listen(clock, server, { ...first, port });
      expect(a.err).toBeNull();
      const b = await listen(clock, server, { ...second, port });
      expect(b.err, JSON.stringify([first, second])).toMatchObject({
        code: 'EADDRINUSE',
        errno: -98,
        syscall: 'listen',
        address: shown,
        port,
        message: `listen EADDRINUSE: address already in use ${shown}:${port}`,
      });
      expect(b.server.listening).toBe(false);
      a.server.close();
    }
    // And those Linux allows: one address of each family.
    const allowed: [ListenOptions, ListenOptions][] = [
      [{ host: 'fd00::2' }, { host: '0.0.0.0' }],
      [{ host: '10.0.0.2' }, { host: '::', ipv6Only: true }],
      [{ host: '::1' }, { host: '10.0.0.2' }],
    ];
    for (const [first, second] of allowed) {
      port++;
      const a = await listen(clock, server, { ...first, port });
      const b = await listen(clock, server, { ...second, port });
      expect([a.err, b.err], JSON.stringify([first, second])).toEqual([null, null]);
      a.server.close();
      b.server.close();
    }
    await server.close();
  });
});

describe('stack.net: addresses and families as Node shows them', () => {
  it('listen() on each kind of address: what address() says and which peers it takes', async () => {
    const { clock, client, server } = pair6();
    const cases: [ListenOptions, string, 'IPv4' | 'IPv6', string | null, string | null][] = [
      // [options, address(), family, what an IPv4 client is seen as, an IPv6 one]
      [{}, '::', 'IPv6', '::ffff:10.0.0.1', 'fd00::1'],
      [{ host: '::' }, '::', 'IPv6', '::ffff:10.0.0.1', 'fd00::1'],
      [{ host: '0:0:0:0:0:0:0:0' }, '::', 'IPv6', '::ffff:10.0.0.1', 'fd00::1'],
      [{ host: '::', ipv6Only: true }, '::', 'IPv6', null, 'fd00::1'],
      [{ host: '0.0.0.0' }, '0.0.0.0', 'IPv4', '10.0.0.1', null],
      [{ host: '10.0.0.2' }, '10.0.0.2', 'IPv4', '10.0.0.1', null],
      [{ host: 'localhost' }, '10.0.0.2', 'IPv4', '10.0.0.1', null],
      [{ host: 'FD00:0::2' }, 'fd00::2', 'IPv6', null, 'fd00::1'],
      [{ host: '::1' }, 'fd00::2', 'IPv6', null, 'fd00::1'],
      [{ host: '::ffff:10.0.0.2' }, '::ffff:10.0.0.2', 'IPv6', '::ffff:10.0.0.1', null],
      [{ host: '::FFFF:0.0.0.0' }, '::ffff:0.0.0.0', 'IPv6', '::ffff:10.0.0.1', null],
    ];
    for (const [opts, address, family, seen4, seen6] of cases) {
      const { server: srv, err } = await listen(clock, server, { ...opts, port: 80 });
      expect(err).toBeNull();
      expect(srv.address(), JSON.stringify(opts)).toEqual({ address, family, port: 80 });
      const r4 = await fetchText(clock, client, 80, '10.0.0.2');
      const r6 = await fetchText(clock, client, 80, 'fd00::2');
      expect(r4, JSON.stringify(opts)).toEqual(
        seen4 === null
          ? { code: 'ECONNREFUSED' }
          : expect.objectContaining({ text: `hi ${seen4}` }),
      );
      expect(r6, JSON.stringify(opts)).toEqual(
        seen6 === null
          ? { code: 'ECONNREFUSED' }
          : expect.objectContaining({ text: `hi ${seen6}` }),
      );
      await runFor(clock, new Promise((r) => srv.close(r)));
    }
    await client.close();
    await server.close();
  });

  it('both ends of a connection: IPv4, IPv6, and IPv4 through a dual-stack socket', async () => {
    const { clock, client, server } = pair6();
    const accepted: Socket[] = [];
    const { err } = await listen(clock, server, { port: 7 }, (s) => {
      accepted.push(s);
      s.end();
    });
    expect(err).toBeNull();
    const ends = (s: Socket) => ({
      remoteAddress: s.remoteAddress,
      remoteFamily: s.remoteFamily,
      localAddress: s.localAddress,
      localFamily: s.localFamily,
      address: s.address(),
    });
    const seen = new Map<string, [ReturnType<typeof ends>, ReturnType<typeof ends>]>();
    for (const [from, host] of [
      [client, '10.0.0.2'],
      [client, 'fd00::2'],
      [client, '::ffff:10.0.0.2'],
      [client, '::FFFF:10.0.0.2'],
      // The stack itself, by name.
      [server, 'localhost'],
    ] as const) {
      const c = from.net.connect(7, host);
      c.on('data', () => {});
      await runFor(clock, new Promise((r) => c.once('connect', r)));
      await runUntil(clock, () => accepted.length > 0);
      const s = accepted.shift() as Socket;
      seen.set(host, [ends(c), ends(s)]);
      await runFor(clock, new Promise((r) => c.once('close', r)));
    }
    const c4 = { localAddress: '10.0.0.1', localFamily: 'IPv4', remoteFamily: 'IPv4' };
    const s4 = { remoteAddress: '::ffff:10.0.0.1', remoteFamily: 'IPv6' };
    const s4local = { localAddress: '::ffff:10.0.0.2', localFamily: 'IPv6' };
    // A plain IPv4 client; the dual-stack server sees it mapped.
    expect(seen.get('10.0.0.2')?.[0]).toMatchObject({
      ...c4,
      remoteAddress: '10.0.0.2',
      address: { address: '10.0.0.1', family: 'IPv4' },
    });
    expect(seen.get('10.0.0.2')?.[1]).toMatchObject({
      ...s4,
      ...s4local,
      address: { address: '::ffff:10.0.0.2', family: 'IPv6', port: 7 },
    });
    expect(seen.get('localhost')?.[0]).toMatchObject({
      remoteAddress: '10.0.0.2',
      remoteFamily: 'IPv4',
      localAddress: '10.0.0.2',
    });
    // IPv6 both ways.
    expect(seen.get('fd00::2')).toEqual([
      expect.objectContaining({
        remoteAddress: 'fd00::2',
        remoteFamily: 'IPv6',
        localAddress: 'fd00::1',
        address: expect.objectContaining({ address: 'fd00::1', family: 'IPv6' }),
      }),
      expect.objectContaining({
        remoteAddress: 'fd00::1',
        remoteFamily: 'IPv6',
        localAddress: 'fd00::2',
        address: { address: 'fd00::2', family: 'IPv6', port: 7 },
      }),
    ]);
    // A client dialling an IPv4-mapped address is an IPv6 socket to an IPv4 peer, whatever case
    // the address was written in.
    for (const host of ['::ffff:10.0.0.2', '::FFFF:10.0.0.2']) {
      expect(seen.get(host)?.[0], host).toMatchObject({
        remoteAddress: '::ffff:10.0.0.2',
        remoteFamily: 'IPv6',
        localAddress: '::ffff:10.0.0.1',
        localFamily: 'IPv6',
        address: expect.objectContaining({ address: '::ffff:10.0.0.1', family: 'IPv6' }),
      });
      expect(seen.get(host)?.[1], host).toMatchObject({ ...s4, ...s4local });
    }
    // An unconnected socket knows nothing yet.
    const fresh = new client.net.Socket();
    expect([fresh.address(), fresh.remoteAddress, fresh.localAddress, fresh.remoteFamily]).toEqual([
      {},
      undefined,
      undefined,
      undefined,
    ]);
    await client.close();
    await server.close();
  });

  it('connect: localAddress and family as Node checks them; the unspecified addresses are the stack itself', async () => {
    const { clock, client, server } = pair6();
    const { server: srv } = await listen(clock, server, { port: 7 });
    const outcome = async (stack: NetStack, o: Parameters<NetStack['net']['connect']>[0]) => {
      const c = stack.net.connect(o as { port: number });
      c.on('data', () => {});
      return runFor(
        clock,
        new Promise<Record<string, unknown>>((resolve) => {
          c.once('connect', () => {
            resolve({ local: c.localAddress, remote: c.remoteAddress });
            c.destroy();
          });
          c.once('error', (e: NodeJS.ErrnoException) => resolve({ ...e, message: e.message }));
        }),
      );
    };
    expect(await outcome(client, { port: 7, host: '10.0.0.2', localAddress: '10.9.9.9' })).toEqual({
      code: 'EADDRNOTAVAIL',
      errno: -99,
      syscall: 'bind',
      address: '10.9.9.9',
      message: 'bind EADDRNOTAVAIL 10.9.9.9',
    });
    expect(
      await outcome(client, {
        port: 7,
        host: '10.0.0.2',
        localAddress: '10.9.9.9',
        localPort: 4444,
      }),
    ).toMatchObject({
      code: 'EADDRNOTAVAIL',
      port: 4444,
      message: 'bind EADDRNOTAVAIL 10.9.9.9:4444',
    });
    for (const [host, localAddress] of [
      ['fd00::2', '10.0.0.1'],
      ['10.0.0.2', 'fd00::1'],
      ['::ffff:10.0.0.2', '10.0.0.1'],
    ]) {
      expect(await outcome(client, { port: 7, host, localAddress }), host).toMatchObject({
        code: 'EINVAL',
        syscall: 'bind',
        message: `bind EINVAL ${localAddress}`,
      });
    }
    expect(await outcome(client, { port: 7, host: '10.0.0.2', localAddress: '0.0.0.0' })).toEqual({
      local: '10.0.0.1',
      remote: '10.0.0.2',
    });
    expect(await outcome(client, { port: 7, host: 'fd00::2', localAddress: 'fd00::1' })).toEqual({
      local: 'fd00::1',
      remote: 'fd00::2',
    });
    expect(() =>
      client.net.connect({ port: 7, host: '10.0.0.2', localAddress: 'localhost' }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_IP_ADDRESS',
        message: 'Invalid IP address: localhost',
      }),
    );
    // To the unspecified address, or to localhost in a family: the stack itself.
    expect(await outcome(server, { port: 7, host: '0.0.0.0' })).toEqual({
      local: '10.0.0.2',
      remote: '10.0.0.2',
    });
    expect(await outcome(server, { port: 7, host: '::' })).toEqual({
      local: 'fd00::2',
      remote: 'fd00::2',
    });
    expect(await outcome(server, { port: 7, host: 'localhost', family: 6 })).toEqual({
      local: 'fd00::2',
      remote: 'fd00::2',
    });
    srv.close();
    await client.close();
    await server.close();
  });

  it("listen errors carry Node's codes, fields and messages", async () => {
    const { clock, server } = pair6();
    const errOf = async (opts: ListenOptions) => (await listen(clock, server, opts)).err;
    expect(await errOf({ host: '10.9.9.9', port: 8082 })).toMatchObject({
      code: 'EADDRNOTAVAIL',
      errno: -99,
      syscall: 'listen',
      address: '10.9.9.9',
      port: 8082,
      message: 'listen EADDRNOTAVAIL: address not available 10.9.9.9:8082',
    });
    // Port 0: neither in the message nor as a field.
    const any = await errOf({ host: 'fd09::1', port: 0 });
    expect(any?.message).toBe('listen EADDRNOTAVAIL: address not available fd09::1');
    expect(any).not.toHaveProperty('port');
    expect(await errOf({ host: '::ffff:10.9.9.9', port: 81 })).toMatchObject({
      code: 'EADDRNOTAVAIL',
      address: '::ffff:10.9.9.9',
    });
    // An IPV6_V6ONLY socket cannot take an IPv4-mapped address.
    expect(await errOf({ host: '::ffff:10.0.0.2', ipv6Only: true, port: 82 })).toMatchObject({
      code: 'EINVAL',
      errno: -22,
      message: 'listen EINVAL: invalid argument ::ffff:10.0.0.2:82',
    });
    // A name: no DNS here.
    expect(await errOf({ host: 'nosuch.invalid', port: 83 })).toMatchObject({
      code: 'ENOTFOUND',
      errno: -3008,
      syscall: 'getaddrinfo',
      hostname: 'nosuch.invalid',
      message: 'getaddrinfo ENOTFOUND nosuch.invalid',
    });
    await server.close();
  });

  it('on a stack without IPv6: no host is IPv4, an IPv6 address is EAFNOSUPPORT as on a host without IPv6', async () => {
    const clock = new VirtualClock();
    const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
    const stack = createStack({ link: la, address: '10.0.0.2', clock });
    const peer = createStack({ link: lb, address: '10.0.0.1', clock });
    const plain = await listen(clock, stack, { port: 80, ipv6Only: true });
    expect(plain.server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 80 });
    expect(await fetchText(clock, peer, 80, '10.0.0.2')).toMatchObject({ text: 'hi 10.0.0.1' });
    for (const host of ['::', '::ffff:10.0.0.2', '::1']) {
      const { err } = await listen(clock, stack, { host, port: 81 });
      expect(err, host).toMatchObject({
        code: 'EAFNOSUPPORT',
        errno: -97,
        message: `listen EAFNOSUPPORT: address family not supported ${host}:81`,
      });
    }
    expect(await fetchText(clock, peer, 80, '::ffff:10.0.0.2')).toEqual({ code: 'EAFNOSUPPORT' });
    await stack.close();
    await peer.close();
  });
});
