/**
 * node:net-shaped TCP between two stacks over a simulated wire, in virtual time: the whole path
 * (socket → TcpHandle → core → IP → SimLink/FaultLink → IP → demux → core → socket) with Node's
 * own http and ws on top. Seeds are printed so a failure reproduces exactly.
 */
import http from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { StackAgent, serveHttp } from '../../src/api/http.ts';
import type { NetStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import {
  advance,
  CLIENT,
  netPair,
  randomBytes,
  runFor,
  runUntil,
  SERVER,
  sha256,
} from './fixture.ts';

/** Everything a socket delivers, its error and how it closed. */
function record(s: Socket) {
  const r = {
    chunks: [] as Buffer[],
    ended: false,
    closed: false,
    hadError: null as boolean | null,
    error: null as (Error & { code?: string }) | null,
    get data(): Buffer {
      return Buffer.concat(r.chunks);
    },
  };
  s.on('data', (d: Buffer) => r.chunks.push(d));
  s.on('end', () => {
    r.ended = true;
  });
  s.on('error', (e) => {
    r.error = e;
  });
  s.on('close', (hadError: boolean) => {
    r.closed = true;
    r.hadError = hadError;
  });
  return r;
}

/** An echo server on `port`. */
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

/** Only LISTEN and TIME_WAIT rows left. */
function onlyListenOrTimeWait(stack: NetStack): boolean {
  return stack.connections().every((r) => r.state === 'LISTEN' || r.state === 'TIME_WAIT');
}

describe('stack.net: connect, accept, echo', () => {
  it('echoes, with node:net events and addresses, and closes cleanly on both sides', async () => {
    const { clock, client, server } = netPair();
    const { server: srv, accepted } = echoServer(server);
    let listening = false;
    srv.on('listening', () => {
      listening = true;
    });
    const events: string[] = [];
    const c = client.net.connect(7, SERVER, () => events.push('connect-cb'));
    c.on('connect', () => events.push('connect'));
    c.on('ready', () => events.push('ready'));
    expect(c.connecting).toBe(true);
    expect(c.readyState).toBe('opening');
    const r = record(c);
    await runUntil(clock, () => events.includes('ready') && accepted.length === 1);
    expect(listening).toBe(true);
    expect(events).toEqual(['connect-cb', 'connect', 'ready']);
    expect(c.readyState).toBe('open');
    expect(c.pending).toBe(false);
    expect(c.remoteAddress).toBe(SERVER);
    expect(c.remotePort).toBe(7);
    expect(c.remoteFamily).toBe('IPv4');
    expect(c.localAddress).toBe(CLIENT);
    expect(c.localPort).toBeGreaterThanOrEqual(49_152);
    expect(accepted).toHaveLength(1);
    expect(accepted[0].remoteAddress).toBe(CLIENT);
    expect(accepted[0].remotePort).toBe(c.localPort);
    expect(accepted[0].localPort).toBe(7);
    expect(srv.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7 });

    c.write('hello, ');
    c.end('world');
    await runUntil(clock, () => r.closed);
    expect(r.data.toString()).toBe('hello, world');
    expect(r.ended).toBe(true);
    expect(r.hadError).toBe(false);
    expect(c.bytesWritten).toBe(12);
    expect(c.bytesRead).toBe(12);
    expect(accepted[0].bytesRead).toBe(12);
    await runUntil(clock, () => accepted[0].destroyed && onlyListenOrTimeWait(server));
    // The active closer holds TIME_WAIT for 2*MSL, then the table empties.
    expect(client.connections().map((x) => x.state)).toEqual(['TIME_WAIT']);
    await advance(clock, 61_000);
    expect(client.connections()).toEqual([]);
    expect(server.connections().map((x) => x.state)).toEqual(['LISTEN']);
  });

  it("connects to itself: 'localhost' and 127/8 loop back inside one stack", async () => {
    const { clock, server } = netPair();
    echoServer(server, 20);
    const a = server.net.connect(20); // Node's default host, 'localhost'
    const b = server.net.connect(20, '127.0.0.1');
    const ra = record(a);
    const rb = record(b);
    a.end('to myself');
    b.end('and again');
    await runUntil(clock, () => ra.closed && rb.closed);
    expect(ra.data.toString()).toBe('to myself');
    expect(rb.data.toString()).toBe('and again');
    expect(a.remoteAddress).toBe(SERVER);
  });

  it('new stack.net.Socket() then connect(), as with node:net', async () => {
    const { clock, client, server } = netPair();
    echoServer(server, 22);
    const s = new client.net.Socket();
    expect(s.readyState).toBe('open'); // as node:net says of an unconnected socket
    expect(s.pending).toBe(true);
    const r = record(s);
    s.connect({ port: 22, host: SERVER }, () => s.end('via new Socket'));
    await runUntil(clock, () => r.closed);
    expect(r.data.toString()).toBe('via new Socket');
    expect(() => s.connect(22, SERVER)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_STATE' }),
    );
  });

  it('refuses a closed port with a Node-shaped ECONNREFUSED', async () => {
    const { clock, client, server } = netPair();
    const c = client.net.connect({ port: 81, host: SERVER });
    const r = record(c);
    await runUntil(clock, () => r.closed);
    expect(r.error).toMatchObject({
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
      address: SERVER,
      port: 81,
      message: `connect ECONNREFUSED ${SERVER}:81`,
    });
    expect(r.hadError).toBe(true);
    expect(server.stats.tcp.layer).toMatchObject({ noPort: 1, resetsSent: 1 });
    expect(client.connections()).toEqual([]);
  });

  it('fails to resolve a host that is not a dotted quad (ENOTFOUND)', async () => {
    const { clock, client } = netPair();
    const r = record(client.net.connect(80, 'example.invalid'));
    await runUntil(clock, () => r.closed);
    expect(r.error).toMatchObject({
      code: 'ENOTFOUND',
      syscall: 'getaddrinfo',
      hostname: 'example.invalid',
    });
  });

  it('times out a SYN that is never answered (ETIMEDOUT on connect)', async () => {
    const { clock, client } = netPair({
      stack: { tcp: { conn: { synRetries: 2 } } },
      impair: { loss: 1 },
    });
    const r = record(client.net.connect(80, SERVER));
    await runUntil(clock, () => r.closed, 60_000);
    expect(r.error).toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect', port: 80 });
    expect(clock.now()).toBeGreaterThanOrEqual(7_000); // 1 s + 2 s + 4 s of backed-off SYNs
  });

  it('reports ECONNRESET when the server destroys the connection', async () => {
    const { clock, client, server } = netPair();
    const srv = server.net.createServer((s) => {
      s.once('data', () => s.destroy());
    });
    srv.listen(9);
    const c = client.net.connect(9, SERVER);
    const r = record(c);
    c.write('ping');
    await runUntil(clock, () => r.closed);
    expect(r.error).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'read' });
    expect(r.error?.message).toBe('read ECONNRESET');
    expect(r.hadError).toBe(true);
    expect(client.connections()).toEqual([]);
    await runUntil(clock, () => onlyListenOrTimeWait(server));
    expect(server.connections().map((x) => x.state)).toEqual(['LISTEN']);
  });

  it('half-closes: the client ends, the server (allowHalfOpen) still answers, then ends', async () => {
    const { clock, client, server } = netPair();
    let serverSaw = '';
    let serverEnded = false;
    const srv = server.net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d) => {
        serverSaw += d;
      });
      s.on('end', () => {
        serverEnded = true;
        expect(s.readyState).toBe('writeOnly');
        // Our peer can no longer send, but still reads: answer after a pause.
        setTimeoutOnStack(server, 500, () => s.end(`you said ${serverSaw}`));
      });
    });
    srv.listen(10);
    const c = client.net.connect({ port: 10, host: SERVER, allowHalfOpen: true });
    const r = record(c);
    c.end('bye');
    await runUntil(clock, () => serverEnded);
    expect(c.readyState).toBe('readOnly');
    expect(r.ended).toBe(false);
    await runUntil(clock, () => r.closed);
    expect(r.data.toString()).toBe('you said bye');
    expect(r.hadError).toBe(false);
  });

  it('without allowHalfOpen, the peer end()ing ends our side too (Node default)', async () => {
    const { clock, client, server } = netPair();
    const accepted: Socket[] = [];
    server.net.createServer((s) => accepted.push(s)).listen(11);
    const c = client.net.connect({ port: 11, host: SERVER, allowHalfOpen: true });
    const r = record(c);
    await runUntil(clock, () => accepted.length === 1);
    const sr = record(accepted[0]);
    c.end();
    await runUntil(clock, () => sr.closed && r.ended);
    expect(sr.ended).toBe(true);
    expect(sr.hadError).toBe(false);
  });

  it('serves many concurrent connections', async () => {
    const { clock, client, server } = netPair({ sim: { delayMs: 2 } });
    const { server: srv } = echoServer(server, 7);
    const n = 200;
    const clients = Array.from({ length: n }, (_, i) => {
      const c = client.net.connect(7, SERVER);
      const msg = `connection ${i} `.repeat(1 + (i % 50));
      c.write(msg);
      return { c, r: record(c), msg };
    });
    // Every connection is open and has had its echo before any of them closes.
    await runUntil(clock, () => clients.every((x) => x.r.data.length === x.msg.length));
    let open = -1;
    srv.getConnections((_e, count) => {
      open = count;
    });
    await runUntil(clock, () => open >= 0);
    expect(open).toBe(n);
    expect(new Set(client.connections().map((x) => x.local)).size).toBe(n);
    for (const x of clients) x.c.end();
    await runUntil(clock, () => clients.every((x) => x.r.closed));
    for (const { r, msg } of clients) {
      expect(r.hadError).toBe(false);
      expect(r.data.toString()).toBe(msg);
    }
    expect(server.stats.tcp.layer).toMatchObject({ passiveOpens: n, accepted: n });
    await runUntil(clock, () => onlyListenOrTimeWait(server));
  });

  it('emits EADDRINUSE for a second listener on a port, and listens on port 0', async () => {
    const { clock, server } = netPair();
    server.net.createServer().listen(80);
    const second = server.net.createServer();
    let err: (Error & { code?: string }) | null = null;
    second.on('error', (e) => {
      err = e;
    });
    second.listen(80);
    const eph = server.net.createServer().listen(0);
    const own = server.net.createServer().listen(8081, SERVER);
    expect(own.address()).toEqual({ address: SERVER, family: 'IPv4', port: 8081 });
    const elsewhere = server.net.createServer().listen(8082, '10.9.9.9');
    let notMine: (Error & { code?: string }) | null = null;
    elsewhere.on('error', (e) => {
      notMine = e;
    });
    await runUntil(clock, () => err !== null);
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', port: 80 });
    expect(second.listening).toBe(false);
    expect(eph.address()?.port).toBeGreaterThanOrEqual(49_152);
    expect(notMine).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'listen' });
  });

  it("server.close() waits for its connections; 'close' then fires", async () => {
    const { clock, client, server } = netPair();
    const { server: srv, accepted } = echoServer(server, 12);
    const c = client.net.connect(12, SERVER);
    const r = record(c);
    await runUntil(clock, () => accepted.length === 1);
    let serverClosed = false;
    srv.close(() => {
      serverClosed = true;
    });
    // A new connection is refused at once.
    const late = record(client.net.connect(12, SERVER));
    await runUntil(clock, () => late.closed);
    expect(late.error?.code).toBe('ECONNREFUSED');
    expect(serverClosed).toBe(false);
    c.end('last words');
    await runUntil(clock, () => serverClosed && r.closed);
    expect(r.data.toString()).toBe('last words');
  });

  it("a socket destroyed inside 'connection' resets its connection", async () => {
    const { clock, client, server } = netPair();
    server.net.createServer((s) => s.destroy()).listen(21);
    const r = record(client.net.connect(21, SERVER));
    await runUntil(clock, () => r.closed);
    expect(r.error?.code).toBe('ECONNRESET');
    await runUntil(clock, () => onlyListenOrTimeWait(server));
    expect(server.connections().map((x) => x.state)).toEqual(['LISTEN']);
  });

  it('maxConnections: the server resets connections beyond it', async () => {
    const { clock, client, server } = netPair();
    const { server: srv } = echoServer(server, 13);
    srv.maxConnections = 1;
    let drops = 0;
    srv.on('drop', () => drops++);
    const first = record(client.net.connect(13, SERVER));
    const second = record(client.net.connect(13, SERVER));
    await runUntil(clock, () => second.closed);
    expect(second.error?.code).toBe('ECONNRESET');
    expect(first.closed).toBe(false);
    expect(drops).toBe(1);
  });

  it('stack.connections() reports each connection like ss -tan', async () => {
    const { clock, client, server } = netPair({ sim: { delayMs: 5 } });
    echoServer(server, 16);
    const c = client.net.connect(16, SERVER);
    const r = record(c);
    c.write(randomBytes(50_000, 1));
    await runUntil(clock, () => r.data.length === 50_000);
    const [row] = client.connections();
    expect(row).toMatchObject({
      state: 'ESTABLISHED',
      local: `${CLIENT}:${c.localPort}`,
      remote: `${SERVER}:16`,
      recvQ: 0,
      retransmits: 0,
      bytesSent: 50_000,
      bytesReceived: 50_000,
    });
    expect(row.srtt).toBeGreaterThanOrEqual(10);
    expect(row.rto).toBeGreaterThanOrEqual(200);
    expect(row.cwnd).toBeGreaterThan(0);
    const rows = server.connections();
    expect(rows.map((x) => x.state)).toEqual(['LISTEN', 'ESTABLISHED']);
    expect(rows[0]).toMatchObject({ local: '0.0.0.0:16', remote: '*:*' });
  });

  it('stack.close() resets every connection and closes every socket and server', async () => {
    const { clock, client, server } = netPair();
    const { server: srv, accepted } = echoServer(server, 17);
    let srvClosed = false;
    srv.on('close', () => {
      srvClosed = true;
    });
    client.net.connect(17, SERVER);
    await runUntil(clock, () => accepted.length === 1);
    const sr = record(accepted[0]);
    const sent = server.stats.link.txPackets;
    await server.close();
    await runUntil(clock, () => sr.closed && srvClosed);
    expect(server.stats.link.txPackets).toBe(sent + 1); // the RST (the closing link drops it)
    expect(sr.error).toBeNull();
    expect(server.connections()).toEqual([]);
  });

  it('fails an active open with EADDRNOTAVAIL when no ephemeral port is free', async () => {
    const { clock, client, server } = netPair({
      stack: { tcp: { ephemeralLow: 50_000, ephemeralHigh: 50_000 } },
    });
    echoServer(server, 18);
    const first = client.net.connect(18, SERVER);
    const second = record(client.net.connect(18, SERVER));
    await runUntil(clock, () => second.closed);
    expect(first.localPort).toBe(50_000);
    expect(second.error).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'connect', port: 18 });
  });

  it('a full table forgets its oldest TIME_WAIT connection to make room', async () => {
    const { clock, client, server } = netPair({ stack: { tcp: { maxConnections: 2 } } });
    echoServer(server, 19);
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = client.net.connect(19, SERVER);
      const r = record(c);
      c.end('x');
      await runUntil(clock, () => r.closed);
      expect(r.hadError).toBe(false);
      ports.push(c.localPort ?? 0);
    }
    // The client closed first each time, so it holds TIME_WAIT: two fit, the third evicted one.
    const rows = client.connections();
    expect(rows.map((x) => x.state)).toEqual(['TIME_WAIT', 'TIME_WAIT']);
    expect(rows.map((x) => Number(x.local.split(':')[1]))).toEqual(ports.slice(1));
    expect(client.stats.tcp.layer).toMatchObject({ timeWaitEvicted: 1 });
  });

  it("setTimeout emits 'timeout' after idle time on the stack's clock", async () => {
    const { clock, client, server } = netPair();
    echoServer(server, 14);
    const c = client.net.connect(14, SERVER);
    let timedOutAt = -1;
    c.setTimeout(1_000, () => {
      timedOutAt = clock.now();
    });
    await advance(clock, 600);
    c.write('activity'); // resets the idle clock
    const wroteAt = clock.now();
    await runUntil(clock, () => timedOutAt >= 0);
    expect(timedOutAt).toBeGreaterThanOrEqual(wroteAt + 1_000 - 10); // the echo came back ~2 ms later
    expect(c.destroyed).toBe(false);
    c.destroy();
  });

  it('bounds the connection table (maxConnections option): SYNs beyond it are dropped', async () => {
    const { clock, client, server } = netPair({ serverTcp: { maxConnections: 3 } });
    echoServer(server, 15);
    const socks = Array.from({ length: 5 }, () => record(client.net.connect(15, SERVER)));
    await advance(clock, 500);
    expect(server.connections().filter((x) => x.state !== 'LISTEN')).toHaveLength(3);
    expect(server.stats.tcp.layer).toMatchObject({ tableFull: expect.any(Number) });
    expect((server.stats.tcp.layer as { tableFull: number }).tableFull).toBeGreaterThan(0);
    expect(socks.filter((s) => s.closed)).toHaveLength(0);
  });
});

