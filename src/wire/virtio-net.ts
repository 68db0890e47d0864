/**
 * struct virtio_net_hdr (virtio 1.2 §5.1.6 "Device Operation"; linux/virtio_net.h): the 10 bytes
 * a TUN device opened with IFF_VNET_HDR puts in front of every packet it hands over, and expects
 * in front of every packet written to it. They carry what offloads need: whether the transport
 * checksum is still partial, and how a segment larger than the MTU is to be cut (GSO).
 *
 *  |  flags  | gso_type |    hdr_len    |    gso_size   |   csum_start  |  csum_offset  |
 *   0         1          2               4               6               8              10
 *
 * The 16-bit fields are little-endian: a TUN device uses the host's order for the legacy header
 * unless told otherwise (TUNSETVNETBE), and Node runs on little-endian hosts only (x86, ARM).
 * The 12-byte variant adds num_buffers, used only by mergeable receive buffers: not by TUN.
 *
 * - flags NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the pseudo-header sum
 *   (folded, not complemented); whoever finishes the packet sums from csum_start to the end into
 *   it. On a packet read from TUN it means "made on this host, intact, not yet summed": a
 *   receiver must not verify it. DATA_VALID: the checksum was already verified.
 * - gso_type TCPV4 / TCPV6 (TSO) / UDP_L4 (USO) with gso_size: the packet is a super-segment whose
 *   payload is cut into gso_size bytes per segment behind a copy of the first hdr_len bytes
 *   (IP + TCP/UDP headers). ECN (0x80) is or-ed in when CWR must go on the first segment only.
 */
import { ParseError } from './parse-error.ts';

/** sizeof(struct virtio_net_hdr). */
export const VIRTIO_NET_HDR_LEN = 10;

const FLAGS = 0;
const GSO_TYPE = 1;
const HDR_LEN = 2;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;
/** RFC 8200 §3: the IPv6 fixed header. */
const IPV6_FIXED_HEADER_LEN = 40;

export const VnetFlag = {
  /** The transport checksum is partial: finish it from csum_start, store at csum_offset. */
  NeedsCsum: 0x01,
  /** The transport checksum was verified. */
  DataValid: 0x02,
} as const;

export const VnetGso = {
  None: 0,
  TcpV4: 1,
  /** UFO: IP fragmentation of one large UDP datagram (obsolete, never offered). */
  Udp: 3,
  TcpV6: 4,
  /** USO (Linux 6.2+): many UDP datagrams of gso_size bytes each. */
  UdpL4: 5,
  /** Or-ed into gso_type: CWR set on the first segment only. */
  Ecn: 0x80,
} as const;

const KNOWN_FLAGS = VnetFlag.NeedsCsum | VnetFlag.DataValid | 0x04; // 0x04: RSC_INFO
const KNOWN_GSO = new Set<number>([
  VnetGso.None,
  VnetGso.TcpV4,
  VnetGso.Udp,
  VnetGso.TcpV6,
  VnetGso.UdpL4,
]);

/** What a virtio_net_hdr means. */
export interface VirtioNetHdrRepr {
  flags: number;
  /** VnetGso value, possibly with VnetGso.Ecn or-ed in. */
  gsoType: number;
  /** Length of the headers copied in front of each segment (IP + transport). */
  hdrLen: number;
  /** Payload bytes per segment. */
  gsoSize: number;
  /** Where checksumming starts, from the start of the IP packet. */
  csumStart: number;
  /** Where the checksum goes, from csumStart (TCP: 16, UDP: 6). */
  csumOffset: number;
}

