/**
 * TCP over IPv6 between two dual-stack stacks (client 10.0.0.1 / fd00::1, server 10.0.0.2 /
 * fd00::2) over a simulated wire, in virtual time: stack.net as Node has it (a listener on '::'
 * by default serves both families, IPv4 peers seen as '::ffff:10.0.0.1'), bulk data intact with
 * and without loss, Node's http over IPv6, and the IPv6 peer table emptied when connections go.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { StackAgent, serveHttp } from '../../src/api/http.ts';
import { createStack, type NetStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import { FaultLink, type Impairment } from '../../src/link/fault.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import { randomBytes, runFor, runUntil, sha256 } from './fixture.ts';

function pair6(impair?: Impairment) {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const linkA = impair ? new FaultLink(la, { ...impair, seed: 11 }, clock) : la;
  const linkB = impair ? new FaultLink(lb, { ...impair, seed: 23 }, clock) : lb;
  const tcp = { isnSecret: new Uint8Array(16).fill(5) };
  const client = createStack({ link: linkA, address: '10.0.0.1', address6: 'fd00::1', clock, tcp });
  const server = createStack({ link: linkB, address: '10.0.0.2', address6: 'fd00::2', clock, tcp });
  return { clock, client, server };
}

function echoServer(stack: NetStack, port = 7) {
  const accepted: Socket[] = [];
  const server = stack.net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen(port);
  return { server, accepted };
}

/** Write `data` on a new connection to host:7, end, and resolve with what came back. */
function roundTrip(stack: NetStack, host: string, data: Buffer) {
  const s = stack.net.connect(7, host);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const done = new Promise<Buffer>((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  s.end(data);
  return { socket: s, done };
}

describe('TCP over IPv6 through stack.net', () => {
  it("serves an IPv6 and an IPv4 client at once on one '::' listener, each as Node shows it", async () => {
    const { clock, client, server } = pair6();
    const { server: srv, accepted } = echoServer(server);
    expect(srv.address()).toEqual({ address: '::', family: 'IPv6', port: 7 });
    const d6 = randomBytes(300_000, 1);
    const d4 = randomBytes(300_000, 2);
    const a = roundTrip(client, 'fd00::2', d6);
    const b = roundTrip(client, '10.0.0.2', d4);
    const [back6, back4] = await runFor(clock, Promise.all([a.done, b.done]));
    expect(sha256(back6)).toBe(sha256(d6));
    expect(sha256(back4)).toBe(sha256(d4));

    expect(a.socket.remoteAddress).toBe('fd00::2');
    expect(a.socket.remoteFamily).toBe('IPv6');
    expect(a.socket.address()).toMatchObject({ address: 'fd00::1', family: 'IPv6' });
    const byFamily = new Map(accepted.map((s) => [s.remoteAddress, s]));
    const s6 = byFamily.get('fd00::1');
    const s4 = byFamily.get('::ffff:10.0.0.1');
    expect(s6).toBeDefined();
    expect(s4).toBeDefined();
    expect([s6?.remoteFamily, s6?.localAddress, s6?.localPort]).toEqual(['IPv6', 'fd00::2', 7]);
    expect([s4?.remoteFamily, s4?.localAddress]).toEqual(['IPv6', '::ffff:10.0.0.2']);
    // The client's IPv4 connection is plain IPv4 on its side.
    expect([b.socket.remoteAddress, b.socket.remoteFamily]).toEqual(['10.0.0.2', 'IPv4']);

    // Every connection gone (TIME_WAIT included): no IPv6 peer is held any more.
    await runUntil(clock, () => client.connections().length === 0, 200_000, 'TIME_WAIT over');
    await runUntil(clock, () => server.connections().length === 1, 200_000, 'server drained');
    expect(client.tcp.ipv6Peers).toBe(0);
    expect(server.tcp.ipv6Peers).toBe(0);
    srv.close();
    await client.close();
    await server.close();
  });

  it('moves 1 MB each way over IPv6 intact through 3 % loss both ways', async () => {
    const { clock, client, server } = pair6({ loss: 0.03 });
    echoServer(server);
    const data = randomBytes(1_000_000, 3);
    const { done } = roundTrip(client, 'fd00::2', data);
    const back = await runFor(clock, done, 600_000);
    expect(sha256(back)).toBe(sha256(data));
    // It went over IPv6, and the loss was repaired: segments were sent again.
    expect(server.stats.ip6.rxPackets).toBeGreaterThan(700);
    expect((client.link as FaultLink).stats.tx.lost).toBeGreaterThan(10);
    await client.close();
    await server.close();
  });

  it("runs Node's http over IPv6 unchanged", async () => {
    const { clock, client, server } = pair6();
    const svc = serveHttp(server, 80, (req, res) => res.end(`hello ${req.socket.remoteAddress}`));
    await runFor(clock, svc.ready);
    const agent = new StackAgent(client, { keepAlive: false });
    const text = await runFor(
      clock,
      new Promise<string>((resolve, reject) => {
        http
          .get({ host: 'fd00::2', port: 80, path: '/', agent }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve(Buffer.concat(parts).toString()));
          })
          .on('error', reject);
      }),
    );
    expect(text).toBe('hello fd00::1');
    await client.close();
    await server.close();
  });

  it("talks to itself over IPv6: '::1' and fd00::2 loop back inside the stack", async () => {
    const { clock, server, client } = pair6();
    const { server: srv, accepted } = echoServer(server);
    const data = randomBytes(50_000, 4);
    const a = roundTrip(server, '::1', data);
    const b = roundTrip(server, 'fd00::2', data);
    const [x, y] = await runFor(clock, Promise.all([a.done, b.done]));
    expect(sha256(x)).toBe(sha256(data));
    expect(sha256(y)).toBe(sha256(data));
    expect(a.socket.remoteAddress).toBe('fd00::2');
    expect(accepted.map((s) => s.remoteAddress)).toEqual(['fd00::2', 'fd00::2']);
    expect(server.stats.link.loopbackPackets).toBeGreaterThan(0);
    srv.close();
    await client.close();
    await server.close();
  });

  it('refuses connect() to an IPv6 address on a stack without IPv6 (EAFNOSUPPORT)', async () => {
    const clock = new VirtualClock();
    const [la] = SimLink.pair(clock, { delayMs: 1 });
    const stack = createStack({ link: la, address: '10.0.0.1', clock });
    const s = stack.net.connect(80, 'fd00::2');
    const err = await runFor(
      clock,
      new Promise<NodeJS.ErrnoException>((resolve) => s.on('error', resolve)),
    );
    expect(err.code).toBe('EAFNOSUPPORT');
    // Without IPv6 the default listener is IPv4's, as before.
    const srv = stack.net.createServer(() => {}).listen(80);
    expect(srv.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 80 });
    await stack.close();
  });
});
