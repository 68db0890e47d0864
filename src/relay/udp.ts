/**
 * The UDP half of `tunstack relay`: a flow table keyed by the client's 4-tuple, each flow a kernel
 * UDP socket on the egress side. A datagram from the client to dst:port goes out of the flow's
 * socket to dst:port; what comes back from dst:port goes to the client from dst:port. Datagrams
 * to the relay's DNS address go to the egress resolver instead, and its answers come back from
 * the DNS address (the way slirp4netns offers 10.0.2.3). IPv6 flows (input6) are the same with
 * `udp6` sockets.
 *
 * Bounds: at most maxFlows flows (a datagram that would open one more is dropped, counted in
 * flowsFull); a flow with no datagram either way for idleMs is closed (counted in expired).
 */
import * as dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { IpDatagram } from '../ip/input.ts';
import type { Ip6Datagram } from '../ip/ipv6-input.ts';
import { IP6_HEADER_ROOM } from '../ip/ipv6-output.ts';
import { IP_HEADER_ROOM } from '../ip/output.ts';
import type { Stack } from '../stack/stack.ts';
import { formatIpv4, IpProtocol } from '../wire/ipv4.ts';
import { formatIpv6, Ipv6Next } from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import { emitUdp, emitUdp6, UDP_HEADER_LEN, UdpView } from '../wire/udp.ts';
import { endpoint } from './tcp.ts';

export interface UdpRelayOptions {
  /** Close a flow that carried nothing either way for this long. */
  idleMs: number;
  /** Flows at once; a datagram that would open one more is dropped (flowsFull). */
  maxFlows: number;
  /** The relay's DNS address inside the client namespace (dotted quad), or null. */
  dnsAddr: string | null;
  /** Where DNS queries to dnsAddr go: the egress side's resolver. */
  dnsUpstream: { host: string; port: number } | null;
}

export const DEFAULT_UDP_RELAY_OPTIONS: Readonly<UdpRelayOptions> = Object.freeze({
  idleMs: 60_000,
  maxFlows: 1024,
  dnsAddr: null,
  dnsUpstream: null,
});

export interface UdpRelayStats {
  flowsOpened: number;
  flowsFull: number;
  expired: number;
  datagramsUp: number;
  datagramsDown: number;
  bytesUp: number;
  bytesDown: number;
  /** Datagrams to the DNS address (queries forwarded to the egress resolver). */
  dnsQueries: number;
  /** Malformed datagrams from the client (bad length or checksum). */
  bad: number;
  /** Answers from an address:port other than the flow's destination (dropped). */
  strangers: number;
  /** The egress socket failed to send (no route, say). */
  sendErrors: number;
  /** IP refused to send a reply toward the client (too big). */
  txRefused: number;
}

/** One UDP flow as `tunstack ss` and the exit summary show it. */
export interface UdpFlowRow {
  client: string;
  dst: string;
  /** Where the datagrams really go (the resolver, for DNS). */
  upstream: string;
  datagramsUp: number;
  datagramsDown: number;
  bytesUp: number;
  bytesDown: number;
  startedAt: number;
  endedAt: number | null;
}

interface UdpFlow {
  readonly sock: dgram.Socket;
  readonly row: UdpFlowRow;
  /** IPv4's addresses (0 over IPv6), or IPv6's 16 bytes (null over IPv4). */
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly dstAddr: number;
  readonly dstPort: number;
  readonly client6: Uint8Array | null;
  readonly dst6: Uint8Array | null;
  readonly host: string;
  readonly port: number;
  lastActive: number;
}

export class UdpRelay {
  readonly options: UdpRelayOptions;
  readonly stats: UdpRelayStats = {
    flowsOpened: 0,
    flowsFull: 0,
    expired: 0,
    datagramsUp: 0,
    datagramsDown: 0,
    bytesUp: 0,
    bytesDown: 0,
    dnsQueries: 0,
    bad: 0,
    strangers: 0,
    sendErrors: 0,
    txRefused: 0,
  };
  readonly #flows = new Map<string, UdpFlow>();
  readonly #finished: UdpFlowRow[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #dnsAddr: string | null;

