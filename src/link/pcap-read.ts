/**
 * Reading capture files: the classic libpcap format that PcapLink (pcap.ts) and `tcpdump -w` write,
 * pcapng, and the IPv4 packet inside each captured frame for the link types a Linux capture
 * produces.
 *
 * File format (https://www.tcpdump.org/manpages/pcap-savefile.5.html, draft-ietf-opsawg-pcap):
 *
 *   global header, 24 bytes: magic | version 2.4 | thiszone | sigfigs | snaplen | linktype
 *   per record, 16 bytes:    ts_sec | ts_usec (or ts_nsec) | incl_len | orig_len, then incl_len bytes
 *
 * The magic number says both the byte order of the writer (a1b2c3d4 read back as d4c3b2a1 means
 * swap) and the timestamp unit (a1b23c4d: nanoseconds).
 *
 * pcapng (what Wireshark, dumpcap and tshark write; draft-ietf-opsawg-pcapng) is read too: a file
 * of blocks, each `type | total length | body | total length`. A Section Header Block sets the
 * byte order (and forgets the interfaces before it), an Interface Description Block adds an
 * interface with its link type and timestamp unit (if_tsresol), an Enhanced Packet Block holds one
 * frame of one interface, a Simple Packet Block one frame of the first interface without a time.
 * Other blocks (name resolution, statistics, …) are skipped by their length.
 *
 * Nothing here throws on bad bytes: a bad file header is a ParseError value, a record that runs
 * past the end of the file (a capture cut short when tcpdump was killed) ends the read and sets
 * `truncated`, and a frame without IPv4 in it is a ParseError the caller counts.
 */
import { get16 } from '../wire/bytes.ts';
import { ParseError } from '../wire/parse-error.ts';
import { LINKTYPE_RAW } from './pcap.ts';

/** Link types (https://www.tcpdump.org/linktypes.html) whose frames we can take IPv4 out of. */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export { LINKTYPE_RAW };
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const PCAPNG_OPT_END = 0;
const PCAPNG_OPT_TSRESOL = 9;
const PCAPNG_OPT_TSOFFSET = 14;
const FILE_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
/** No real link carries a frame this big; a larger incl_len means the file is corrupt. */
const MAX_RECORD_LEN = 262_144;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
/** AF_INET in the 4-byte family header of LINKTYPE_NULL (host byte order of the capturer). */
const AF_INET = 2;
/** AF_INET6 there: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30 (as libpcap lists them). */
const AF_INET6_NULL = [10, 24, 28, 30];

export interface PcapRecord {
  /** Capture time, milliseconds since 1970 (fractional: µs or ns resolution kept). */
  at: number;
  /** The link type of the interface it was captured on (one per file in classic pcap). */
  linkType: number;
  /** The captured bytes of the frame: a view into the file, not a copy. */
  frame: Uint8Array;
  /** The frame's length on the wire; larger than frame.length when the snaplen cut it. */
  origLen: number;
}

export interface PcapFile {
  /** The link type of the file (classic pcap) or of its first interface (pcapng; -1 if none). */
  linkType: number;
  snaplen: number;
  records: PcapRecord[];
  /** The file ended in the middle of a record (the rest of it was ignored). */
  truncated: boolean;
}

export interface ReadPcapOptions {
  /** Stop after this many records (default: all of them). */
  maxRecords?: number;
}

/**
 * Read a whole pcap or pcapng file held in memory. Reasons: 'truncated' (shorter than the file
 * header), 'bad-magic' (neither format).
 */
export function readPcap(bytes: Uint8Array, options: ReadPcapOptions = {}): PcapFile | ParseError {
  if (bytes.length < FILE_HEADER_LEN) return ParseError.of('truncated');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = dv.getUint32(0, true);
  if (magicLE === PCAPNG_SHB) return readPcapng(bytes, dv, options);
  let little: boolean;
  let nanos: boolean;
  if (magicLE === MAGIC_US || magicLE === MAGIC_NS) {
    little = true;
    nanos = magicLE === MAGIC_NS;
  } else {
    const magicBE = dv.getUint32(0, false);
    if (magicBE !== MAGIC_US && magicBE !== MAGIC_NS) return ParseError.of('bad-magic');
    little = false;
    nanos = magicBE === MAGIC_NS;
  }
  const snaplen = dv.getUint32(16, little);
  // The link type is the low 16 bits; the upper bits hold FCS information (pcap-savefile(5)).
  const linkType = dv.getUint32(20, little) & 0xffff;
  const maxRecords = options.maxRecords ?? Number.POSITIVE_INFINITY;
  const fraction = nanos ? 1e-6 : 1e-3;

  const records: PcapRecord[] = [];
  let truncated = false;
  let off = FILE_HEADER_LEN;
  while (off < bytes.length && records.length < maxRecords) {
    if (off + RECORD_HEADER_LEN > bytes.length) {
      truncated = true;
      break;
    }
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const incl = dv.getUint32(off + 8, little);
    const orig = dv.getUint32(off + 12, little);
    const start = off + RECORD_HEADER_LEN;
    if (incl > MAX_RECORD_LEN || start + incl > bytes.length) {
      truncated = true;
      break;
    }
    records.push({
      at: sec * 1000 + frac * fraction,
      linkType,
      frame: bytes.subarray(start, start + incl),
      origLen: orig,
    });
    off = start + incl;
  }
  return { linkType, snaplen, records, truncated };
}

