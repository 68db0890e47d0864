// An echo server on a tunstack stack, and a client on a second stack, joined by a simulated
// wire (SimLink): two TCP/IP stacks inside one Node process, no TUN device and no root needed.
//
//   node examples/echo-server.mjs
//
// Over a real device, the server stack would take `await TunLink.open({ netns, hostAddress })`
// instead of one end of the SimLink pair, and the kernel would be its peer.
import { createStack, realClock, SimLink } from 'tunstack';

const [clientEnd, serverEnd] = SimLink.pair(realClock, { delayMs: 1 });
const server = createStack({ link: serverEnd, address: '10.0.0.2' });
const client = createStack({ link: clientEnd, address: '10.0.0.1' });

// The server: node:net's createServer, on the stack's TCP.
const echo = server.net.createServer((socket) => socket.pipe(socket));
echo.listen(7, () => {
  const { address, port } = echo.address();
  console.log(`echo server listening on ${server.address}:${port} (${address})`);

  // The client: node:net's connect, from the other stack.
  const socket = client.net.connect(7, '10.0.0.2', () => {
    console.log(`connected from ${socket.localAddress}:${socket.localPort}`);
    socket.end('hello through two userspace TCP stacks\n');
  });
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (text) => {
    reply += text;
  });
  socket.on('close', async () => {
    console.log(`echoed: ${reply.trimEnd()}`);
    const { txSegments, rxSegments } = client.stats.tcp;
    console.log(`client TCP segments: ${txSegments} sent, ${rxSegments} received`);
    await Promise.all([client.close(), server.close()]);
  });
  socket.on('error', (err) => {
    console.error(`client error: ${err.code}`);
    process.exitCode = 1;
  });
});
