/**
 * TCP header (RFC 9293 §3.1) and options: a view over received bytes, `parseTcp` from the view to
 * the plain `TcpRepr` the TCP core works with (src/wire/tcp-repr.ts), and `emitTcp` back to bytes.
 *
 *  |          Source Port          |       Destination Port        |
 *  |                        Sequence Number                        |
 *  |                    Acknowledgment Number                      |
 *  |  Data |       |C|E|U|A|P|R|S|F|                               |
 *  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *  |           Checksum            |         Urgent Pointer        |
 *  |                           [Options]                           |
 *
 * Flag combinations `parseTcp` refuses as ParseError 'bad-flags' (decided here, once): SYN+FIN,
 * SYN+RST and FIN+RST. A TcpRepr has one control, and no correct stack sends these (they are
 * scanner probes; RFC 9293 gives them no meaning worth keeping).
 * Segments with none of SYN, RST and ACK (nmap's NULL, FIN and Xmas probes) do parse: a closed
 * port must answer them with a RST (RFC 9293 §3.10.7.1), which is how a scanner tells closed
 * from open; LISTEN and the synchronized states drop them ("if the ACK bit is off drop the
 * segment"), which the TCP core and the listener decide.
 * A FIN with ACK, an RST with or without ACK, and a SYN with or without ACK are all accepted.
 */
