/**
 * The styles demo's HTTP keep-alive with the kernel as the client: curl reuses one connection;
 * after `max` requests the server says `Connection: close` and closes; after `timeout` idle
 * seconds the stack sends its FIN (not a reset). Plus what ws answers to malformed upgrades.
 * After each test no connection is left half-way on either side (TIME_WAIT allowed).
 */
import { expect, it } from 'vitest';
import {
  KEEP_ALIVE_MAX,
  KEEP_ALIVE_TIMEOUT_MS,
  type StylesHandle,
  startStyles,
} from '../../src/apps/styles/index.ts';
import { kernelDescribe, STACK_ADDR, type StackFixture, withStack } from './harness.ts';
import { expectAllClosed } from './tcp-peers.ts';

const KA = `http://${STACK_ADDR}:8081/ka`;

function withStyles(fn: (fx: StackFixture, app: StylesHandle) => Promise<void>): Promise<void> {
  return withStack(async (fx) => {
    const app = await startStyles(fx.stack, { tickMs: 0 });
    try {
      await fn(fx, app);
    } finally {
      await app.close();
    }
    await expectAllClosed(fx.ns, fx.stack);
  });
}

const curl = (fx: StackFixture, args: readonly string[], timeoutMs = 20_000) =>
  fx.exec(['curl', '-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeoutMs });

/** The stack's connections on the keep-alive port (not its listener). */
const keepAliveRows = (fx: StackFixture) =>
  fx.stack.connections().filter((c) => c.local.endsWith(':8081') && c.state !== 'LISTEN');

/** The /ka answers in curl's stdout, one JSON object per line. */
const answers = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { remote: string; n: number; last: boolean });

kernelDescribe('styles demo: HTTP keep-alive with curl', () => {
  it('curl -v URL URL: both requests on one connection, Keep-Alive: timeout=5, max=100', async () => {
    await withStyles(async (fx, app) => {
      const r = await curl(fx, ['-v', KA, KA]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.match(/Connected to /g)).toHaveLength(1);
      expect(r.stderr).toMatch(/Re-using existing connection/);
      expect(r.stderr.match(/< Keep-Alive: timeout=5, max=100\r?\n/g)).toHaveLength(2);
      const [a, b] = answers(r.stdout);
      expect(b.remote).toBe(a.remote);
      expect([a.n, b.n]).toEqual([1, 2]);
      expect(app.totals().keepalive.connections).toBe(1);
    });
  });

  it(`curl: after ${KEEP_ALIVE_MAX} requests Connection: close, and the next request opens a new connection`, async () => {
    await withStyles(async (fx, app) => {
      const n = KEEP_ALIVE_MAX + 1;
      const r = await curl(fx, ['-v', `${KA}?i=[1-${n}]`], 30_000);
      expect(r.code, r.stderr).toBe(0);
      const got = answers(r.stdout);
      expect(got).toHaveLength(n);
      expect(got[KEEP_ALIVE_MAX - 1]).toMatchObject({ n: KEEP_ALIVE_MAX, last: true });
      expect(got[KEEP_ALIVE_MAX]).toMatchObject({ n: 1, last: false });
      expect(new Set(got.slice(0, KEEP_ALIVE_MAX).map((a) => a.remote)).size).toBe(1);
      expect(got[KEEP_ALIVE_MAX].remote).not.toBe(got[0].remote);
      expect(r.stderr.match(/Connected to /g)).toHaveLength(2);
      expect(r.stderr.match(/< Connection: close\r?\n/g)).toHaveLength(1);
      expect(app.totals().keepalive.connections).toBe(2);
    });
  });

  it(`the server itself closes after ${KEEP_ALIVE_MAX} requests (a client that keeps asking)`, async () => {
    await withStyles(async (fx) => {
      // Request after request on one socket, never closing it: the server must end it.
      const script = `
        const s = require('node:net').connect(8081, '${STACK_ADDR}');
        let buf = '', answered = 0, lastHead = '', t0 = 0;
        const ask = () => s.write('GET /ka HTTP/1.1\\r\\nHost: demo\\r\\n\\r\\n');
        s.on('data', (d) => {
          buf += d;
          for (let i; (i = buf.indexOf('}\\n')) >= 0; ) {
            lastHead = buf.slice(0, buf.indexOf('\\r\\n\\r\\n'));
            buf = buf.slice(i + 2);
            answered++;
            if (!/Connection: close/i.test(lastHead)) ask();
            else t0 = Date.now();
          }
        });
        s.on('end', () => { console.log(JSON.stringify({ answered, lastHead, ms: Date.now() - t0 })); s.end(); });
        s.on('error', (e) => console.log(JSON.stringify({ error: e.code })));
        ask();`;
      const r = await fx.node(script, [], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as { answered: number; lastHead: string; ms: number };
      expect(out.answered).toBe(KEEP_ALIVE_MAX);
      expect(out.lastHead).toMatch(/\r\nConnection: close(\r\n|$)/);
      // At once, not after the idle timeout: anything well under KEEP_ALIVE_TIMEOUT_MS tells the
      // two apart, and a loaded 2-core CI machine needs the room.
      expect(out.ms).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS / 2);
      expect(keepAliveRows(fx).map((c) => c.state)).toEqual(['TIME_WAIT']);
    });
  });

  it('an idle connection is closed by the stack after 5 s: FIN, not RST', async () => {
    await withStyles(async (fx) => {
      // One request, then read until the server ends the connection; time it from the answer.
      const script = `
          const s = require('node:net').connect(8081, '${STACK_ADDR}');
          let t0 = 0, head = '';
          s.on('data', (d) => { head += d; if (!t0 && head.includes('\\r\\n\\r\\n')) t0 = Date.now(); });
          s.on('end', () => { console.log(JSON.stringify({ idleMs: Date.now() - t0 })); s.end(); });
          s.on('error', (e) => console.log(JSON.stringify({ error: e.code })));
          s.write('GET /ka HTTP/1.1\\r\\nHost: demo\\r\\n\\r\\n');`;
      const r = await fx.node(script, [], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as { idleMs?: number; error?: string };
      expect(out.error).toBeUndefined();
      // Not before the idle timeout (the behaviour); the upper bound only tells "closed by the
      // timer" from "never closed" and leaves room for a loaded machine.
      expect(out.idleMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 100);
      expect(out.idleMs).toBeLessThan(2 * KEEP_ALIVE_TIMEOUT_MS);
      // We sent the first FIN: our end waits in TIME_WAIT (RFC 9293 §3.6), the kernel's not.
      expect(keepAliveRows(fx).map((c) => c.state)).toEqual(['TIME_WAIT']);
    });
  }, 20_000);

  it('malformed WebSocket upgrades are answered 400 (no key, bad key, bad version)', async () => {
    await withStyles(async (fx) => {
      const ws = `http://${STACK_ADDR}:8085/ws`;
      const up = ['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket'];
      const status = async (headers: string[]) => {
        const r = await curl(fx, [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          ...up,
          ...headers,
          ws,
        ]);
        return r.stdout;
      };
      expect(await status(['-H', 'Sec-WebSocket-Version: 13'])).toBe('400');
      expect(
        await status(['-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: short']),
      ).toBe('400');
      expect(
        await status([
          '-H',
          'Sec-WebSocket-Version: 7',
          '-H',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ]),
      ).toBe('400');
    });
  });
}, ['curl']);
