/**
 * IPv6 input (RFC 8200): validate the fixed header, filter by address, walk the extension-header
 * chain (bounded), reassemble fragments (RFC 8200 §4.5, RFC 5722, RFC 6946), and say which
 * upper layer gets the packet. Every drop is counted by reason in `Ip6Stats.drops`; where RFC
 * 8200 asks for an ICMPv6 Parameter Problem, `onProblem` is called with the invoking packet
 * (this layer sits below ICMPv6 and cannot send one itself). Nothing here throws.
 */
import { get32, put16 } from '../wire/bytes.ts';
import { isMldType, isNdType } from '../wire/icmpv6.ts';
import {
  headerChainIncomplete,
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  IPV6_MAX_PAYLOAD,
  IPV6_WALK_DEFAULTS,
  type Ipv6Chain,
  Ipv6Next,
  Ipv6View,
  type Ipv6WalkLimits,
  ipv6Equal,
  isIpv4Mapped,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  newIpv6Chain,
  ParamProblemCode,
  readFragmentHeader,
  walkIpv6Chain,
} from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import {
  type CompleteDatagram,
  copyPieces,
  Reassembler,
  type ReassemblyOptions,
} from './reassembly.ts';
import type { Ip6DropReason, Ip6Stats } from './stats6.ts';

/**
 * One received IPv6 packet, whole. The object is reused: valid until the next `receive`, and its
 * byte views until the link callback that delivered the packet returns.
 */
export interface Ip6Datagram {
  /** 16-byte views into `packet`. */
  src: Uint8Array;
  dst: Uint8Array;
  /** The upper-layer protocol (Next Header after the extension headers). */
  protocol: number;
  hopLimit: number;
  /** The Traffic Class byte (DSCP and ECN, as IPv4's TOS). */
  tos: number;
  /** Sent to a multicast address: only ICMPv6 looks at it, and no error answers it. */
  multicast: boolean;
  reassembled: boolean;
  /** The link vouched for the upper-layer checksum (never for a reassembled packet). */
  csumTrusted: boolean;
  /** The whole packet (reassembled if it came in fragments): what an ICMPv6 error quotes. */
  packet: Uint8Array;
  /** Offset in `packet` of the Next Header field that names `protocol` (a Parameter Problem's pointer). */
  protocolFieldAt: number;
  /** The upper-layer bytes. */
  payload: Uint8Array;
}

/**
 * Asked for by input when RFC 8200 says to answer with a Parameter Problem (RFC 4443 §3.4):
 * `packet` is the invoking packet (valid during the call), `pointer` the offset of the field at
 * fault; `multicastToo`: due even if the packet was sent to a multicast address (§4.2).
 */
export type Ip6ProblemHandler = (
  packet: Uint8Array,
  code: number,
  pointer: number,
  multicastToo: boolean,
  now: number,
) => void;

/** IPv6 reassembly: IPv4's bounds, with RFC 8200's 60 s and RFC 5722's strict overlap rule. */
export const REASSEMBLY6_DEFAULTS: Required<ReassemblyOptions> = {
  maxDatagramBytes: IPV6_HEADER_LEN + IPV6_MAX_PAYLOAD,
  maxBytes: 1 << 20,
  timeoutMs: 60_000,
  maxFragmentsPerDatagram: 256,
  strictOverlap: true,
};

export interface Ip6InputOptions {
  /** Our address, 16 bytes. */
  address: Uint8Array;
  reassembly?: ReassemblyOptions;
  /** Bounds of the extension-header walk (src/wire/ipv6.ts). */
  walk?: Partial<Ipv6WalkLimits>;
}

export class Ip6Input {
  readonly reassembler: Reassembler;
  /** Where Parameter Problems go (the stack wires ICMPv6 here). */
  onProblem: Ip6ProblemHandler | null = null;
  /**
   * Take unicast packets to any address, not only ours (a relay's gateway: the stack hands
   * those to Stack.acceptAnyDestination's handler). Multicast is filtered as before.
   */
  anyDestination = false;
  private readonly address: Uint8Array;
  private readonly limits: Ipv6WalkLimits;
  private readonly chain: Ipv6Chain = newIpv6Chain();
  private readonly out: Ip6Datagram = {
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    protocol: 0,
    hopLimit: 0,
    tos: 0,
    multicast: false,
    reassembled: false,
    csumTrusted: false,
    packet: new Uint8Array(0),
    protocolFieldAt: 0,
    payload: new Uint8Array(0),
  };

