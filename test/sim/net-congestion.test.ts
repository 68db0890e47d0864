/**
 * Congestion control chosen per connection: `stack.net.connect({ congestion })` and
 * `createServer({ congestion })` override the stack's default (TcpLayerOptions.conn).
 */
import { describe, expect, it } from 'vitest';
import { CLIENT, netPair, runUntil, SERVER } from './fixture.ts';

describe('per-connection congestion control', () => {
  it('connect and createServer options win over the stack default', async () => {
    const { clock, client, server } = netPair({ stack: { tcp: { conn: { congestion: 'reno' } } } });
    const srv = server.net.createServer({ congestion: 'cubic' }, () => {});
    srv.listen(80);
    const plain = server.net.createServer(() => {});
    plain.listen(81);
    const a = client.net.connect({ port: 80, host: SERVER, congestion: 'cubic' });
    const b = client.net.connect({ port: 81, host: SERVER });
    let up = 0;
    a.on('connect', () => up++);
    b.on('connect', () => up++);
    await runUntil(clock, () => up === 2, 5_000, 'both connected');
    const toServer = (port: number) =>
      client.connections().find((r) => r.remote === `${SERVER}:${port}`)?.congestion;
    expect(toServer(80)).toBe('cubic');
    expect(toServer(81)).toBe('reno');
    const serverRows = server.connections().filter((r) => r.state !== 'LISTEN');
    expect(serverRows.find((r) => r.local === `${SERVER}:80`)?.congestion).toBe('cubic');
    expect(serverRows.find((r) => r.local === `${SERVER}:81`)?.congestion).toBe('reno');
    expect(serverRows.every((r) => r.remote.startsWith(`${CLIENT}:`))).toBe(true);
    a.destroy();
    b.destroy();
    srv.close();
    plain.close();
    await client.close();
    await server.close();
  });
});