function get16le(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function put16le(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
}

/** A checked virtio_net_hdr: known flags and GSO type, offsets within the packet it precedes. */
export class VirtioNetHdrView {
  private constructor(private readonly buf: Uint8Array) {}

  /**
   * Validate the header at the start of `buf` for a packet of `packetLen` bytes. Reasons:
   * 'truncated' (fewer than 10 bytes), 'bad-flags' (an unknown flag bit), 'bad-gso-type',
   * 'bad-gso-size' (GSO without a segment size, or headers longer than the packet),
   * 'bad-csum-offset' (NEEDS_CSUM pointing past the packet). Never throws.
   */
  static check(buf: Uint8Array, packetLen: number): VirtioNetHdrView | ParseError {
    if (buf.length < VIRTIO_NET_HDR_LEN) return ParseError.of('truncated');
    const flags = buf[FLAGS];
    if ((flags & ~KNOWN_FLAGS) !== 0) return ParseError.of('bad-flags');
    const gso = buf[GSO_TYPE];
    if (!KNOWN_GSO.has(gso & ~VnetGso.Ecn)) return ParseError.of('bad-gso-type');
    if (gso !== VnetGso.None) {
      if (get16le(buf, GSO_SIZE) === 0 || get16le(buf, HDR_LEN) > packetLen) {
        return ParseError.of('bad-gso-size');
      }
    }
    if (flags & VnetFlag.NeedsCsum) {
      if (get16le(buf, CSUM_START) + get16le(buf, CSUM_OFFSET) + 2 > packetLen) {
        return ParseError.of('bad-csum-offset');
      }
    }
    return new VirtioNetHdrView(buf.subarray(0, VIRTIO_NET_HDR_LEN));
  }

  get flags(): number {
    return this.buf[FLAGS];
  }
  get gsoType(): number {
    return this.buf[GSO_TYPE];
  }
  get hdrLen(): number {
    return get16le(this.buf, HDR_LEN);
  }
  get gsoSize(): number {
    return get16le(this.buf, GSO_SIZE);
  }
  get csumStart(): number {
    return get16le(this.buf, CSUM_START);
  }
  get csumOffset(): number {
    return get16le(this.buf, CSUM_OFFSET);
  }

  toRepr(): VirtioNetHdrRepr {
    return {
      flags: this.flags,
      gsoType: this.gsoType,
      hdrLen: this.hdrLen,
      gsoSize: this.gsoSize,
      csumStart: this.csumStart,
      csumOffset: this.csumOffset,
    };
  }
}

/**
 * The two bytes a receive loop needs, read in place without a view (one per packet at line
 * rate): flags and gso_type of the header at `buf[at]`. The kernel wrote the header, so these
 * need no check; anything unknown is treated as "nothing to skip".
 */
export function vnetFlags(buf: Uint8Array, at: number): number {
  return buf[at + FLAGS];
}
export function vnetGsoType(buf: Uint8Array, at: number): number {
  return buf[at + GSO_TYPE];
}
export function vnetGsoSize(buf: Uint8Array, at: number): number {
  return get16le(buf, at + GSO_SIZE);
}

/** Write `repr` as 10 bytes at `buf[at]`. Returns VIRTIO_NET_HDR_LEN. */
export function emitVirtioNetHdr(buf: Uint8Array, at: number, repr: VirtioNetHdrRepr): number {
  buf[at + FLAGS] = repr.flags;
  buf[at + GSO_TYPE] = repr.gsoType;
  put16le(buf, at + HDR_LEN, repr.hdrLen);
  put16le(buf, at + GSO_SIZE, repr.gsoSize);
  put16le(buf, at + CSUM_START, repr.csumStart);
  put16le(buf, at + CSUM_OFFSET, repr.csumOffset);
  return VIRTIO_NET_HDR_LEN;
}

/** An all-zero header at `buf[at]`: no offload for this packet (its checksums are complete). */
export function emitPlainVirtioNetHdr(buf: Uint8Array, at: number): number {
  buf.fill(0, at, at + VIRTIO_NET_HDR_LEN);
  return VIRTIO_NET_HDR_LEN;
}

/**
 * The header for an IPv4 TCP super-segment (TSO) in `packet`: the kernel (or the peer device)
 * cuts its payload into `segmentSize` bytes per segment and finishes each checksum, whose field
 * must hold the pseudo-header sum (`partialTcpChecksum`). Writes at `buf[at]`.
 */
export function emitTcpV4GsoHdr(
  buf: Uint8Array,
  at: number,
  packet: Uint8Array,
  segmentSize: number,
): number {
  const ipHeaderLen = (packet[0] & 0x0f) * 4;
  return emitTcpGsoHdr(buf, at, packet, VnetGso.TcpV4, ipHeaderLen, segmentSize);
}

/**
 * The same for an IPv6 TCP super-segment (TUN_F_TSO6): the TCP header right behind the 40-byte
 * fixed header (we send no extension headers), its checksum field holding the sum of the IPv6
 * pseudo-header. Writes at `buf[at]`.
 */
export function emitTcpV6GsoHdr(
  buf: Uint8Array,
  at: number,
  packet: Uint8Array,
  segmentSize: number,
): number {
  return emitTcpGsoHdr(buf, at, packet, VnetGso.TcpV6, IPV6_FIXED_HEADER_LEN, segmentSize);
}

/**
 * Either family's TSO header: the TCP header starts at `ipHeaderLen` in `packet`; the checksum to
 * finish runs from there, its field at offset 16 of TCP (RFC 9293 §3.1).
 */
function emitTcpGsoHdr(
  buf: Uint8Array,
  at: number,
  packet: Uint8Array,
  gsoType: number,
  ipHeaderLen: number,
  segmentSize: number,
): number {
  const tcpHeaderLen = (packet[ipHeaderLen + 12] >>> 4) * 4;
  buf[at + FLAGS] = VnetFlag.NeedsCsum;
  buf[at + GSO_TYPE] = gsoType;
  put16le(buf, at + HDR_LEN, ipHeaderLen + tcpHeaderLen);
  put16le(buf, at + GSO_SIZE, segmentSize);
  put16le(buf, at + CSUM_START, ipHeaderLen);
  put16le(buf, at + CSUM_OFFSET, 16);
  return VIRTIO_NET_HDR_LEN;
}