  constructor(
    options: Ip6InputOptions,
    private readonly stats: Ip6Stats,
  ) {
    this.address = options.address;
    this.limits = { ...IPV6_WALK_DEFAULTS, ...options.walk };
    this.reassembler = new Reassembler({ ...REASSEMBLY6_DEFAULTS, ...options.reassembly }, stats);
  }

  /**
   * One IPv6 packet from the link (or looped back: `looped`, its source is ours). Returns the
   * packet for an upper layer, or null when it was dropped (counted) or is a fragment waiting for
   * the rest.
   */
  receive(bytes: Uint8Array, now: number, csumTrusted = false, looped = false): Ip6Datagram | null {
    const stats = this.stats;
    stats.rxPackets++;
    const ip = Ipv6View.check(bytes);
    if (ip instanceof ParseError) return this.drop(ip.reason);
    let pkt = ip.bytes;
    // A host takes what is addressed to it, and multicast (the kernel's MLD reports and router
    // solicitations), which only ICMPv6 sees (RFC 4291 §2.7: we join no group of our own).
    const multicast = isIpv6Multicast(pkt, 24);
    if (!multicast && !this.anyDestination && !ipv6Equal(pkt, this.address, 24)) {
      return this.drop('not-our-address');
    }
    if (!looped) {
      // RFC 4291 §2.7: a multicast address is never a source; §2.5.3: ::1 never leaves a node;
      // §2.5.5.2: IPv4-mapped addresses are not used on the wire (Linux drops all three).
      if (isIpv6Multicast(pkt, 8)) return this.drop('martian-multicast');
      if (ipv6Equal(pkt, this.address, 8)) return this.drop('martian-own-address');
      if (isIpv6Loopback(pkt, 8)) return this.drop('martian-loopback');
      if (isIpv4Mapped(pkt, 8)) return this.drop('martian-v4mapped');
    }

    const chain = this.chain;
    let verdict = walkIpv6Chain(pkt, multicast, this.limits, chain);
    if (verdict !== 'ok') return this.refuse(verdict, pkt, multicast, now);
    if (chain.headers > 0) stats.rxExtensionHeaders++;
    if (chain.atomicFragment) stats.rxAtomicFragments++;

    let reassembled = false;
    if (chain.protocol === Ipv6Next.Fragment) {
      stats.rxFragments++;
      const whole = this.fragment(pkt, chain, multicast, now);
      if (whole === null) return null;
      pkt = whole;
      verdict = walkIpv6Chain(pkt, multicast, this.limits, chain);
      if (verdict !== 'ok') return this.refuse(verdict, pkt, multicast, now);
      // A Fragment header inside the reassembled payload: fragments of fragments.
      if (chain.protocol === Ipv6Next.Fragment) return this.drop('bad-fragment');
      reassembled = true;
    }

    // RFC 4291 §2.5.2: nothing may be sent to ::, so only what needs no answer may come from it:
    // the Neighbor Discovery and MLD messages of a node without an address yet (RFC 4862 §5.4,
    // RFC 3810 §5.2.13), which ICMPv6 counts and ignores. Anything else would be answered to ::
    // (an echo reply, a RST, a UDP echo), where IPv4 drops 0.0.0.0 as this-network.
    if (
      !looped &&
      isIpv6Unspecified(pkt, 8) &&
      !(
        chain.protocol === Ipv6Next.Icmpv6 &&
        chain.payloadAt < pkt.length &&
        (isNdType(pkt[chain.payloadAt]) || isMldType(pkt[chain.payloadAt]))
      )
    ) {
      return this.drop('martian-unspecified');
    }

    if (multicast) stats.rxMulticast++;
    stats.rxDelivered++;
    const d = this.out;
    d.src = pkt.subarray(8, 24);
    d.dst = pkt.subarray(24, 40);
    d.protocol = chain.protocol;
    d.hopLimit = pkt[7];
    d.tos = ((pkt[0] & 0x0f) << 4) | (pkt[1] >>> 4);
    d.multicast = multicast;
    d.reassembled = reassembled;
    d.csumTrusted = csumTrusted && !reassembled;
    d.packet = pkt;
    d.protocolFieldAt = chain.protocolFieldAt;
    d.payload = pkt.subarray(chain.payloadAt);
    return d;
  }

