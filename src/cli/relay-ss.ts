/**
 * `tunstack ss` for a running `tunstack relay`: each relayed flow with both of its sides, the
 * client ↔ stack leg (the client's address and the one it dialled) and the stack ↔ upstream leg
 * (the kernel socket on the egress side), its state and bytes each way.
 */
import type { TcpFlowRow } from '../relay/tcp.ts';
import type { UdpFlowRow } from '../relay/udp.ts';

/** What the relay's control socket answers to `relay` (src/cli/relay.ts). */
export interface RelayAnswer {
  tcp: TcpFlowRow[];
  udp: UdpFlowRow[];
}

function table(head: readonly string[], cells: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => x.padEnd(widths[i]))
      .join(' ')
      .trimEnd();
  return [line(head), ...cells.map(line)];
}

/** The relayed flows, open ones (those not ended) only unless `all`. Ends with a newline. */
export function formatRelayFlows(a: RelayAnswer, all = false): string {
  const tcp = a.tcp.filter((r) => all || r.endedAt === null);
  const udp = a.udp.filter((r) => all || r.endedAt === null);
  const out = [`Relayed flows: ${tcp.length} TCP, ${udp.length} UDP`];
  if (tcp.length > 0) {
    out.push(
      ...table(
        [
          'Proto',
          'State',
          'Client',
          'Dialled',
          'Stack-side',
          'Upstream (egress)',
          'Up',
          'Down',
          'Retrans',
        ],
        tcp.map((r) => [
          'tcp',
          r.state,
          r.client,
          r.dst,
          r.stackState ?? '-',
          r.upstreamLocal === null ? '-' : `${r.upstreamLocal}>${r.upstreamRemote}`,
          String(r.bytesUp),
          String(r.bytesDown),
          String(r.retransmits),
        ]),
      ),
    );
  }
  if (udp.length > 0) {
    out.push(
      ...table(
        ['Proto', 'Client', 'Dialled', 'Upstream (egress)', 'Up', 'Down'],
        udp.map((r) => [
          'udp',
          r.client,
          r.dst,
          r.upstream,
          `${r.bytesUp} (${r.datagramsUp} dgrams)`,
          `${r.bytesDown} (${r.datagramsDown} dgrams)`,
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
