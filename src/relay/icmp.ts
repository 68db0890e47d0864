/**
 * ICMP echo through `tunstack relay`. Node has no ICMP sockets (node:dgram is UDP only), so an
 * echo request to another address is put to the egress side by ping(8): one `ping -c 1` per
 * request, which uses the kernel's unprivileged ICMP socket where net.ipv4.ping_group_range
 * allows it (and a raw socket with CAP_NET_RAW otherwise). When the destination answered, the
 * client gets the echo reply (its own identifier, sequence number and data) from that address;
 * when it did not, nothing, as from a host that does not answer. An ICMPv6 echo request goes the
 * same way through `ping -6`.
 *
 * Bounds: at most maxInFlight requests out at once (more are dropped, counted in `dropped`), each
 * given timeoutMs. Echo to the stack's own address is the stack's (src/icmp).
 */
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { IpDatagram } from '../ip/input.ts';
import type { Ip6Datagram } from '../ip/ipv6-input.ts';
import { IP6_HEADER_ROOM } from '../ip/ipv6-output.ts';
import { IP_HEADER_ROOM } from '../ip/output.ts';
import type { Stack } from '../stack/stack.ts';
import { IcmpType, IcmpView, writeEchoReply } from '../wire/icmp.ts';
import { Icmpv6Type, Icmpv6View } from '../wire/icmpv6.ts';
import { formatIpv4, IpProtocol } from '../wire/ipv4.ts';
import { formatIpv6, Ipv6Next } from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';

export interface EchoRelayOptions {
  /** Echo requests relayed at once (each a ping process); more are dropped. */
  maxInFlight: number;
  /** How long ping waits for the answer. */
  timeoutMs: number;
}

export const DEFAULT_ECHO_RELAY_OPTIONS: Readonly<EchoRelayOptions> = Object.freeze({
  maxInFlight: 64,
  timeoutMs: 2000,
});

export interface EchoRelayStats {
  /** Echo requests to other addresses. */
  requests: number;
  /** Of those, answered (the destination answered the egress side's ping). */
  replied: number;
  /** Not answered in time, or ping failed. */
  noReply: number;
  /** Dropped: maxInFlight were out already. */
  dropped: number;
  /** ping could not be started (not installed). */
  noPing: number;
  /** Other ICMP messages to other addresses (not relayed). */
  otherIcmp: number;
  /** Datagrams of protocols other than TCP, UDP and ICMP to other addresses (not relayed). */
  otherProtocols: number;
  /** Malformed ICMP (bad checksum, truncated). */
  bad: number;
}

export class IcmpEchoRelay {
  readonly options: EchoRelayOptions;
  readonly stats: EchoRelayStats = {
    requests: 0,
    replied: 0,
    noReply: 0,
    dropped: 0,
    noPing: 0,
    otherIcmp: 0,
    otherProtocols: 0,
    bad: 0,
  };
  readonly #children = new Set<ReturnType<typeof spawn>>();
  #closed = false;

  constructor(
    readonly stack: Stack,
    readonly logger: Logger,
    options: Partial<EchoRelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_ECHO_RELAY_OPTIONS, ...options };
  }

  /** One ICMP datagram from the client to another address. */
  input(d: IpDatagram): void {
    const v = IcmpView.check(d.payload);
    if (v instanceof ParseError) {
      this.stats.bad++;
      return;
    }
    if (v.type !== IcmpType.EchoRequest) {
      this.stats.otherIcmp++;
      return;
    }
    const request = new Uint8Array(v.bytes); // the packet's bytes are gone after this call
    const client = d.src;
    const dst = d.dst;
    this.#ping(formatIpv4(dst), false, () => this.#reply(request, dst, client));
  }

  /**
   * One ICMPv6 datagram from the client to another address: an echo request goes to `ping -6`
   * on the egress side, as IPv4's to ping.
   */
  input6(d: Ip6Datagram): void {
    const v = Icmpv6View.check(d.payload, d.src, d.dst, !d.csumTrusted);
    if (v instanceof ParseError) {
      this.stats.bad++;
      return;
    }
    if (v.type !== Icmpv6Type.EchoRequest) {
      this.stats.otherIcmp++;
      return;
    }
    const request = new Uint8Array(v.bytes);
    const client = d.src.slice();
    const dst = d.dst.slice();
    this.#ping(formatIpv6(dst), true, () => this.#reply6(request, dst, client));
  }

  /** `ping -c 1 DST` on the egress side (bounded by maxInFlight); `answered` when it answered. */
  #ping(dst: string, v6: boolean, answered: () => void): void {
    this.stats.requests++;
    if (this.#closed || this.#children.size >= this.options.maxInFlight) {
      this.stats.dropped++;
      return;
    }
    const wait = Math.max(1, Math.ceil(this.options.timeoutMs / 1000));
    const args = ['-n', '-q', '-c', '1', '-W', String(wait), dst];
    const child = spawn('ping', v6 ? ['-6', ...args] : args, {
      stdio: 'ignore',
      timeout: this.options.timeoutMs + 1000,
      killSignal: 'SIGKILL',
    });
    this.#children.add(child);
    child.on('error', () => {
      this.#children.delete(child);
      this.stats.noPing++;
    });
    child.on('exit', (code) => {
      this.#children.delete(child);
      if (this.#closed) return;
      if (code !== 0) {
        this.stats.noReply++;
        return;
      }
      this.stats.replied++;
      answered();
    });
  }

  /** The ICMPv6 reply (RFC 4443 §4.2): as the stack's own, from `from` (the pseudo-header sums the same). */
  #reply6(request: Uint8Array, from: Uint8Array, to: Uint8Array): void {
    const ip6 = this.stack.ip6;
    if (ip6 === null) return;
    const pkt = ip6.output.allocPacket(request.length);
    writeEchoReply(pkt.subarray(IP6_HEADER_ROOM), request, Icmpv6Type.EchoReply);
    if (ip6.output.send(pkt, Ipv6Next.Icmpv6, to, false, from)) this.stack.requestFlush();
  }

  /** The client's request turned into a reply from `from` (RFC 792: same ident, seq, data). */
  #reply(request: Uint8Array, from: number, to: number): void {
    const out = this.stack.ip.output;
    const pkt = out.allocPacket(request.length);
    writeEchoReply(pkt.subarray(IP_HEADER_ROOM), request, IcmpType.EchoReply);
    if (out.send(pkt, IpProtocol.Icmp, to, false, from)) this.stack.requestFlush();
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#children) c.kill('SIGKILL');
    this.#children.clear();
  }
}