describe('stack.net: bulk transfer and backpressure', () => {
  /** Send `data` from client to an echo-less sink server; resolve with what arrived. */
  async function transfer(opts: Parameters<typeof netPair>[0], data: Buffer, limitMs = 600_000) {
    const { clock, client, server } = netPair(opts);
    const received: Buffer[] = [];
    let serverEnded = false;
    let serverError: Error | null = null;
    server.net
      .createServer((s) => {
        s.on('data', (d: Buffer) => received.push(d));
        s.on('end', () => {
          serverEnded = true;
        });
        s.on('error', (e) => {
          serverError = e;
        });
      })
      .listen(5001);
    const c = client.net.connect(5001, SERVER);
    const r = record(c);
    c.end(data);
    await runUntil(clock, () => (serverEnded && r.closed) || r.error !== null, limitMs, 'transfer');
    return {
      received: Buffer.concat(received),
      clientError: r.error,
      serverError,
      clock,
      client,
      server,
    };
  }

  it('moves 1 MB intact under seeded loss, reordering, duplication and corruption', async () => {
    const seed = Number(process.env.NET_SEED ?? 20_261_127);
    console.log(`net.test 1 MB transfer: seed ${seed} (NET_SEED=${seed} to repeat)`);
    const data = randomBytes(1 << 20, seed);
    const impair = { seed, loss: 0.02, reorder: 0.05, dup: 0.01, corrupt: 0.01, delay: 2 };
    const t = await transfer({ impair }, data);
    expect(t.clientError).toBeNull();
    expect(t.received.length).toBe(data.length);
    expect(sha256(t.received)).toBe(sha256(data));
    const rows = t.client.connections();
    expect(rows.every((x) => x.state === 'TIME_WAIT')).toBe(true);
    expect(rows[0].retransmits).toBeGreaterThan(0);
    const drops = t.server.stats.tcp.drops;
    expect(drops['bad-checksum'] + t.server.stats.ip.drops['bad-checksum']).toBeGreaterThan(0);
  });

  it('50 concurrent uploads under loss, reordering and duplication all arrive intact', async () => {
    const seed = 4242;
    const { clock, client, server } = netPair({
      impair: { seed, loss: 0.02, reorder: 0.05, dup: 0.01, delay: 2, jitter: 1 },
    });
    const digests = new Map<number, string>();
    server.net
      .createServer((s) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => {
          digests.set(s.remotePort ?? -1, sha256(Buffer.concat(parts)));
          s.end();
        });
      })
      .listen(5004);
    const uploads = Array.from({ length: 50 }, (_, i) => {
      const data = randomBytes(1_000 + ((i * 7919) % 60_000), seed + i);
      const c = client.net.connect(5004, SERVER);
      c.end(data);
      return { c, r: record(c), digest: sha256(data) };
    });
    await runUntil(clock, () => uploads.every((u) => u.r.closed), 600_000, 'uploads');
    for (const u of uploads) {
      expect(u.r.error).toBeNull();
      expect(digests.get(u.c.localPort ?? 0)).toBe(u.digest);
    }
    await runUntil(clock, () => onlyListenOrTimeWait(server) && onlyListenOrTimeWait(client));
  });

  it('a paused reader closes the window: write() returns false, then drain once it reads', async () => {
    const rcvBuf = 64 * 1024;
    const { clock, client, server } = netPair({
      stack: { tcp: { conn: { rcvBuf, sndBuf: 64 * 1024 } } },
    });
    let serverSocket: Socket | null = null;
    server.net
      .createServer((s) => {
        serverSocket = s;
        s.pause(); // a slow reader: reads nothing yet
      })
      .listen(5002);
    const c = client.net.connect(5002, SERVER);
    await runUntil(clock, () => serverSocket !== null);
    const chunk = randomBytes(16 * 1024, 5);
    let written = 0;
    let wrote = true;
    while (wrote && written < 4 << 20) {
      wrote = c.write(chunk);
      written += chunk.length;
      await advance(clock, 20);
    }
    expect(wrote).toBe(false);
    await advance(clock, 2_000);
    // The receiver holds a full receive buffer and advertises no window; the sender is stuck.
    const srow = server.connections().find((x) => x.state === 'ESTABLISHED')!;
    expect(srow.recvQ).toBeGreaterThanOrEqual(rcvBuf - 2 * 1460);
    expect(srow.rcvWnd).toBe(0);
    expect(client.connections()[0].sndWnd).toBe(0);
    let drained = false;
    c.once('drain', () => {
      drained = true;
    });
    await advance(clock, 5_000);
    expect(drained).toBe(false);
    const snd = client.tcp;
    expect(snd.size).toBe(1);

    // Read now: the window opens, 'drain' fires, every byte arrives.
    const got: Buffer[] = [];
    const s = serverSocket! as Socket;
    s.on('data', (d: Buffer) => got.push(d));
    s.resume();
    await runUntil(clock, () => drained);
    c.end();
    let ended = false;
    s.on('end', () => {
      ended = true;
    });
    await runUntil(clock, () => ended);
    const all = Buffer.concat(got);
    expect(all.length).toBe(written);
    for (let off = 0; off < written; off += chunk.length) {
      expect(all.subarray(off, off + chunk.length).equals(chunk)).toBe(true);
    }
  });

  it("data that arrived before the peer's FIN while paused is all read before 'end'", async () => {
    const { clock, client, server } = netPair({ stack: { tcp: { conn: { rcvBuf: 32 * 1024 } } } });
    let s: Socket | null = null;
    server.net
      .createServer((sock) => {
        s = sock;
        sock.pause();
      })
      .listen(5003);
    const c = client.net.connect(5003, SERVER);
    const data = randomBytes(20_000, 3);
    c.end(data);
    await runUntil(clock, () => s !== null);
    await advance(clock, 1_000); // all 20 000 bytes and the FIN are in; nothing was read
    const got: Buffer[] = [];
    let endedWith = -1;
    const sock = s! as Socket;
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('end', () => {
      endedWith = Buffer.concat(got).length;
    });
    sock.resume();
    await runUntil(clock, () => endedWith >= 0);
    expect(endedWith).toBe(data.length);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('a paused reader still gets the held data, then end, after the connection has closed', async () => {
    const { clock, client, server } = netPair();
    server.net.createServer((s) => s.end(randomBytes(40_000, 1))).listen(5005);
    const c = client.net.connect(5005, SERVER);
    c.pause();
    c.end();
    let closedAt = -1;
    c.on('close', () => {
      closedAt = clock.now();
    });
    // We end our side; the server sends and ends its own: the connection reaches TIME_WAIT
    // while the core still holds what the paused reader has not read.
    await advance(clock, 1_000);
    expect(client.connections().map((x) => [x.state, x.recvQ > 0])).toEqual([['TIME_WAIT', true]]);
    expect(closedAt).toBe(-1);
    const r = record(c);
    c.resume();
    await runUntil(clock, () => r.closed);
    expect(r.data.equals(randomBytes(40_000, 1))).toBe(true);
    expect(r.ended).toBe(true);
    expect(r.hadError).toBe(false);
  });

  it('a paused reader with held data is closed (not left hanging) when the stack closes', async () => {
    const { clock, client, server } = netPair();
    server.net.createServer((s) => s.write(randomBytes(40_000, 2))).listen(5006);
    const c = client.net.connect(5006, SERVER);
    c.pause();
    await advance(clock, 1_000);
    expect(client.connections()[0].recvQ).toBeGreaterThan(0);
    const r = record(c);
    await client.close();
    c.resume();
    await runUntil(clock, () => r.closed);
    expect(r.ended).toBe(false);
  });

  it('is deterministic: the same seed gives the same run', async () => {
    const run = async () => {
      const data = randomBytes(200_000, 77);
      const impair = { seed: 77, loss: 0.03, reorder: 0.1, dup: 0.02, corrupt: 0.01, delay: 1 };
      const t = await transfer({ impair }, data);
      const row = t.client.connections()[0];
      return { at: t.clock.now(), retransmits: row.retransmits, stats: t.server.stats.tcp };
    };
    const a = await run();
    const b = await run();
    expect(a.retransmits).toBeGreaterThan(0);
    expect(b).toEqual(a);
  });

  it('property: every byte arrives once, in order, or the connection reports an error', async () => {
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fff_ffff }),
        fc.integer({ min: 0, max: 300_000 }),
        fc.record({
          loss: fc.constantFrom(0, 0.01, 0.05),
          reorder: fc.constantFrom(0, 0.05, 0.2),
          dup: fc.constantFrom(0, 0.02),
          corrupt: fc.constantFrom(0, 0.01),
        }),
        async (seed, size, faults) => {
          const data = randomBytes(size, seed);
          const t = await transfer({ impair: { seed, delay: 1, ...faults } }, data);
          if (t.clientError !== null || t.serverError !== null) {
            errors++;
            return; // reported, not silent
          }
          expect(t.received.length).toBe(size);
          expect(t.received.equals(data)).toBe(true);
        },
      ),
      { numRuns: 12, seed: Number(process.env.NET_PROP_SEED ?? 424_242), verbose: true },
    );
    // These fault rates are far from killing a connection: an error here would be a bug.
    expect(errors).toBe(0);
  });
});

