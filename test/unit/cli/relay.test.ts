/**
 * The pure parts of `tunstack relay` (src/cli/relay.ts, src/cli/relay-ss.ts): the egress
 * resolver from resolv.conf, the exit summary and `tunstack ss`'s relayed-flow table.
 */
import { describe, expect, it } from 'vitest';
import { firstNameserver, formatSummary } from '../../../src/cli/relay.ts';
import { formatRelayFlows } from '../../../src/cli/relay-ss.ts';
import type { EchoRelayStats } from '../../../src/relay/icmp.ts';
import type { TcpFlowRow, TcpRelayStats } from '../../../src/relay/tcp.ts';
import type { UdpFlowRow, UdpRelayStats } from '../../../src/relay/udp.ts';

const tcpRow = (over: Partial<TcpFlowRow>): TcpFlowRow => ({
  id: 1,
  client: '10.0.2.100:40000',
  dst: '10.9.0.1:80',
  upstreamLocal: '10.9.0.1:51000',
  upstreamRemote: '10.9.0.1:80',
  state: 'closed',
  bytesUp: 81,
  bytesDown: 104_857_600,
  startedAt: 1_000,
  endedAt: 2_500,
  retransmits: 3,
  stackState: 'TIME_WAIT',
  ...over,
});

const udpRow: UdpFlowRow = {
  client: '10.0.2.100:53000',
  dst: '10.0.2.3:53',
  upstream: '10.9.0.1:53',
  datagramsUp: 2,
  datagramsDown: 2,
  bytesUp: 60,
  bytesDown: 92,
  startedAt: 1_000,
  endedAt: null,
};

const zeroTcp: TcpRelayStats = {
  dials: 1,
  connected: 1,
  refused: 0,
  unreachable: 0,
  timedOut: 0,
  failed: 0,
  flowsFull: 0,
  idleClosed: 0,
  resets: 0,
  bytesUp: 81,
  bytesDown: 104_857_600,
};
const udpStats = { flowsOpened: 1, dnsQueries: 2, bytesUp: 60, bytesDown: 92 } as UdpRelayStats;
const icmpStats = { requests: 0 } as EchoRelayStats;

describe('relay: the egress resolver', () => {
  it('takes the first IPv4 nameserver of a resolv.conf, skipping comments and IPv6', () => {
    const text =
      '# generated\nsearch example\nnameserver ::1\nnameserver 10.9.0.53\nnameserver 1.1.1.1\n';
    expect(firstNameserver(text)).toBe('10.9.0.53');
    expect(firstNameserver('options ndots:1\n')).toBeNull();
  });
});

describe('relay: the exit summary', () => {
  it('names each flow: destination, client, bytes each way, duration, retransmissions, end', () => {
    const out = formatSummary([tcpRow({})], [udpRow], {
      tcp: zeroTcp,
      udp: udpStats,
      icmp: icmpStats,
    });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'relay: 1 TCP dials (1 connected, 0 refused, 0 unreachable), 1 UDP flows (2 DNS queries), ' +
        '0 pings; up 141 B, down 100.0 MiB',
    );
    expect(lines[1]).toMatch(
      /^proto\s+destination\s+flows\s+up\s+down\s+duration\s+retrans\s+end$/,
    );
    expect(lines[2]).toMatch(
      /^tcp\s+10\.9\.0\.1:80 \(from 10\.0\.2\.100:40000\)\s+1\s+81 B\s+100\.0 MiB\s+1\.50 s\s+3\s+closed$/,
    );
    expect(lines[3]).toMatch(/^udp\s+10\.0\.2\.3:53 → 10\.9\.0\.1:53\s+1\s+60 B\s+92 B$/);
  });

  it('groups by destination past maxLines flows, and says how many more', () => {
    const rows = Array.from({ length: 30 }, (_, i) =>
      tcpRow({ id: i, dst: `10.9.0.${1 + (i % 25)}:80`, client: `10.0.2.100:${40_000 + i}` }),
    );
    const out = formatSummary(rows, [], { tcp: zeroTcp, udp: udpStats, icmp: icmpStats }, 20);
    expect(out).toContain('… 5 more');
    expect(out).not.toContain('(from');
    expect(out).toMatch(/^tcp\s+10\.9\.0\.1:80\s+2\s/m);
  });
});

describe('relay: tunstack ss', () => {
  it('prints open flows with both sides, bytes and retransmissions', () => {
    const out = formatRelayFlows({
      tcp: [tcpRow({ state: 'open', endedAt: null, stackState: 'ESTABLISHED' }), tcpRow({ id: 2 })],
      udp: [udpRow],
    });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('Relayed flows: 1 TCP, 1 UDP');
    expect(lines[2]).toMatch(
      /^tcp\s+open\s+10\.0\.2\.100:40000\s+10\.9\.0\.1:80\s+ESTABLISHED\s+10\.9\.0\.1:51000>10\.9\.0\.1:80\s+81\s+104857600\s+3$/,
    );
    expect(out).toContain('10.0.2.3:53');
    expect(formatRelayFlows({ tcp: [tcpRow({})], udp: [] }, true)).toContain('closed');
  });
});