import { copyInto, get16, get32, put16, put32 } from './bytes.ts';
import { onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from './checksum.ts';
import { IpProtocol } from './ipv4.ts';
import { ParseError } from './parse-error.ts';
import type { SackBlock, TcpControl, TcpOptions, TcpRepr } from './tcp-repr.ts';

export const TCP_MIN_HEADER_LEN = 20;
/** The data offset is 4 bits of 32-bit words: at most 15 × 4 bytes. */
export const TCP_MAX_HEADER_LEN = 60;
/** Room for options: 40 bytes. */
export const TCP_MAX_OPTIONS_LEN = TCP_MAX_HEADER_LEN - TCP_MIN_HEADER_LEN;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMP = 8;

/** RFC 7323 §2.3: a shift above 14 is treated as 14. */
export const TCP_MAX_WINDOW_SCALE = 14;

/** A checked TCP segment: header length within the buffer and a correct checksum. */
export class TcpView {
  private constructor(private readonly buf: Uint8Array) {}

  /**
   * Validate a TCP segment (the whole IP payload) sent from `src` to `dst`: at least 20 bytes, data
   * offset 5..15 words and within the buffer, checksum over the pseudo-header correct.
   * Reasons: 'truncated', 'bad-offset', 'bad-checksum'. Never throws.
   * `verifyChecksum` false: the link vouched for the bytes (a partial checksum from checksum
   * offload, see src/wire/virtio-net.ts), which would not sum to 0xffff.
   */
  static check(
    buf: Uint8Array,
    src: number,
    dst: number,
    verifyChecksum = true,
  ): TcpView | ParseError {
    if (buf.length < TCP_MIN_HEADER_LEN) return ParseError.of('truncated');
    const hlen = (buf[DATA_OFF] >>> 4) * 4;
    if (hlen < TCP_MIN_HEADER_LEN || hlen > buf.length) return ParseError.of('bad-offset');
    if (!verifyChecksum) return new TcpView(buf);
    const sum = onesSum(buf, 0, buf.length, pseudoHeaderSum(src, dst, IpProtocol.Tcp, buf.length));
    if (sum !== 0xffff) return ParseError.of('bad-checksum');
    return new TcpView(buf);
  }

  /**
   * The same for a segment over IPv6, from `src` to `dst` (16-byte views): the checksum covers
   * the IPv6 pseudo-header (RFC 8200 §8.1), with the upper-layer length as 32 bits.
   */
  static check6(
    buf: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    verifyChecksum = true,
  ): TcpView | ParseError {
    if (buf.length < TCP_MIN_HEADER_LEN) return ParseError.of('truncated');
    const hlen = (buf[DATA_OFF] >>> 4) * 4;
    if (hlen < TCP_MIN_HEADER_LEN || hlen > buf.length) return ParseError.of('bad-offset');
    if (!verifyChecksum) return new TcpView(buf);
    const len = buf.length;
    const sum = onesSum(buf, 0, len, pseudoHeaderSum6(src, dst, IpProtocol.Tcp, len));
    if (sum !== 0xffff) return ParseError.of('bad-checksum');
    return new TcpView(buf);
  }

  get bytes(): Uint8Array {
    return this.buf;
  }
  get srcPort(): number {
    return get16(this.buf, SRC_PORT);
  }
  get dstPort(): number {
    return get16(this.buf, DST_PORT);
  }
  get seq(): number {
    return get32(this.buf, SEQ);
  }
  /** The acknowledgment field, meaningful only when `flags & ACK`. */
  get ackNumber(): number {
    return get32(this.buf, ACK);
  }
  /** Header length in bytes (data offset × 4). */
  get headerLen(): number {
    return (this.buf[DATA_OFF] >>> 4) * 4;
  }
  /** The eight flag bits CWR..FIN (see TcpFlag). */
  get flags(): number {
    return this.buf[FLAGS];
  }
  get window(): number {
    return get16(this.buf, WINDOW);
  }
  get checksum(): number {
    return get16(this.buf, CHECKSUM);
  }
  get urgentPointer(): number {
    return get16(this.buf, URGENT);
  }
  get options(): Uint8Array {
    return this.buf.subarray(TCP_MIN_HEADER_LEN, this.headerLen);
  }
  get payload(): Uint8Array {
    return this.buf.subarray(this.headerLen);
  }
}

/**
 * What a checked segment means. Reasons: 'bad-flags' (see the header comment), 'bad-options'
 * (an option whose length runs past the header or is wrong for its kind). Unknown option kinds
 * are skipped by their length. The payload is a view into the segment, not a copy.
 */
export function parseTcp(view: TcpView): TcpRepr | ParseError {
  const f = view.flags;
  const syn = (f & TcpFlag.SYN) !== 0;
  const fin = (f & TcpFlag.FIN) !== 0;
  const rst = (f & TcpFlag.RST) !== 0;
  const ackSet = (f & TcpFlag.ACK) !== 0;
  if ((syn && fin) || (syn && rst) || (fin && rst)) return ParseError.of('bad-flags');
  const control: TcpControl = syn ? 'syn' : fin ? 'fin' : rst ? 'rst' : 'none';
  const options = parseOptions(view.options);
  if (options === null) return ParseError.of('bad-options');
  return {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    control,
    psh: (f & TcpFlag.PSH) !== 0,
    urg: (f & TcpFlag.URG) !== 0,
    ece: (f & TcpFlag.ECE) !== 0,
    cwr: (f & TcpFlag.CWR) !== 0,
    seq: view.seq,
    ack: ackSet ? view.ackNumber : null,
    window: view.window,
    urgentPointer: view.urgentPointer,
    options,
    payload: view.payload,
  };
}

/** Parse the option bytes (RFC 9293 §3.1, RFC 7323, RFC 2018), or null when malformed. */
function parseOptions(b: Uint8Array): TcpOptions | null {
  let mss: number | null = null;
  let windowScale: number | null = null;
  let sackPermitted = false;
  let sackBlocks: readonly SackBlock[] = EMPTY_SACK;
  let timestamp: TcpOptions['timestamp'] = null;
  let i = 0;
  while (i < b.length) {
    const kind = b[i];
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= b.length) return null;
    const len = b[i + 1];
    if (len < 2 || i + len > b.length) return null;
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return null;
        mss = get16(b, i + 2);
        break;
      case OPT_WSCALE:
        if (len !== 3) return null;
        windowScale = Math.min(b[i + 2], TCP_MAX_WINDOW_SCALE);
        break;
      case OPT_SACK_PERMITTED:
        if (len !== 2) return null;
        sackPermitted = true;
        break;
      case OPT_SACK: {
        // RFC 2018 §3: 8 bytes per block, 1 to 4 blocks.
        if ((len - 2) % 8 !== 0 || len < 10 || len > 34) return null;
        const blocks: SackBlock[] = [];
        for (let j = i + 2; j < i + len; j += 8) {
          blocks.push({ left: get32(b, j), right: get32(b, j + 4) });
        }
        sackBlocks = blocks;
        break;
      }
      case OPT_TIMESTAMP:
        if (len !== 10) return null;
        timestamp = { tsVal: get32(b, i + 2), tsEcr: get32(b, i + 6) };
        break;
      default:
        break; // RFC 9293 §3.2: an unknown option is skipped by its length.
    }
    i += len;
  }
  if (
    mss === null &&
    windowScale === null &&
    !sackPermitted &&
    sackBlocks.length === 0 &&
    timestamp === null
  ) {
    return NO_OPTIONS_SHARED;
  }
  return { mss, windowScale, sackPermitted, sackBlocks, timestamp };
}

