/**
 * A Server's connection count drops when an accepted socket is destroyed, before the socket's
 * 'close' (as net.Socket's _destroy does), with no listener added per socket.
 */
import { describe, expect, it } from 'vitest';
import type { Socket } from '../../src/api/net.ts';
import { netPair, runUntil, SERVER } from './fixture.ts';

describe('Server connection count', () => {
  it('is down by one inside the accepted socket’s close handler', async () => {
    const { clock, client, server } = netPair();
    let accepted: Socket | null = null;
    const srv = server.net.createServer((s) => {
      accepted = s;
    });
    srv.listen(80);
    const c = client.net.connect({ port: 80, host: SERVER });
    await runUntil(clock, () => accepted !== null, 5_000, 'accepted');
    const s = accepted as unknown as Socket;
    expect(s.listenerCount('close')).toBe(0); // the server keeps no listener on its sockets
    let countInClose = -1;
    s.on('close', () => {
      srv.getConnections((_err, n) => {
        countInClose = n;
      });
    });
    s.destroy();
    await runUntil(clock, () => countInClose !== -1, 5_000, 'close handler ran');
    expect(countInClose).toBe(0);
    c.destroy();
    srv.close();
    await client.close();
    await server.close();
  });
});
