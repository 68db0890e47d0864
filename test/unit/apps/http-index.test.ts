/**
 * The HTTP app's `/` by content negotiation: a browser (Accept naming text/html) gets the HTML
 * page with its links, curl (Accept: *\/*) and a client without Accept get the text page. Over
 * stack.net in virtual time: a client stack speaks raw HTTP/1.1 to startHttp on a server stack.
 */
import { describe, expect, it } from 'vitest';
import { type HttpAppHandle, type HttpAppOptions, startHttp } from '../../../src/apps/http.ts';
import { hostPort, prefersHtml, rowEndpoint } from '../../../src/apps/http-index.ts';
import { type AppFixture, runUntil, SERVER, servedApps } from '../../sim/fixture.ts';

const FIREFOX = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const CHROMIUM =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';

describe('prefersHtml', () => {
  it('is true for what browsers send', () => {
    expect(prefersHtml(FIREFOX)).toBe(true);
    expect(prefersHtml(CHROMIUM)).toBe(true);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml('TEXT/HTML; q=0.9, text/plain; q=0.5')).toBe(true);
  });

  it('is false for curl, no Accept, and text/html refused or ranked below text/plain', () => {
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('')).toBe(false);
    expect(prefersHtml('application/json')).toBe(false);
    expect(prefersHtml('text/html;q=0, */*')).toBe(false);
    expect(prefersHtml('text/plain, text/html;q=0.5')).toBe(false);
    expect(prefersHtml('text/*, text/html;q=0.5')).toBe(false);
    // A tie with text/plain named: the text, the default.
    expect(prefersHtml('text/plain, text/html')).toBe(false);
  });
});

type Fixture = AppFixture<HttpAppHandle>;
const serveApp = servedApps<HttpAppHandle>();

async function serve(options: HttpAppOptions = {}): Promise<Fixture> {
  return serveApp((server) => startHttp(server, 80, options));
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The client's end of the connection, "address:port". */
  local: string;
}

/** One `GET /` on its own connection, with `accept` as the Accept header (none if null). */
async function getIndex(f: Fixture, accept: string | null): Promise<Reply> {
  const socket = f.client.net.connect(80, SERVER);
  let raw = '';
  let ended = false;
  socket.on('data', (d: Buffer) => {
    raw += d.toString('utf8');
  });
  socket.on('end', () => {
    ended = true;
  });
  const acceptLine = accept === null ? '' : `Accept: ${accept}\r\n`;
  socket.write(`GET / HTTP/1.1\r\nHost: ${SERVER}\r\n${acceptLine}Connection: close\r\n\r\n`);
  await runUntil(f.clock, () => ended, 10_000, 'the response');
  const local = `${socket.localAddress}:${socket.localPort}`;
  socket.destroy();
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const h of headerLines) {
    const colon = h.indexOf(':');
    headers[h.slice(0, colon).toLowerCase()] = h.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4), local };
}

describe('GET / on the stack', () => {
  it('answers a browser with an HTML page linking to what there is to try', async () => {
    const f = await serve();
    const r = await getIndex(f, FIREFOX);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers.vary).toBe('Accept');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(r.body.startsWith('<!doctype html>')).toBe(true);
    expect(r.body).toContain(`<a href="http://${SERVER}:8080/">`);
    expect(r.body).toContain('<a href="/bytes/1000">');
    expect(r.body).toMatch(/<form [^>]*method="post" action="\/upload"/);
    expect(r.body).toContain('<input type="file"');
    expect(r.body).toContain('tunstack ss');
    expect(r.body).toContain('tunstack ladder');
    // The connection it came on: addresses, and its row of stack.connections().
    expect(r.body).toContain(`You are <code>${r.local}</code>`);
    expect(r.body).toContain(`this is <code>${SERVER}:80</code>`);
    expect(r.body).toContain('<tr><th>state</th><td>ESTABLISHED</td></tr>');
  });

  it('answers curl (Accept: */*) and a client without Accept with the text page', async () => {
    const f = await serve();
    for (const accept of ['*/*', null]) {
      const r = await getIndex(f, accept);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.headers.vary).toBe('Accept');
      const lines = r.body.split('\n');
      expect(lines[0]).toBe('tunstack: a userspace TCP/IP stack in TypeScript');
      expect(lines[1]).toBe(`you are ${r.local}, this is ${SERVER}:80`);
      expect(lines[2]).toMatch(/^connection: state=ESTABLISHED /);
      // The heart of the demo is named to curl users too.
      expect(r.body).toContain(`http://${SERVER}:8080/`);
      expect(r.body).not.toContain('<');
    }
  });

  it('escapes what it did not write itself', async () => {
    const f = await serve({ name: '<script>alert(1)</script>' });
    const r = await getIndex(f, 'text/html');
    expect(r.body).not.toContain('<script>alert');
    expect(r.body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  });
});

describe('hostPort and rowEndpoint', () => {
  it('brackets IPv6 addresses, and finds an IPv4-mapped peer under its IPv4 row', () => {
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('fd00::1', 80)).toBe('[fd00::1]:80');
    expect(hostPort('::ffff:10.0.0.1', 80)).toBe('[::ffff:10.0.0.1]:80');
    expect(rowEndpoint('::ffff:10.0.0.1', 5555)).toBe('10.0.0.1:5555');
    expect(rowEndpoint('fd00::1', 5555)).toBe('[fd00::1]:5555');
    expect(rowEndpoint('10.0.0.1', 5555)).toBe('10.0.0.1:5555');
  });
});
