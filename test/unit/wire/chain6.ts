/** Hand-built IPv6 packets with extension-header chains, for the codec and input tests. */
import { emitFragmentHeader, Ipv6View, parseIpv6 } from '../../../src/wire/ipv6.ts';

/** An extension header (type given by the previous Next Header) as bytes: `next` then body. */
export type Ext = { type: number; bytes: number[] };

/** A Hop-by-Hop or Destination Options header holding `tlvs`, padded to a multiple of 8. */
export function opts(type: 0 | 60, tlvs: number[]): Ext {
  const body = [0, 0, ...tlvs];
  const pad = (8 - (body.length % 8)) % 8;
  if (pad === 1) body.push(0);
  else if (pad > 1) body.push(1, pad - 2, ...new Array(pad - 2).fill(0));
  body[1] = body.length / 8 - 1;
  return { type, bytes: body };
}

export function routing(routingType: number, segmentsLeft: number): Ext {
  return {
    type: 43,
    bytes: [0, 2, routingType, segmentsLeft, 0, 0, 0, 0, ...new Array(16).fill(0)],
  };
}

export function frag(offset: number, more: boolean, id = 1): Ext {
  const b = new Uint8Array(8);
  emitFragmentHeader(b, 0, { nextHeader: 0, offset, more, id });
  return { type: 44, bytes: [...b] };
}

/** A packet to `dst` with `exts` chained in order, then `upper` (protocol) with 8 bytes. */
export function chained(exts: Ext[], upper = 58, dst = 'fd00::2'): Uint8Array {
  const body: number[] = [];
  const nexts = [...exts.map((e) => e.type), upper];
  exts.forEach((e, i) => {
    const b = [...e.bytes];
    b[0] = nexts[i + 1];
    body.push(...b);
  });
  body.push(128, 0, 0, 0, 0, 0, 0, 0);
  const pkt = new Uint8Array(40 + body.length);
  Ipv6View.emit(pkt, {
    src: parseIpv6('fd00::1'),
    dst: parseIpv6(dst),
    nextHeader: nexts[0],
    hopLimit: 64,
    payloadLength: body.length,
  });
  pkt.set(body, 40);
  return pkt;
}