interface PcapngInterface {
  linkType: number;
  snaplen: number;
  /** Milliseconds per timestamp unit (if_tsresol; default microseconds). */
  msPerUnit: number;
  /** Seconds added to every timestamp (if_tsoffset). */
  offsetSec: number;
}

/** The blocks of a pcapng file (see the header comment); `dv` views all of `bytes`. */
function readPcapng(bytes: Uint8Array, dv: DataView, options: ReadPcapOptions): PcapFile {
  const maxRecords = options.maxRecords ?? Number.POSITIVE_INFINITY;
  const records: PcapRecord[] = [];
  let interfaces: PcapngInterface[] = [];
  let first: PcapngInterface | null = null;
  let little = true;
  let lastAt = 0;
  let truncated = false;
  let off = 0;
  while (off < bytes.length && records.length < maxRecords) {
    if (off + 12 > bytes.length) {
      truncated = true;
      break;
    }
    const type = dv.getUint32(off, little);
    if (type === PCAPNG_SHB) {
      // The byte-order magic follows the length, and decides how the length itself is read.
      const bom = dv.getUint32(off + 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) little = true;
      else if (dv.getUint32(off + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) little = false;
      else {
        truncated = true; // not a section header after all: the file is damaged
        break;
      }
      interfaces = [];
    }
    const len = dv.getUint32(off + 4, little);
    if (len < 12 || len % 4 !== 0 || off + len > bytes.length) {
      truncated = true;
      break;
    }
    const body = off + 8;
    const bodyEnd = off + len - 4;
    if (type === PCAPNG_IDB && bodyEnd - body >= 8) {
      const ifc = pcapngInterface(dv, body, bodyEnd, little);
      interfaces.push(ifc);
      first ??= ifc;
    } else if (type === PCAPNG_EPB && bodyEnd - body >= 20) {
      const ifc = interfaces[dv.getUint32(body, little)];
      const caplen = dv.getUint32(body + 12, little);
      const data = body + 20;
      if (ifc !== undefined && data + caplen <= bodyEnd) {
        const units = dv.getUint32(body + 4, little) * 2 ** 32 + dv.getUint32(body + 8, little);
        lastAt = ifc.offsetSec * 1000 + units * ifc.msPerUnit;
        records.push({
          at: lastAt,
          linkType: ifc.linkType,
          frame: bytes.subarray(data, data + caplen),
          origLen: dv.getUint32(body + 16, little),
        });
      }
    } else if (type === PCAPNG_SPB && bodyEnd - body >= 4) {
      // No timestamp and no captured length: the frame is what fits in the block and the snaplen.
      const ifc = interfaces[0];
      const origLen = dv.getUint32(body, little);
      if (ifc !== undefined) {
        const caplen = Math.min(origLen, ifc.snaplen || origLen, bodyEnd - body - 4);
        records.push({
          at: lastAt,
          linkType: ifc.linkType,
          frame: bytes.subarray(body + 4, body + 4 + caplen),
          origLen,
        });
      }
    }
    off += len;
  }
  return {
    linkType: first?.linkType ?? -1,
    snaplen: first?.snaplen ?? 0,
    records,
    truncated,
  };
}

/** An Interface Description Block's body: link type, snaplen, and the options that time needs. */
function pcapngInterface(dv: DataView, at: number, end: number, little: boolean): PcapngInterface {
  const ifc: PcapngInterface = {
    linkType: dv.getUint16(at, little),
    snaplen: dv.getUint32(at + 4, little),
    msPerUnit: 1e-3,
    offsetSec: 0,
  };
  let opt = at + 8;
  while (opt + 4 <= end) {
    const code = dv.getUint16(opt, little);
    const olen = dv.getUint16(opt + 2, little);
    const value = opt + 4;
    if (code === PCAPNG_OPT_END || value + olen > end) break;
    if (code === PCAPNG_OPT_TSRESOL && olen >= 1) {
      // High bit clear: 10^-v seconds per unit; set: 2^-(v & 0x7f).
      const v = dv.getUint8(value);
      const secPerUnit = v & 0x80 ? 2 ** -(v & 0x7f) : 10 ** -v;
      ifc.msPerUnit = secPerUnit * 1000;
    } else if (code === PCAPNG_OPT_TSOFFSET && olen >= 8) {
      ifc.offsetSec = Number(dv.getBigInt64(value, little));
    }
    opt = value + Math.ceil(olen / 4) * 4;
  }
  return ifc;
}

/**
 * The IP packet (IPv4 or IPv6) inside a captured frame of the given link type: a view, not a
 * copy. Reasons (each a count key for the caller): 'not-ip' (ARP, LLDP, …), 'truncated',
 * 'unsupported-linktype'.
 *
 *   ETHERNET (1)   dst(6) src(6) [802.1Q/802.1ad tag(4)]… ethertype(2) — `tcpdump -i veth0`, `-i lo`
 *   LINUX_SLL (113) pkttype(2) hatype(2) halen(2) addr(8) protocol(2)   — `tcpdump -i any` (older)
 *   LINUX_SLL2 (276) protocol(2) rsvd(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
 *   RAW (101): the IP packet itself, either version by its first nibble — PcapLink, `-i tun0`
 *   IPV4 (228), IPV6 (229): the packet itself, of that version
 *   NULL (0)       family(4, capturer's byte order)                     — BSD loopback
 */
export function ipFromFrame(linkType: number, frame: Uint8Array): Uint8Array | ParseError {
  switch (linkType) {
    case LINKTYPE_RAW:
      return ipVersionIs(frame, 0);
    case LINKTYPE_IPV4:
      return ipVersionIs(frame, 4);
    case LINKTYPE_IPV6:
      return ipVersionIs(frame, 6);
    case LINKTYPE_ETHERNET: {
      let at = 12;
      if (frame.length < at + 2) return ParseError.of('truncated');
      let type = get16(frame, at);
      // At most two VLAN tags (802.1ad outer, 802.1Q inner).
      for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ); tags++) {
        at += 4;
        if (frame.length < at + 2) return ParseError.of('truncated');
        type = get16(frame, at);
      }
      return ipOfEthertype(type, frame.subarray(at + 2));
    }
    case LINKTYPE_LINUX_SLL:
      if (frame.length < 16) return ParseError.of('truncated');
      return ipOfEthertype(get16(frame, 14), frame.subarray(16));
    case LINKTYPE_LINUX_SLL2:
      if (frame.length < 20) return ParseError.of('truncated');
      return ipOfEthertype(get16(frame, 0), frame.subarray(20));
    case LINKTYPE_NULL: {
      if (frame.length < 4) return ParseError.of('truncated');
      const le = frame[0] | (frame[1] << 8) | (frame[2] << 16) | (frame[3] << 24);
      const be = (frame[0] << 24) | (frame[1] << 16) | (frame[2] << 8) | frame[3];
      if (le === AF_INET || be === AF_INET) return ipVersionIs(frame.subarray(4), 4);
      if (AF_INET6_NULL.includes(le) || AF_INET6_NULL.includes(be))
        return ipVersionIs(frame.subarray(4), 6);
      return ParseError.of('not-ip');
    }
    default:
      return ParseError.of('unsupported-linktype');
  }
}

/** The IPv4 packet inside a frame (ipFromFrame's, IPv6 and others skipped as 'not-ipv4'). */
export function ipv4FromFrame(linkType: number, frame: Uint8Array): Uint8Array | ParseError {
  const ip = ipFromFrame(linkType, frame);
  if (ip instanceof ParseError) return ip.reason === 'not-ip' ? ParseError.of('not-ipv4') : ip;
  return ip[0] >>> 4 === 4 ? ip : ParseError.of('not-ipv4');
}

function ipOfEthertype(type: number, packet: Uint8Array): Uint8Array | ParseError {
  if (type === ETHERTYPE_IPV4) return ipVersionIs(packet, 4);
  if (type === ETHERTYPE_IPV6) return ipVersionIs(packet, 6);
  return ParseError.of('not-ip');
}

/** `packet` when its version nibble is `version` (4 or 6; 0: either). */
function ipVersionIs(packet: Uint8Array, version: 0 | 4 | 6): Uint8Array | ParseError {
  if (packet.length === 0) return ParseError.of('truncated');
  const v = packet[0] >>> 4;
  if (version === 0 ? v === 4 || v === 6 : v === version) return packet;
  return ParseError.of('not-ip');
}