  constructor(
    readonly stack: Stack,
    readonly logger: Logger,
    options: Partial<UdpRelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_UDP_RELAY_OPTIONS, ...options };
    this.#dnsAddr = this.options.dnsAddr;
    const every = Math.max(500, Math.min(this.options.idleMs / 4, 15_000));
    this.#timer = setInterval(() => this.#expire(), every);
    this.#timer.unref();
  }

  get size(): number {
    return this.#flows.size;
  }

  flows(): UdpFlowRow[] {
    return [...[...this.#flows.values()].map((f) => ({ ...f.row })), ...this.#finished];
  }

  /** One UDP datagram from the client to another address (Stack.acceptAnyDestination). */
  input(d: IpDatagram): void {
    const v = UdpView.check(d.payload, d.src, d.dst, !d.csumTrusted);
    if (v instanceof ParseError) {
      this.stats.bad++;
      return;
    }
    const key = `${d.src}:${v.srcPort}>${d.dst}:${v.dstPort}`;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      if (this.#flows.size >= this.options.maxFlows) {
        this.stats.flowsFull++;
        return;
      }
      flow = this.#open(key, d.src, v.srcPort, d.dst, v.dstPort, null, null);
    }
    this.#forward(flow, v.payload);
  }

  /** One UDP datagram over IPv6 from the client to another address (the udp6 way out). */
  input6(d: Ip6Datagram): void {
    const v = UdpView.check6(d.payload, d.src, d.dst, !d.csumTrusted);
    if (v instanceof ParseError) {
      this.stats.bad++;
      return;
    }
    const src = formatIpv6(d.src);
    const dst = formatIpv6(d.dst);
    const key = `[${src}]:${v.srcPort}>[${dst}]:${v.dstPort}`;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      if (this.#flows.size >= this.options.maxFlows) {
        this.stats.flowsFull++;
        return;
      }
      flow = this.#open(key, 0, v.srcPort, 0, v.dstPort, d.src.slice(), d.dst.slice());
    }
    this.#forward(flow, v.payload);
  }

  #forward(flow: UdpFlow, data: Uint8Array): void {
    const payload = Buffer.from(data); // the packet's bytes are gone after this call
    flow.lastActive = Date.now();
    flow.row.datagramsUp++;
    flow.row.bytesUp += payload.length;
    this.stats.datagramsUp++;
    this.stats.bytesUp += payload.length;
    if (flow.row.dst !== flow.row.upstream) this.stats.dnsQueries++;
    flow.sock.send(payload, flow.port, flow.host, (err) => {
      if (err) this.stats.sendErrors++;
    });
  }

  #open(
    key: string,
    src: number,
    srcPort: number,
    dst: number,
    dstPort: number,
    src6: Uint8Array | null,
    dst6: Uint8Array | null,
  ): UdpFlow {
    const dstText = dst6 === null ? formatIpv4(dst) : formatIpv6(dst6);
    const dns = this.options.dnsUpstream;
    const toDns = dstText === this.#dnsAddr && dstPort === 53 && dns !== null;
    const host = toDns ? dns.host : dstText;
    const port = toDns ? dns.port : dstPort;
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const flow: UdpFlow = {
      sock,
      clientAddr: src,
      clientPort: srcPort,
      dstAddr: dst,
      dstPort,
      client6: src6,
      dst6,
      host,
      port,
      lastActive: Date.now(),
      row: {
        client: endpoint(src6 === null ? formatIpv4(src) : formatIpv6(src6), srcPort),
        dst: endpoint(dstText, dstPort),
        upstream: endpoint(host, port),
        datagramsUp: 0,
        datagramsDown: 0,
        bytesUp: 0,
        bytesDown: 0,
        startedAt: Date.now(),
        endedAt: null,
      },
    };
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address !== host || rinfo.port !== port) {
        this.stats.strangers++;
        return;
      }
      flow.lastActive = Date.now();
      flow.row.datagramsDown++;
      flow.row.bytesDown += msg.length;
      this.stats.datagramsDown++;
      this.stats.bytesDown += msg.length;
      this.#reply(flow, msg);
    });
    sock.on('error', (err) => {
      this.stats.sendErrors++;
      this.logger.debug({ err, flow: flow.row }, 'relay: udp socket error');
    });
    this.#flows.set(key, flow);
    this.stats.flowsOpened++;
    return flow;
  }

  /** A datagram back to the client, from the address and port it sent to. */
  #reply(flow: UdpFlow, msg: Buffer): void {
    if (flow.dst6 !== null && flow.client6 !== null) {
      this.#reply6(flow, flow.dst6, flow.client6, msg);
      return;
    }
    const out = this.stack.ip.output;
    const pkt = out.allocPacket(UDP_HEADER_LEN + msg.length);
    emitUdp(
      pkt.subarray(IP_HEADER_ROOM),
      { srcPort: flow.dstPort, dstPort: flow.clientPort, payload: msg },
      flow.dstAddr,
      flow.clientAddr,
    );
    if (!out.send(pkt, IpProtocol.Udp, flow.clientAddr, false, flow.dstAddr)) {
      this.stats.txRefused++;
      return;
    }
    this.stack.requestFlush();
  }

  /** The same over IPv6: from the destination's address and port to the client's. */
  #reply6(flow: UdpFlow, from: Uint8Array, to: Uint8Array, msg: Buffer): void {
    const ip6 = this.stack.ip6;
    if (ip6 === null) return;
    const pkt = ip6.output.allocPacket(UDP_HEADER_LEN + msg.length);
    emitUdp6(
      pkt.subarray(IP6_HEADER_ROOM),
      { srcPort: flow.dstPort, dstPort: flow.clientPort, payload: msg },
      from,
      to,
    );
    if (!ip6.output.send(pkt, Ipv6Next.Udp, to, false, from)) {
      this.stats.txRefused++;
      return;
    }
    this.stack.requestFlush();
  }

  #expire(): void {
    const now = Date.now();
    for (const [key, f] of this.#flows) {
      if (now - f.lastActive < this.options.idleMs) continue;
      this.stats.expired++;
      this.#close(key, f);
    }
  }

  #close(key: string, f: UdpFlow): void {
    this.#flows.delete(key);
    f.sock.close();
    f.row.endedAt = Date.now();
    this.#finished.push(f.row);
    if (this.#finished.length > 10_000) this.#finished.shift();
  }

  close(): void {
    clearInterval(this.#timer);
    for (const [key, f] of [...this.#flows]) this.#close(key, f);
  }
}
