/**
 * The virtio_net_hdr codec (src/wire/virtio-net.ts) in the four kinds of STYLE.md: every field of
 * known bytes, emit over 0xa5 filler, truncated and impossible values, round trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/wire/parse-error.ts';
import {
  emitPlainVirtioNetHdr,
  emitTcpV4GsoHdr,
  emitTcpV6GsoHdr,
  emitVirtioNetHdr,
  VIRTIO_NET_HDR_LEN,
  VirtioNetHdrView,
  VnetFlag,
  VnetGso,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
} from '../../../src/wire/virtio-net.ts';

/**
 * What the kernel put in front of a 64 KiB TSO segment it handed to TUN (flags NEEDS_CSUM,
 * gso TCPV4, hdr_len 52 = 20 IP + 32 TCP with timestamps, gso_size 1448, csum_start 20,
 * csum_offset 16), little-endian.
 */
const KERNEL_TSO = Uint8Array.from([0x01, 0x01, 52, 0, 0xa8, 0x05, 20, 0, 16, 0]);

function view(bytes: Uint8Array, packetLen = 65_000): VirtioNetHdrView {
  const v = VirtioNetHdrView.check(bytes, packetLen);
  if (v instanceof ParseError) throw new Error(v.reason);
  return v;
}

describe('virtio_net_hdr', () => {
  it('reads every field of a kernel TSO header', () => {
    const v = view(KERNEL_TSO);
    expect(v.toRepr()).toEqual({
      flags: VnetFlag.NeedsCsum,
      gsoType: VnetGso.TcpV4,
      hdrLen: 52,
      gsoSize: 1448,
      csumStart: 20,
      csumOffset: 16,
    });
    expect(vnetFlags(KERNEL_TSO, 0)).toBe(VnetFlag.NeedsCsum);
    expect(vnetGsoType(KERNEL_TSO, 0)).toBe(VnetGso.TcpV4);
    expect(vnetGsoSize(KERNEL_TSO, 0)).toBe(1448);
  });

  it('reads the in-place helpers at an offset (a 12-byte slot per packet)', () => {
    const slots = new Uint8Array(36);
    slots.set(KERNEL_TSO, 24);
    expect(vnetFlags(slots, 24)).toBe(1);
    expect(vnetGsoType(slots, 24)).toBe(1);
    expect(vnetGsoSize(slots, 24)).toBe(1448);
    expect(vnetGsoType(slots, 12)).toBe(0);
  });

  it('emits every byte (0xa5 filler) and only its 10 bytes', () => {
    const buf = new Uint8Array(14).fill(0xa5);
    const n = emitVirtioNetHdr(buf, 2, view(KERNEL_TSO).toRepr());
    expect(n).toBe(VIRTIO_NET_HDR_LEN);
    expect([...buf.subarray(2, 12)]).toEqual([...KERNEL_TSO]);
    expect([buf[0], buf[1], buf[12], buf[13]]).toEqual([0xa5, 0xa5, 0xa5, 0xa5]);
  });

  it('a plain header is all zeros', () => {
    const buf = new Uint8Array(12).fill(0xa5);
    emitPlainVirtioNetHdr(buf, 1);
    expect([...buf]).toEqual([0xa5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa5]);
  });

  it('the TSO header for an IPv4/TCP super-segment comes from its own headers', () => {
    const packet = new Uint8Array(30_000);
    packet[0] = 0x45; // IHL 5: 20 bytes
    packet[20 + 12] = 8 << 4; // data offset 8: 32 bytes (timestamps)
    const buf = new Uint8Array(10).fill(0xa5);
    emitTcpV4GsoHdr(buf, 0, packet, 1448);
    expect([...buf]).toEqual([...KERNEL_TSO]);
    const ipOpts = new Uint8Array(30_000);
    ipOpts[0] = 0x46; // 24-byte IP header
    ipOpts[24 + 12] = 5 << 4;
    emitTcpV4GsoHdr(buf, 0, ipOpts, 1460);
    expect(view(buf).toRepr()).toMatchObject({ hdrLen: 44, csumStart: 24, csumOffset: 16 });
  });

  it('the TSO header for an IPv6/TCP super-segment: TCPV6, the TCP header behind 40 bytes', () => {
    const packet = new Uint8Array(30_000);
    packet[0] = 0x60;
    packet[40 + 12] = 8 << 4; // data offset 8: 32 bytes (timestamps)
    const buf = new Uint8Array(12).fill(0xa5);
    expect(emitTcpV6GsoHdr(buf, 1, packet, 1428)).toBe(VIRTIO_NET_HDR_LEN);
    // flags NEEDS_CSUM, gso_type TCPV6 (4), hdr_len 72, gso_size 1428, csum_start 40, offset 16
    expect([...buf]).toEqual([0xa5, 1, 4, 72, 0, 0x94, 0x05, 40, 0, 16, 0, 0xa5]);
    expect(view(buf.subarray(1)).toRepr()).toEqual({
      flags: VnetFlag.NeedsCsum,
      gsoType: VnetGso.TcpV6,
      hdrLen: 72,
      gsoSize: 1428,
      csumStart: 40,
      csumOffset: 16,
    });
  });

  it('refuses truncated and impossible headers', () => {
    const reason = (b: Uint8Array, len = 65_000) => {
      const v = VirtioNetHdrView.check(b, len);
      return v instanceof ParseError ? v.reason : 'ok';
    };
    expect(reason(KERNEL_TSO.subarray(0, 9))).toBe('truncated');
    const bad = (i: number, v: number) => {
      const b = KERNEL_TSO.slice();
      b[i] = v;
      return b;
    };
    expect(reason(bad(0, 0x08))).toBe('bad-flags');
    expect(reason(bad(1, 2))).toBe('bad-gso-type');
    expect(reason(bad(1, 0x81))).toBe('ok'); // TCPV4 | ECN
    const noSize = KERNEL_TSO.slice();
    noSize[4] = 0;
    noSize[5] = 0;
    expect(reason(noSize)).toBe('bad-gso-size');
    expect(reason(KERNEL_TSO, 51)).toBe('bad-gso-size'); // headers longer than the packet
    expect(reason(KERNEL_TSO, 37)).toBe('bad-gso-size');
    const plainCsum = Uint8Array.from([1, 0, 0, 0, 0, 0, 20, 0, 16, 0]);
    expect(reason(plainCsum, 38)).toBe('ok'); // checksum field ends exactly at 38
    expect(reason(plainCsum, 37)).toBe('bad-csum-offset');
    expect(reason(new Uint8Array(10))).toBe('ok');
  });

  it('round-trips any valid header', () => {
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.constantFrom(0, VnetFlag.NeedsCsum, VnetFlag.DataValid),
          gsoType: fc.constantFrom(VnetGso.None, VnetGso.TcpV4, VnetGso.UdpL4, 0x81),
          hdrLen: fc.integer({ min: 0, max: 120 }),
          gsoSize: fc.integer({ min: 1, max: 65_535 }),
          csumStart: fc.integer({ min: 0, max: 60 }),
          csumOffset: fc.constantFrom(6, 16),
        }),
        (repr) => {
          const buf = new Uint8Array(10);
          emitVirtioNetHdr(buf, 0, repr);
          expect(view(buf).toRepr()).toEqual(repr);
        },
      ),
    );
  });
});
