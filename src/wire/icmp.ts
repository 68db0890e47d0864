/**
 * ICMP for IPv4 (RFC 792): echo request/reply, destination unreachable, time exceeded, and any
 * other type carried opaquely. The checksum covers the whole ICMP message (RFC 792 p.2).
 *
 *   0                   1                   2                   3
 *  |     Type      |     Code      |          Checksum             |
 *  |   Identifier (echo) / unused  | Sequence (echo) / next-hop MTU|
 *  |     Data (echo payload, or the original IP header + 8 bytes)  |
 */
import { copyInto, get16, get32, put16, put32 } from './bytes.ts';
import { checksumAdjust, internetChecksum, onesSum } from './checksum.ts';
import { ParseError } from './parse-error.ts';

export const IcmpType = {
  EchoReply: 0,
  DestUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** Destination-unreachable codes (RFC 792, RFC 1191 for 4). */
export const UnreachCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragNeeded: 4,
} as const;

export const ICMP_HEADER_LEN = 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;

/**
 * True for the query types (echo, timestamp, information, address mask: RFC 792, RFC 950).
 * Every other type, unknown ones included, is treated as an error message: we never answer an
 * error with an error (RFC 1122 §3.2.2), and for a type we do not know, silence is the safe side.
 */
export function isIcmpQuery(type: number): boolean {
  return type === 0 || type === 8 || (type >= 13 && type <= 18);
}

export type IcmpRepr =
  | { kind: 'echo-request' | 'echo-reply'; ident: number; seqNo: number; data: Uint8Array }
  | {
      kind: 'dest-unreachable';
      code: number;
      /** Next-hop MTU for code 4 (RFC 1191 §4), else 0. */
      nextHopMtu: number;
      /** The invoking datagram's IP header and at least its first 8 data bytes (RFC 792). */
      data: Uint8Array;
    }
  | { kind: 'time-exceeded'; code: number; data: Uint8Array }
  | { kind: 'other'; type: number; code: number; rest: number; data: Uint8Array };

/** Reasons `IcmpView.check` rejects bytes; each is also an `icmp.drops` stats key. */
export type IcmpParseReason = 'truncated' | 'bad-checksum';

/**
 * Write into `msg` (as long as `request`) the echo reply to the echo request `request`: the same
 * identifier, sequence number and data, only the type changed to `replyType` (RFC 792, RFC 4443
 * §4.2). The checksum follows from the one changed word (RFC 1624), for ICMPv6 too: its
 * pseudo-header sums the same with the addresses swapped.
 */
export function writeEchoReply(msg: Uint8Array, request: Uint8Array, replyType: number): void {
  msg.set(request);
  msg[TYPE] = replyType;
  const code = request[CODE];
  const old = get16(request, CHECKSUM);
  put16(msg, CHECKSUM, checksumAdjust(old, (request[TYPE] << 8) | code, (replyType << 8) | code));
}

/**
 * The 8-byte header ICMP and ICMPv6 share (RFC 792, RFC 4443 §2.1: type, code, checksum, a
 * 32-bit word whose meaning the type gives), over a message its subclass has checked.
 */
export abstract class IcmpHeaderView {
  protected constructor(protected readonly buf: Uint8Array) {}

  get bytes(): Uint8Array {
    return this.buf;
  }
  get type(): number {
    return this.buf[TYPE];
  }
  get code(): number {
    return this.buf[CODE];
  }
  get checksum(): number {
    return get16(this.buf, CHECKSUM);
  }
  /** Echo identifier (bytes 4-5). */
  get ident(): number {
    return get16(this.buf, REST);
  }
  /** Echo sequence number (bytes 6-7). */
  get seqNo(): number {
    return get16(this.buf, REST + 2);
  }
  /** The 32-bit word after the checksum (ICMPv6: a Packet Too Big's MTU, a pointer). */
  get rest(): number {
    return get32(this.buf, REST);
  }
  /** Everything after the 8-byte header: a view. */
  get data(): Uint8Array {
    return this.buf.subarray(ICMP_HEADER_LEN);
  }
}

/** A checked ICMP message: at least 8 bytes with a correct checksum. */
export class IcmpView extends IcmpHeaderView {
  private constructor(buf: Uint8Array) {
    super(buf);
  }

  /** Validate an ICMP message (the whole IP payload). Never throws. */
  static check(buf: Uint8Array): IcmpView | ParseError<IcmpParseReason> {
    if (buf.length < ICMP_HEADER_LEN) return ParseError.of('truncated');
    if (onesSum(buf) !== 0xffff) return ParseError.of('bad-checksum');
    return new IcmpView(buf);
  }

  /** Next-hop MTU of a "fragmentation needed" message (bytes 6-7, RFC 1191 §4). */
  get nextHopMtu(): number {
    return get16(this.buf, REST + 2);
  }

  toRepr(): IcmpRepr {
    const type = this.type;
    if (type === IcmpType.EchoRequest || type === IcmpType.EchoReply) {
      return {
        kind: type === IcmpType.EchoRequest ? 'echo-request' : 'echo-reply',
        ident: this.ident,
        seqNo: this.seqNo,
        data: this.data,
      };
    }
    if (type === IcmpType.DestUnreachable) {
      return {
        kind: 'dest-unreachable',
        code: this.code,
        nextHopMtu: this.code === UnreachCode.FragNeeded ? this.nextHopMtu : 0,
        data: this.data,
      };
    }
    if (type === IcmpType.TimeExceeded)
      return { kind: 'time-exceeded', code: this.code, data: this.data };
    return { kind: 'other', type, code: this.code, rest: this.rest, data: this.data };
  }
}

/** Bytes `emitIcmp` writes for `repr`. */
export function icmpLen(repr: IcmpRepr): number {
  return ICMP_HEADER_LEN + repr.data.length;
}

/**
 * Write `repr` at the start of `buf` (header, data, checksum); returns the length written. The data
 * is copied unless it already sits at `buf[8 …]`.
 */
export function emitIcmp(buf: Uint8Array, repr: IcmpRepr): number {
  let type: number;
  let code = 0;
  let rest: number;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = repr.kind === 'echo-request' ? IcmpType.EchoRequest : IcmpType.EchoReply;
      rest = ((repr.ident & 0xffff) << 16) | (repr.seqNo & 0xffff);
      break;
    case 'dest-unreachable':
      type = IcmpType.DestUnreachable;
      code = repr.code;
      rest = repr.nextHopMtu & 0xffff;
      break;
    case 'time-exceeded':
      type = IcmpType.TimeExceeded;
      code = repr.code;
      rest = 0;
      break;
    case 'other':
      type = repr.type;
      code = repr.code;
      rest = repr.rest;
      break;
  }
  const len = ICMP_HEADER_LEN + repr.data.length;
  buf[TYPE] = type;
  buf[CODE] = code;
  put16(buf, CHECKSUM, 0);
  put32(buf, REST, rest);
  copyInto(buf, ICMP_HEADER_LEN, repr.data);
  put16(buf, CHECKSUM, internetChecksum(buf, 0, len));
  return len;
}
