// An HTTP request through tunstack: Node's own http client on one stack's TCP, talking to Node's
// own http.Server on a second stack, the two joined by a simulated wire (SimLink). No TUN device
// and no root needed.
//
//   node examples/http-client.mjs
//
// node:http takes any socket from `createConnection`; here it is `client.net.createConnection`,
// so the request leaves through the userspace stack instead of the kernel's.
import http from 'node:http';
import { createStack, realClock, SimLink, serveHttp } from 'tunstack';

const [clientEnd, serverEnd] = SimLink.pair(realClock, { delayMs: 1 });
const server = createStack({ link: serverEnd, address: '10.0.0.2' });
const client = createStack({ link: clientEnd, address: '10.0.0.1' });

// The server: an unmodified http.Server fed the stack's connections (serveHttp).
const web = serveHttp(server, 80, (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello ${req.socket.remoteAddress}:${req.socket.remotePort}, you asked for ${req.url}\n`);
});
await web.ready;

// The client: http.get, its connection made by the client stack.
const body = await new Promise((resolve, reject) => {
  const req = http.get(
    {
      host: '10.0.0.2',
      port: 80,
      path: '/tunstack',
      createConnection: (options) =>
        client.net.createConnection({ host: options.host, port: Number(options.port) }),
    },
    (res) => {
      console.log(`HTTP ${res.statusCode} ${res.headers['content-type']}`);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve(text));
    },
  );
  req.on('error', reject);
});
process.stdout.write(body);

console.log('connections on the server stack:');
for (const row of server.connections()) console.log(`  ${row.state} ${row.local} ${row.remote}`);

await web.close();
await Promise.all([client.close(), server.close()]);