describe('stack.net: echo property', () => {
  // Regression for B-H7-2 (fixed in the core by 1564768): after an RTO on both ends, pure ACKs
  // carried the rolled-back SND.NXT, each side found the other's ACK below its RCV.NXT and
  // dropped it, and the connection deadlocked. Now pure ACKs carry SND.MAX, as BSD's.
  it('an echo under 10 % loss recovers when both ends time out at once (seed 8)', async () => {
    const seed = 8;
    const { clock, client, server } = netPair({
      impair: { seed, loss: 0.1, dup: 0.02, delay: 1 },
      stack: { tcp: { conn: { rcvBuf: 8192 } } },
    });
    echoServer(server, 7);
    const c = client.net.connect(7, SERVER);
    const r = record(c);
    const data = randomBytes(83_352, seed);
    c.end(data);
    await runUntil(clock, () => r.closed, 300_000, 'echo at 10 % loss');
    expect(r.error).toBeNull();
    expect(r.data.equals(data)).toBe(true);
  });

  it('property: an echo of random chunks, with a reader that pauses, comes back exactly', async () => {
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fff_ffff }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 12 }),
        fc.record({
          loss: fc.constantFrom(0, 0.02),
          reorder: fc.constantFrom(0, 0.1),
          dup: fc.constantFrom(0, 0.02),
          rcvBuf: fc.constantFrom(8 * 1024, 64 * 1024, 256 * 1024),
          sndBuf: fc.constantFrom(8 * 1024, 256 * 1024),
          noDelay: fc.boolean(),
          pauseMs: fc.constantFrom(0, 50, 400),
        }),
        async (seed, sizes, o) => {
          const { clock, client, server } = netPair({
            impair: { seed, loss: o.loss, reorder: o.reorder, dup: o.dup, delay: 1 },
            stack: { tcp: { conn: { rcvBuf: o.rcvBuf, sndBuf: o.sndBuf } } },
          });
          echoServer(server, 7);
          const c = client.net.connect({ port: 7, host: SERVER, noDelay: o.noDelay });
          const r = record(c);
          const data = randomBytes(
            sizes.reduce((a, b) => a + b, 0),
            seed,
          );
          let off = 0;
          for (const n of sizes) {
            c.write(data.subarray(off, off + n));
            off += n;
          }
          c.end();
          // The reader stops now and then: the echo server's writes back up, both ways.
          let paused = false;
          const flip = () => {
            if (o.pauseMs === 0 || r.closed) return;
            paused = !paused;
            if (paused) c.pause();
            else c.resume();
            const t = client.timers.create(flip);
            t.schedule(clock.now() + o.pauseMs);
          };
          flip();
          await runUntil(clock, () => r.closed, 600_000, `echo seed ${seed}`);
          if (r.error !== null) {
            errors++;
            return;
          }
          expect(r.data.length).toBe(data.length);
          expect(r.data.equals(data)).toBe(true);
        },
      ),
      { numRuns: 10, seed: Number(process.env.NET_PROP_SEED ?? 777), endOnFailure: true },
    );
    expect(errors).toBe(0);
  });
});

