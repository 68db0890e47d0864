/**
 * The HTTP app's `/` page in two representations (RFC 9110 §12, proactive negotiation on
 * Accept): plain text for curl and scripts, a small HTML page for a browser. Both name the stack
 * and the connection the request came on; the HTML one links to what there is to try (the
 * connection-styles page, /bytes/N, an upload form) and says how to watch the connections.
 */
import { formatStateHistory, type TcpStateChange } from '../tcp/history.ts';
import type { StreamSocket } from './serve.ts';
import { STYLES_PORT } from './styles/common.ts';

/** What the `/` page shows about its connection: a row of stack.connections(), or undefined. */
export type ConnectionRow = Readonly<Record<string, unknown>> | undefined;

/** "address:port", "[address]:port" for an IPv6 address (as `ss` prints them). */
export function hostPort(address: string | undefined, port: number | undefined): string {
  return address?.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The row key of an end: an IPv4-mapped address ('::ffff:10.0.0.1', an IPv4 peer of a '::'
 * listener) is the IPv4 connection it stands for in stack.connections().
 */
export function rowEndpoint(address: string | undefined, port: number | undefined): string {
  return hostPort(unmapped(address), port);
}

/** '10.0.0.1' for '::ffff:10.0.0.1' (an IPv4 peer of a '::' listener), else `address`. */
function unmapped(address: string | undefined): string | undefined {
  const m = address === undefined ? null : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m === null ? address : m[1];
}

/** The host of a URL to our address: IPv4 as itself (mapped or not), IPv6 in brackets. */
function urlHost(address: string | undefined): string {
  const a = unmapped(address) ?? 'localhost';
  return a.includes(':') ? `[${a}]` : a;
}

/** Row fields already on the page's "you are ..., this is ..." line. */
const ADDRESS_FIELDS = new Set(['local', 'remote']);

/**
 * True when `accept` asks for text/html by name, with a q above 0 and at least the q it gives
 * text/plain (named, or through text/* or *\/*). A browser sends `text/html,...,*\/*;q=0.8`;
 * curl sends `*\/*`, and an absent header means anything: both keep the text.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let html: number | null = null;
  let plain: number | null = null;
  let textAny: number | null = null;
  let any: number | null = null;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q=([01](?:\.\d{0,3})?)$/.exec(p);
      if (m !== null) q = Math.min(1, Number(m[1]));
    }
    if (range === 'text/html') html = Math.max(html ?? 0, q);
    else if (range === 'text/plain') plain = Math.max(plain ?? 0, q);
    else if (range === 'text/*') textAny = Math.max(textAny ?? 0, q);
    else if (range === '*/*') any = Math.max(any ?? 0, q);
  }
  if (html === null || html === 0) return false;
  const plainQ = plain ?? textAny ?? any ?? 0;
  // A tie with text/plain named as well: the text, which is the default.
  return plain === null ? html >= plainQ : html > plainQ;
}

/** The row's fields as `key=value` pairs, addresses and empty fields left out. */
function connectionFields(row: ConnectionRow): [string, string][] {
  if (row === undefined) return [];
  return Object.entries(row)
    .filter(([k, v]) => !ADDRESS_FIELDS.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => [k, k === 'history' ? formatStateHistory(v as TcpStateChange[]) : String(v)]);
}

/** The text page: for curl. */
export function textIndexPage(name: string, socket: StreamSocket, row: ConnectionRow): string {
  const lines = [
    `${name}: a userspace TCP/IP stack in TypeScript`,
    `you are ${rowEndpoint(socket.remoteAddress, socket.remotePort)}, this is ${rowEndpoint(socket.localAddress, socket.localPort)}`,
  ];
  if (row !== undefined) {
    const shown = connectionFields(row).map(([k, v]) => `${k}=${v}`);
    lines.push(`connection: ${shown.join(' ')}`);
  }
  const here = urlHost(socket.localAddress);
  lines.push(
    '',
    'try: /bytes/N (N bytes), POST /upload (length and sha256 of the body)',
    `and in a browser: http://${here}:${STYLES_PORT}/, keep-alive, polling, SSE and WebSocket side by side`,
    '',
  );
  return lines.join('\n');
}

/** The HTML page: for a browser. */
export function htmlIndexPage(name: string, socket: StreamSocket, row: ConnectionRow): string {
  const here = urlHost(socket.localAddress);
  const styles = `http://${here}:${STYLES_PORT}/`;
  const fields = connectionFields(row);
  const table =
    fields.length === 0
      ? ''
      : `<table>\n${fields.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</table>\n`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(name)}</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
code, pre, table { font-family: ui-monospace, monospace; font-size: 0.9em; }
th { text-align: left; padding-right: 1rem; font-weight: normal; color: #555; }
pre { background: #f4f4f4; padding: 0.5rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>${esc(name)}</h1>
<p>A userspace TCP/IP stack in TypeScript. You are <code>${esc(rowEndpoint(socket.remoteAddress, socket.remotePort))}</code>,
this is <code>${esc(rowEndpoint(socket.localAddress, socket.localPort))}</code>.</p>
${fields.length === 0 ? '' : '<h2>This connection</h2>\n'}${table}
<h2>Try</h2>
<ul>
<li><a href="${esc(styles)}">The connection styles</a>: keep-alive, short and long polling,
Server-Sent Events and WebSocket side by side, each with the TCP connections, segments and bytes
it costs.</li>
<li><a href="/bytes/1000">/bytes/1000</a>, <a href="/bytes/10000000">/bytes/10000000</a>:
<code>/bytes/N</code> streams N bytes.</li>
<li>Upload a file: the stack answers its length and SHA-256.
<form id="upload" method="post" action="/upload" enctype="multipart/form-data">
<input type="file" name="file" required> <button>Upload</button>
</form>
<pre id="result" hidden></pre></li>
</ul>
<h2>Watch the connections</h2>
<p>From a terminal on the host:</p>
<pre>tunstack ss -i                           # the table: state, rtt, cwnd, bytes, state history
tunstack ladder --live                   # the last packets as a ladder (up with --record 500)
ip netns exec tunstack tcpdump -ni tun0  # every packet, seen from the kernel's side</pre>
<script>
// Send the file itself (not a multipart body), so the SHA-256 matches sha256sum's.
document.getElementById('upload').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = e.target.elements.file.files[0];
  const out = document.getElementById('result');
  out.hidden = false;
  out.textContent = 'uploading ' + file.size + ' bytes...';
  const r = await fetch('/upload', { method: 'POST', body: file });
  out.textContent = await r.text();
});
</script>
</body>
</html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
