/**
 * TCP between the Linux kernel (curl, Node programs in the namespace) and the stack: HTTP with
 * curl, keep-alive, 200 connections at once, refused connections both ways, a reset when the
 * kernel peer dies, and half-close both ways. After each test neither side may hold a connection
 * in a non-final state (TIME-WAIT allowed): `ss -tan` in the namespace and stack.connections().
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startEcho } from '../../src/apps/echo.ts';
import { startHttp } from '../../src/apps/http.ts';
import { countingChunk } from '../../src/apps/pump.ts';
import { HOST_ADDR, kernelDescribe, STACK_ADDR, type StackFixture, withStack } from './harness.ts';
import {
  ECHO_CLIENTS,
  ECHO_SERVER,
  expectAllClosed,
  SINK_SERVER,
  startKernelServer,
} from './tcp-peers.ts';

/** withStack, then the check that every connection on both sides is finished. */
function withTcpStack(fn: (fx: StackFixture) => Promise<void>): Promise<void> {
  return withStack(async (fx) => {
    await fn(fx);
    await expectAllClosed(fx.ns, fx.stack);
  });
}

const curl = (fx: StackFixture, args: readonly string[], timeoutMs = 20_000) =>
  fx.exec(['curl', '-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeoutMs });

kernelDescribe('tcp: the kernel and the stack', () => {
  it('curl GET /: the page names the stack and the connection it came on', async () => {
    await withTcpStack(async (fx) => {
      const app = await startHttp(fx.stack, 80);
      const r = await curl(fx, ['-i', `http://${STACK_ADDR}/`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(r.stdout).toMatch(/tunstack: a userspace TCP\/IP stack/);
      expect(r.stdout).toMatch(
        new RegExp(`you are ${HOST_ADDR}:\\d+, this is ${STACK_ADDR}:80\\n`),
      );
      expect(r.stdout).toMatch(/connection: state=ESTABLISHED .*bytesReceived=\d+/);
      await app.close();
    });
  });

  it('curl POST /upload (8 MB file): length and sha256 match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tunstack-tcp-'));
    try {
      const data = randomBytes(8 * 1024 * 1024 + 3);
      const file = join(dir, 'body');
      await writeFile(file, data);
      await withTcpStack(async (fx) => {
        const app = await startHttp(fx.stack, 80);
        const r = await curl(fx, ['--data-binary', `@${file}`, `http://${STACK_ADDR}/upload`]);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({
          length: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        });
        await app.close();
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('curl GET /bytes/N: 50 MB streamed, byte k = k mod 256 (sha256 checked)', async () => {
    await withTcpStack(async (fx) => {
      const app = await startHttp(fx.stack, 80);
      const n = 50_000_000;
      const r = await fx.exec(
        ['sh', '-c', `curl -sS --max-time 60 http://${STACK_ADDR}/bytes/${n} | sha256sum`],
        { timeoutMs: 70_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const want = createHash('sha256');
      const chunk = countingChunk(1 << 20);
      for (let left = n; left > 0; left -= chunk.length) {
        want.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
      }
      expect(r.stdout.split(' ')[0]).toBe(want.digest('hex'));
      await app.close();
    });
  });

  it('curl URL URL reuses one connection (keep-alive)', async () => {
    await withTcpStack(async (fx) => {
      const app = await startHttp(fx.stack, 80);
      const before = fx.stack.tcp.stats.accepted;
      const url = `http://${STACK_ADDR}/bytes/100000`;
      const r = await curl(fx, [
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-w',
        '%{num_connects} %{size_download}\\n',
        url,
        url,
      ]);
      expect(r.code, r.stderr).toBe(0);
      // num_connects: new connections made for each transfer (the second one reuses).
      expect(r.stdout.trim().split('\n')).toEqual(['1 100000', '0 100000']);
      expect(fx.stack.tcp.stats.accepted - before).toBe(1);
      expect(app.requests).toBe(2);
      await app.close();
    });
  });

  it('200 concurrent connections to echo, each its own bytes back', async () => {
    await withTcpStack(async (fx) => {
      const app = await startEcho(fx.stack.net, 7);
      const r = await fx.node(ECHO_CLIENTS, [STACK_ADDR, '7', '200', '20000'], {
        timeoutMs: 30_000,
      });
      const out = JSON.parse(r.stdout) as { ok: number; bad: number; errors: object };
      expect(out, r.stderr).toMatchObject({ ok: 200, bad: 0, errors: {} });
      expect(app.stats.connections).toBe(200);
      await app.close();
    });
  });

  it('connection refused: curl to a closed stack port', async () => {
    await withTcpStack(async (fx) => {
      const r = await curl(fx, [`http://${STACK_ADDR}:8080/`]);
      expect(r.code).toBe(7); // CURLE_COULDNT_CONNECT
      expect(r.stderr).toMatch(/Connection refused|Couldn't connect/);
    });
  });

  it('connection refused: stack client to a closed kernel port gets ECONNREFUSED', async () => {
    await withTcpStack(async (fx) => {
      const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        const s = fx.stack.net.connect(9, HOST_ADDR);
        s.on('connect', () => reject(new Error('connected to a closed port')));
        s.on('error', resolve);
      });
      expect(err).toMatchObject({
        code: 'ECONNREFUSED',
        syscall: 'connect',
        address: HOST_ADDR,
        port: 9,
        message: `connect ECONNREFUSED ${HOST_ADDR}:9`,
      });
    });
  });

  it('the kernel peer killed mid-transfer: ECONNRESET on the stack side', async () => {
    await withTcpStack(async (fx) => {
      const sink = await startKernelServer(fx.ns, SINK_SERVER, HOST_ADDR, 0);
      try {
        // Write until the connection fails. A process killed with unread data makes its kernel
        // send a RST; one killed with its buffer just drained sends a FIN first, and then a RST
        // for the next segment we send: either way the stack's socket must end in ECONNRESET,
        // never close as if the transfer had been taken whole.
        let written = 0;
        let killed = false;
        const chunk = randomBytes(65_536);
        const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
          const s = fx.stack.net.connect({ port: sink.port, host: HOST_ADDR, allowHalfOpen: true });
          const pump = (): void => {
            while (!s.destroyed && written < 1 << 30) {
              written += chunk.length;
              if (!killed && written >= 4 * 1024 * 1024) {
                killed = true;
                sink.kill('SIGKILL');
              }
              if (!s.write(chunk)) {
                s.once('drain', pump);
                return;
              }
            }
          };
          s.on('connect', pump);
          s.resume();
          s.on('error', (e: NodeJS.ErrnoException) => resolve(e));
          s.on('close', () => resolve(null));
        });
        expect(killed).toBe(true);
        expect(err).toMatchObject({ code: 'ECONNRESET' });
      } finally {
        sink.kill();
        await sink.exited;
      }
    });
  });

  it('half-close: a kernel client ends, then reads the whole echo from the stack', async () => {
    await withTcpStack(async (fx) => {
      const app = await startEcho(fx.stack.net, 7);
      const r = await fx.node(ECHO_CLIENTS, [STACK_ADDR, '7', '1', String(2 * 1024 * 1024)], {
        timeoutMs: 30_000,
      });
      expect(JSON.parse(r.stdout), r.stderr).toMatchObject({ ok: 1, bad: 0, errors: {} });
      await app.close();
    });
  });

  it('half-close: the stack ends, then reads the whole echo from the kernel', async () => {
    await withTcpStack(async (fx) => {
      const echo = await startKernelServer(fx.ns, ECHO_SERVER, HOST_ADDR, 0);
      try {
        const data = randomBytes(2 * 1024 * 1024);
        const back = await new Promise<Buffer>((resolve, reject) => {
          const s = fx.stack.net.connect({ port: echo.port, host: HOST_ADDR, allowHalfOpen: true });
          const parts: Buffer[] = [];
          s.on('connect', () => s.end(data));
          s.on('data', (d: Buffer) => parts.push(d));
          s.on('end', () => resolve(Buffer.concat(parts)));
          s.on('error', reject);
        });
        expect(back.length).toBe(data.length);
        expect(back.equals(data)).toBe(true);
      } finally {
        echo.kill();
        await echo.exited;
      }
    });
  });
}, ['curl']);
