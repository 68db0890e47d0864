import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { netPair, SERVER, settle } from './fixture.ts';

describe('stack.dgram: node:dgram-shaped sockets', () => {
  it('binds an ephemeral port when none is given, and emits listening', async () => {
    const { server: b } = netPair();
    const s = b.dgram.createSocket('udp4');
    const listening = once(s, 'listening');
    s.bind();
    await listening;
    const addr = s.address();
    // Every address, as Node's bind() with none (getsockname says 0.0.0.0).
    expect(addr.address).toBe('0.0.0.0');
    expect(addr.family).toBe('IPv4');
    expect(addr.port).toBeGreaterThanOrEqual(49_152);
  });

  it('calls the bind callback, and reports EADDRINUSE as an error event', async () => {
    const { server: b } = netPair();
    const s1 = b.dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve) => s1.bind(5353, resolve));
    const s2 = b.dgram.createSocket('udp4');
    s2.bind({ port: 5353 });
    const [err] = await once(s2, 'error');
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'bind', port: 5353 });
    expect(err.message).toBe('bind EADDRINUSE 0.0.0.0:5353');
    const s3 = b.dgram.createSocket('udp4');
    s3.bind(1, '10.9.9.9');
    expect((await once(s3, 'error'))[0]).toMatchObject({ code: 'EADDRNOTAVAIL' });
    expect(() => b.dgram.createSocket('udp4').bind(70_000)).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }),
    );
  });

  it('sends with an implicit bind and calls back with the byte count', async () => {
    const { clock, client: a, server: b } = netPair();
    const server = b.dgram.createSocket('udp4');
    server.bind(9999);
    const got: [string, number][] = [];
    server.on('message', (msg, rinfo) => got.push([msg.toString(), rinfo.port]));
    const client = a.dgram.createSocket('udp4');
    const sent = new Promise<number>((resolve, reject) =>
      client.send(Buffer.from('xxhelloxx'), 2, 5, 9999, SERVER, (err, n) =>
        err ? reject(err) : resolve(n!),
      ),
    );
    expect(await sent).toBe(5);
    await settle(clock);
    expect(got).toEqual([['hello', client.address().port]]);
  });

  it('accepts strings and arrays of chunks', async () => {
    const { clock, client: a, server: b } = netPair();
    const server = b.dgram.createSocket('udp4');
    server.bind(9999);
    const got: string[] = [];
    server.on('message', (msg) => got.push(msg.toString()));
    const client = a.dgram.createSocket('udp4');
    client.send(['ab', Buffer.from('cd')], 9999, SERVER);
    client.send('ef', 9999, SERVER);
    await settle(clock);
    expect(got).toEqual(['abcd', 'ef']);
  });

  it('reports EMSGSIZE and a bad address to the send callback', async () => {
    const { client: a } = netPair();
    const s = a.dgram.createSocket('udp4');
    const big = await new Promise<Error | null>((r) => s.send(Buffer.alloc(65_508), 9, SERVER, r));
    expect(big).toMatchObject({ code: 'EMSGSIZE', syscall: 'send' });
    const bad = await new Promise<Error | null>((r) => s.send('x', 9, 'not-an-ip', r));
    expect(bad).toMatchObject({ code: 'EINVAL' });
    const ok = await new Promise<Error | null>((r) => s.send(Buffer.alloc(65_507), 9, SERVER, r));
    expect(ok).toBe(null);
  });

  it('connect filters senders and lets send omit the destination', async () => {
    const { clock, client: a, server: b } = netPair();
    const server = b.dgram.createSocket('udp4');
    server.bind(7000);
    const other = b.dgram.createSocket('udp4');
    other.bind(7001);
    const client = a.dgram.createSocket('udp4');
    client.bind(6000);
    await once(client, 'listening');
    client.connect(7000, SERVER);
    await once(client, 'connect');
    expect(client.remoteAddress()).toEqual({ address: SERVER, family: 'IPv4', port: 7000 });
    const got: number[] = [];
    client.on('message', (_msg, rinfo) => got.push(rinfo.port));
    server.send('a', 6000, '10.0.0.1');
    other.send('b', 6000, '10.0.0.1'); // not the connected peer: filtered
    client.send('c');
    const echoed = once(server, 'message');
    await settle(clock);
    await echoed;
    expect(got).toEqual([7000]);
    client.disconnect();
    expect(() => client.remoteAddress()).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }),
    );
  });

  it('a connected socket hears ICMP port unreachable as recvmsg ECONNREFUSED; others do not', async () => {
    const { clock, client: a, server: b } = netPair();
    const connected = a.dgram.createSocket('udp4');
    connected.connect(9, SERVER); // nobody listens on 9
    await once(connected, 'connect');
    const errors: unknown[] = [];
    connected.on('error', (err) => errors.push(err));
    const loose = a.dgram.createSocket('udp4');
    loose.on('error', (err) => errors.push(err));
    connected.send('x');
    loose.send('y', 9, SERVER);
    await settle(clock);
    expect(b.stats.icmp.txDestUnreachable).toBe(2);
    expect(a.stats.icmp.rxErrorsReported).toBe(2);
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'ECONNREFUSED',
        errno: -111,
        syscall: 'recvmsg',
        message: 'recvmsg ECONNREFUSED',
      }),
    ]);
  });

  it('close frees the port, emits close, and later calls throw ERR_SOCKET_DGRAM_NOT_RUNNING', async () => {
    const { server: b } = netPair();
    const s = b.dgram.createSocket('udp4');
    s.bind(4444);
    await once(s, 'listening');
    await new Promise<void>((resolve) => s.close(resolve));
    expect(b.udp.boundPorts()).toEqual([]);
    const notRunning = expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    expect(() => s.close()).toThrow(notRunning);
    expect(() => s.send('x', 1, SERVER)).toThrow(notRunning);
    expect(() => s.address()).toThrow(notRunning);
    expect(() => b.dgram.createSocket('udp4').address()).toThrow(
      expect.objectContaining({ code: 'EBADF' }),
    );
    const again = b.dgram.createSocket('udp4');
    again.bind(4444);
    await once(again, 'listening');
  });

  it('rethrows a throwing message listener outside the stack, which carries on', async () => {
    const { clock, client: a, server: b } = netPair();
    const server = b.dgram.createSocket('udp4');
    server.bind(9000);
    const got: string[] = [];
    server.on('message', (msg) => {
      got.push(msg.toString());
      if (got.length === 1) throw new Error('listener bug');
    });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const client = a.dgram.createSocket('udp4');
      client.send('one', 9000, SERVER);
      client.send('two', 9000, SERVER);
      await settle(clock);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(got).toEqual(['one', 'two']);
    expect(uncaught).toEqual([expect.objectContaining({ message: 'listener bug' })]);
    expect(b.stats.udp.listenerErrors).toBe(1);
    expect(b.stats.link.rxErrors).toBe(0);
  });

  it('refuses socket types other than udp4 and udp6', () => {
    const { client: a } = netPair();
    expect(() => a.dgram.createSocket('udp5' as 'udp4')).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_BAD_TYPE' }),
    );
  });

  it('stack.close closes every socket', async () => {
    const { server: b } = netPair();
    const s = b.dgram.createSocket('udp4');
    s.bind(1234);
    const closed = once(s, 'close');
    await b.close();
    await closed;
    expect(b.dgram.sockets).toBe(0);
    expect(() => b.dgram.createSocket('udp4')).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }),
    );
  });
});
