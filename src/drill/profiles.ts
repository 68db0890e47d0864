/**
 * Profiles: where the RFCs allow more than one choice, which one the drill target makes.
 *
 * `rfc` (the default) takes the standards-track choice; `linux` takes Linux's. Scripts in
 * test/drill are written for `rfc`. What `linux` does not (yet) reproduce is listed in
 * test/drill/README.md ("Differences from Linux").
 */
import type { TcpConnectionOptions } from '../tcp/options.ts';

export type ProfileName = 'rfc' | 'linux';

export const PROFILE_NAMES: readonly ProfileName[] = ['rfc', 'linux'];

/**
 * RFC 5681 §3.1 initial window for a given SMSS: 2 to 4 segments,
 * IW = min(4*SMSS, max(2*SMSS, 4380 bytes)), in whole segments.
 */
export function rfc5681InitialWindow(smss: number): number {
  return Math.floor(Math.min(4 * smss, Math.max(2 * smss, 4380)) / smss);
}

export const PROFILES: Readonly<Record<ProfileName, Partial<TcpConnectionOptions>>> = Object.freeze(
  {
    rfc: {
      mss: 1460,
      // RFC 5681 §3.1 (standards track) rather than RFC 6928's experimental IW10: 3 segments.
      initialWindow: rfc5681InitialWindow(1460),
      // RFC 6298 §2.1 and §2.4: initial RTO 1 s, RTO never below 1 s.
      initialRto: 1000,
      minRto: 1000,
      // RFC 9293 §3.8.6.3 (RFC 1122 §4.2.3.2): delay under 0.5 s, ACK every second full segment.
      delayedAckMs: 40,
      congestion: 'reno',
    },
    linux: {
      mss: 1460,
      // RFC 6928, Linux's TCP_INIT_CWND.
      initialWindow: 10,
      // Linux TCP_TIMEOUT_INIT and TCP_RTO_MIN.
      initialRto: 1000,
      minRto: 200,
      // Linux TCP_DELACK_MIN (its delayed-ACK timer then adapts between 40 and 200 ms).
      delayedAckMs: 40,
      // Linux sizes its window scale from tcp_rmem[2]: 15 MiB under packetdrill's
      // gtests/net/common/defaults.sh, which Linux's own scripts assume (wscale 8).
      rcvBuf: 15 * 1024 * 1024,
      congestion: 'cubic',
      // Linux's quick-ACK and interactive ("pingpong") ACK modes.
      quickAck: true,
      // Linux's tcp_early_retrans default (3; packetdrill's defaults.sh sets 4): tail loss probes.
      tailLossProbe: true,
      // Linux's tcp_dsack default (1): duplicates reported in the first SACK block (RFC 2883).
      dsack: true,
      // Linux's tcp_cwnd_reduction: Proportional Rate Reduction (RFC 6937) during recovery.
      prr: true,
      // Linux's tcp_recovery default (1): RACK loss detection (RFC 8985).
      rack: true,
      // Linux's tcp_ack: an ACK of unsent data is dropped without a reply.
      unsentAckReply: false,
      // Linux's PSH flags: each write's end and each TSO packet (src/tcp/push.ts).
      psh: 'linux',
      // Linux's tcp_slow_start: cwnd grows by every segment an ACK covers.
      slowStartLimit: 0,
      // Linux's tcp_set_rto: SRTT + max(4*RTTVAR, 200 ms).
      linuxRto: true,
    },
  },
);