const EMPTY_SACK: readonly SackBlock[] = Object.freeze([]);
const NO_OPTIONS_SHARED: TcpOptions = Object.freeze({
  mss: null,
  windowScale: null,
  sackPermitted: false,
  sackBlocks: EMPTY_SACK,
  timestamp: null,
});

/**
 * How many SACK blocks fit beside the other options (RFC 2018 §3: three with timestamps, four
 * without). `emitTcp` sends only the first ones when given more.
 */
export function sackBlocksThatFit(opts: TcpOptions): number {
  return Math.min(opts.sackBlocks.length, sackRoom(optionsLenWithoutSack(opts)));
}

/**
 * How many SACK blocks fit in the option space beside `used` bytes of other options: a SACK
 * option is kind, length and 8 bytes a block, padded to 32 bits (at most 4 blocks, RFC 2018 §3).
 */
export function sackRoom(used: number): number {
  return Math.max(0, Math.min(Math.floor((TCP_MAX_OPTIONS_LEN - used - 4) / 8), 4));
}

/** Bytes a SACK option of `blocks` blocks takes, padding included (0 for none). */
export function sackOptionLen(blocks: number): number {
  return blocks > 0 ? 4 + 8 * blocks : 0;
}

function optionsLenWithoutSack(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== null) n += 4; // MSS
  if (o.timestamp !== null)
    n += 12; // (SACK-permitted | NOP NOP) + TS
  else if (o.sackPermitted) n += 4; // NOP NOP SACK-permitted
  if (o.windowScale !== null) n += 4; // NOP WS
  return n;
}

function optionsLen(o: TcpOptions): number {
  return optionsLenWithoutSack(o) + sackOptionLen(sackBlocksThatFit(o));
}

/** Header length (options included, a multiple of 4) that `emitTcp` writes for `repr`. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_MIN_HEADER_LEN + optionsLen(repr.options);
}

/** Header plus payload: the TCP length for the pseudo-header and the IP payload length. */
export function tcpSegmentLen(repr: TcpRepr): number {
  return tcpHeaderLen(repr) + repr.payload.length;
}

/**
 * Write `repr` at the start of `buf`: header, options, payload (unless already in place at
 * `buf[tcpHeaderLen(repr) …]`), and the checksum over the pseudo-header for `src` → `dst`.
 * Returns the segment length.
 *
 * Options use Linux's layout (tcp_options_write), so that captures look familiar and every option
 * stays 4-byte aligned without trailing padding:
 *   MSS | SACK-permitted+TS (or NOP,NOP,TS, or NOP,NOP,SACK-permitted) | NOP,WS | NOP,NOP,SACK…
 * A SYN from Linux reads `mss 1460,sackOK,TS val … ecr 0,nop,wscale 7`; a data segment `nop,nop,TS`.
 */