describe("Node's http and ws on the stack", () => {
  it('serves GET and POST with keep-alive: two requests on one connection', async () => {
    const { clock, client, server } = netPair();
    const svc = serveHttp(server, 80, (req, res) => {
      let body = 0;
      req.on('data', (d: Buffer) => {
        body += d.length;
      });
      req.on('end', () => {
        res.setHeader('x-remote-port', String(req.socket.remotePort));
        res.end(`${req.method} ${req.url} ${body}`);
      });
    });
    await runFor(clock, svc.ready);
    // The agent's connections come from the client stack.
    const agent = new StackAgent(client, { keepAlive: true, maxSockets: 1 });
    const request = (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; text: string; port: string }>((resolve, reject) => {
        const req = http.request({ host: SERVER, port: 80, method, path, agent }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(parts).toString(),
              port: String(res.headers['x-remote-port']),
            }),
          );
        });
        req.on('error', reject);
        req.end(body);
      });
    const a = await runFor(clock, request('GET', '/first'));
    const body = randomBytes(200_000, 9);
    const b = await runFor(clock, request('POST', '/upload', body));
    expect(a).toMatchObject({ status: 200, text: 'GET /first 0' });
    expect(b).toMatchObject({ status: 200, text: 'POST /upload 200000' });
    expect(b.port).toBe(a.port); // the same connection served both
    expect(client.connections().filter((x) => x.state === 'ESTABLISHED')).toHaveLength(1);

    agent.destroy();
    await runFor(clock, svc.close());
    await runUntil(clock, () => onlyListenOrTimeWait(client) && onlyListenOrTimeWait(server));
    expect(server.connections().filter((x) => x.state === 'LISTEN')).toHaveLength(0);
  });

  it("closes an idle keep-alive connection after the server's keepAliveTimeout, in virtual time", async () => {
    const { clock, client, server } = netPair();
    const svc = serveHttp(server, 80, (_req, res) => res.end('ok'));
    svc.http.keepAliveTimeout = 5_000;
    await runFor(clock, svc.ready);
    const agent = new StackAgent(client, { keepAlive: true });
    const status = await runFor(
      clock,
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: SERVER, port: 80, path: '/', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      }),
    );
    expect(status).toBe(200);
    const start = clock.now();
    await advance(clock, 4_000);
    expect(client.connections().map((x) => x.state)).toEqual(['ESTABLISHED']);
    await runUntil(clock, () => client.connections().length === 0);
    // Node 20 arms the socket's timeout at keepAliveTimeout plus a 1 s buffer.
    expect(clock.now() - start).toBeGreaterThanOrEqual(5_000);
    expect(clock.now() - start).toBeLessThanOrEqual(6_100);
    agent.destroy();
  });

  it('20 POSTs over a lossy wire through a keep-alive agent: every body and answer intact', async () => {
    const { clock, client, server } = netPair({
      impair: { seed: 99, loss: 0.03, reorder: 0.05, dup: 0.02, corrupt: 0.01, delay: 3 },
    });
    const svc = serveHttp(server, 80, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => res.end(sha256(Buffer.concat(parts))));
    });
    await runFor(clock, svc.ready);
    const agent = new StackAgent(client, { keepAlive: true, maxSockets: 4 });
    const post = (body: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host: SERVER, port: 80, method: 'POST', agent }, (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(body);
      });
    const bodies = Array.from({ length: 20 }, (_, i) => randomBytes(500 + i * 3_000, i));
    const answers = await runFor(clock, Promise.all(bodies.map(post)), 600_000);
    expect(answers).toEqual(bodies.map(sha256));
    // Four connections served all twenty requests.
    expect(client.stats.tcp.layer).toMatchObject({ activeOpens: 4 });
    agent.destroy();
  });

  it('a one-shot http.request({ createConnection }) gets its response and the connection closes', async () => {
    const { clock, client, server } = netPair();
    const svc = serveHttp(server, 8080, (_req, res) => res.end('hello'));
    await runFor(clock, svc.ready);
    const text = await runFor(
      clock,
      new Promise<string>((resolve, reject) => {
        const req = http.request(
          { createConnection: () => client.net.connect(8080, SERVER) as never, path: '/' },
          (res) => {
            let s = '';
            res.on('data', (d) => {
              s += d;
            });
            res.on('end', () => resolve(s));
          },
        );
        req.on('error', reject);
        req.end();
      }),
    );
    expect(text).toBe('hello');
    await runUntil(clock, () => onlyListenOrTimeWait(client) && onlyListenOrTimeWait(server));
  });

  it('ws: WebSocketServer({ noServer }) + handleUpgrade on stack sockets', async () => {
    const { clock, client, server } = netPair();
    const svc = serveHttp(server, 80, (_req, res) => res.end());
    const wss = new WebSocketServer({ noServer: true });
    svc.http.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (m) => ws.send(`echo: ${m}`));
      });
    });
    await runFor(clock, svc.ready);
    const ws = new WebSocket(`ws://${SERVER}/chat`, {
      createConnection: () => client.net.connect(80, SERVER) as never,
    });
    const replies: string[] = [];
    ws.on('open', () => {
      ws.send('one');
      ws.send('two');
    });
    ws.on('message', (m) => replies.push(String(m)));
    await runUntil(clock, () => replies.length === 2);
    expect(replies).toEqual(['echo: one', 'echo: two']);
    let closed = false;
    ws.on('close', () => {
      closed = true;
    });
    ws.close(1000, 'done');
    await runUntil(clock, () => closed);
    await runUntil(clock, () => onlyListenOrTimeWait(client) && onlyListenOrTimeWait(server));
  });
});

/** A one-shot callback after `ms` on the stack's clock. */
function setTimeoutOnStack(stack: NetStack, ms: number, fn: () => void): void {
  const t = stack.timers.create(() => fn());
  t.schedule(stack.now() + ms);
}