  /**
   * A fragment (RFC 8200 §4.5): check it, hand it to the reassembler, and once the packet is
   * whole, put it together: the offset-0 fragment's unfragmentable part with the Next Header
   * that named the Fragment header set to the fragment's, then the fragmentable parts in order.
   */
  private fragment(
    pkt: Uint8Array,
    chain: Ipv6Chain,
    multicast: boolean,
    now: number,
  ): Uint8Array | null {
    const fragAt = chain.payloadAt;
    const f = readFragmentHeader(pkt, fragAt);
    const data = pkt.subarray(fragAt + IPV6_FRAGMENT_HEADER_LEN);
    // §4.5: a fragment with M set must carry a multiple of 8 bytes (Parameter Problem code 0 at
    // Payload Length), and none may reach past a 65 535-byte payload (code 0 at the Fragment
    // Offset field).
    if (f.more && (data.length === 0 || data.length % 8 !== 0)) {
      this.drop('bad-fragment');
      this.problem(pkt, ParamProblemCode.Header, 4, multicast, now);
      return null;
    }
    if (fragAt - IPV6_HEADER_LEN + f.offset + data.length > IPV6_MAX_PAYLOAD) {
      this.drop('bad-fragment');
      this.problem(pkt, ParamProblemCode.Header, fragAt + 2, multicast, now);
      return null;
    }
    // RFC 7112 §5: the first fragment must hold the whole header chain, upper-layer header
    // included (Parameter Problem code 3, pointer 0, as Linux sends it).
    if (
      f.offset === 0 &&
      headerChainIncomplete(
        pkt,
        fragAt + IPV6_FRAGMENT_HEADER_LEN,
        f.nextHeader,
        this.limits.maxExtensionHeaders,
      )
    ) {
      this.drop('frag-incomplete-chain');
      this.problem(pkt, ParamProblemCode.IncompleteChain, 0, multicast, now);
      return null;
    }
    // RFC 8200 §4.5: a packet is known by source, destination and Identification.
    let key = `${f.id}`;
    for (let i = 8; i < 40; i += 4) key += `/${get32(pkt, i)}`;
    const whole = this.reassembler.addFragment(
      key,
      {
        src: 0,
        dst: 0,
        protocol: f.nextHeader,
        offset: f.offset,
        data,
        more: f.more,
        headerLen: fragAt,
        header: pkt.subarray(0, fragAt + IPV6_FRAGMENT_HEADER_LEN),
      },
      now,
    );
    return whole === null ? null : assemble6(whole);
  }

  /** Count a refused chain and send the Parameter Problem it earns, if any. */
  private refuse(verdict: Ip6DropReason, pkt: Uint8Array, multicast: boolean, now: number): null {
    this.drop(verdict);
    const p = this.chain.problem;
    if (p.code >= 0 && (!multicast || p.multicastToo)) {
      this.onProblem?.(pkt, p.code, p.pointer, p.multicastToo, now);
    }
    return null;
  }

  private problem(
    pkt: Uint8Array,
    code: number,
    pointer: number,
    multicast: boolean,
    now: number,
  ): void {
    if (!multicast) this.onProblem?.(pkt, code, pointer, false, now);
  }

  private drop(reason: Ip6DropReason): null {
    this.stats.drops[reason]++;
    return null;
  }
}

/**
 * The reassembled packet from the offset-0 fragment's header (fixed header, unfragmentable
 * extension headers, Fragment header) and the fragmentable parts.
 */
function assemble6(d: CompleteDatagram): Uint8Array {
  const header = d.header;
  const fragAt = header.length - IPV6_FRAGMENT_HEADER_LEN;
  const out = new Uint8Array(fragAt + d.totalLen);
  out.set(header.subarray(0, fragAt), 0);
  copyPieces(d, out, fragAt);
  // Follow the (already checked) unfragmentable headers to the field that named the Fragment
  // header; each is at least 8 bytes, so this ends within fragAt.
  let fieldAt = 6;
  let at = IPV6_HEADER_LEN;
  while (at < fragAt) {
    const type = header[fieldAt];
    fieldAt = at;
    at += type === Ipv6Next.Fragment ? IPV6_FRAGMENT_HEADER_LEN : (header[at + 1] + 1) * 8;
  }
  out[fieldAt] = header[fragAt];
  put16(out, 4, out.length - IPV6_HEADER_LEN);
  return out;
}