export function emitTcp(buf: Uint8Array, repr: TcpRepr, src: number, dst: number): number {
  const len = writeTcp(buf, repr);
  const sum = onesSum(buf, 0, len, pseudoHeaderSum(src, dst, IpProtocol.Tcp, len));
  put16(buf, CHECKSUM, ~sum & 0xffff);
  return len;
}

/** emitTcp over IPv6: the checksum covers the IPv6 pseudo-header of `src` and `dst` (16 bytes). */
export function emitTcp6(buf: Uint8Array, repr: TcpRepr, src: Uint8Array, dst: Uint8Array): number {
  const len = writeTcp(buf, repr);
  const sum = onesSum(buf, 0, len, pseudoHeaderSum6(src, dst, IpProtocol.Tcp, len));
  put16(buf, CHECKSUM, ~sum & 0xffff);
  return len;
}

/** The header, options and payload, with a zero checksum; returns the segment length. */
function writeTcp(buf: Uint8Array, repr: TcpRepr): number {
  const hlen = tcpHeaderLen(repr);
  const len = hlen + repr.payload.length;
  let flags = 0;
  if (repr.control === 'syn') flags |= TcpFlag.SYN;
  else if (repr.control === 'fin') flags |= TcpFlag.FIN;
  else if (repr.control === 'rst') flags |= TcpFlag.RST;
  if (repr.ack !== null) flags |= TcpFlag.ACK;
  if (repr.psh) flags |= TcpFlag.PSH;
  if (repr.urg) flags |= TcpFlag.URG;
  if (repr.ece) flags |= TcpFlag.ECE;
  if (repr.cwr) flags |= TcpFlag.CWR;

  put16(buf, SRC_PORT, repr.srcPort);
  put16(buf, DST_PORT, repr.dstPort);
  put32(buf, SEQ, repr.seq);
  put32(buf, ACK, repr.ack ?? 0);
  buf[DATA_OFF] = (hlen / 4) << 4;
  buf[FLAGS] = flags;
  put16(buf, WINDOW, repr.window);
  put16(buf, CHECKSUM, 0);
  put16(buf, URGENT, repr.urgentPointer);
  writeOptions(buf, TCP_MIN_HEADER_LEN, repr.options);
  copyInto(buf, hlen, repr.payload);
  return len;
}

function writeOptions(b: Uint8Array, i: number, o: TcpOptions): number {
  if (o.mss !== null) {
    b[i] = OPT_MSS;
    b[i + 1] = 4;
    put16(b, i + 2, o.mss);
    i += 4;
  }
  if (o.timestamp !== null) {
    if (o.sackPermitted) {
      b[i] = OPT_SACK_PERMITTED;
      b[i + 1] = 2;
    } else {
      b[i] = OPT_NOP;
      b[i + 1] = OPT_NOP;
    }
    b[i + 2] = OPT_TIMESTAMP;
    b[i + 3] = 10;
    put32(b, i + 4, o.timestamp.tsVal);
    put32(b, i + 8, o.timestamp.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    b[i] = OPT_NOP;
    b[i + 1] = OPT_NOP;
    b[i + 2] = OPT_SACK_PERMITTED;
    b[i + 3] = 2;
    i += 4;
  }
  if (o.windowScale !== null) {
    b[i] = OPT_NOP;
    b[i + 1] = OPT_WSCALE;
    b[i + 2] = 3;
    b[i + 3] = o.windowScale;
    i += 4;
  }
  const blocks = sackBlocksThatFit(o);
  if (blocks > 0) {
    b[i] = OPT_NOP;
    b[i + 1] = OPT_NOP;
    b[i + 2] = OPT_SACK;
    b[i + 3] = 2 + 8 * blocks;
    i += 4;
    for (let k = 0; k < blocks; k++) {
      put32(b, i, o.sackBlocks[k].left);
      put32(b, i + 4, o.sackBlocks[k].right);
      i += 8;
    }
  }
  return i;
}
