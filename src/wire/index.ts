/**
 * src/wire: pure codecs for IPv4, IPv6 (with its extension headers), ICMP, ICMPv6, UDP and TCP. No state, no I/O, no allocation beyond a
 * small view object per checked packet.
 *
 * The guarantees every codec here keeps (smoltcp's wire module is the model):
 *
 * 1. A view type per header (`Ipv4View`, `IcmpView`, `UdpView`, `TcpView`) over a Uint8Array, with
 *    private byte offsets and one-line getters.
 * 2. `XView.check(buf, …)` is the only way to make a view of received bytes. It returns the view
 *    or a `ParseError` value, and never throws. Its `reason` ('truncated', 'bad-version',
 *    'bad-ihl', 'bad-length', 'bad-checksum', 'bad-offset', 'bad-flags', 'bad-options') is the
 *    stats key the receive path counts the drop under.
 * 3. After `check`, no getter reads out of bounds: every length field the getters rely on (IHL,
 *    Total Length, UDP Length, TCP data offset) has been checked against the buffer, and checksums
 *    have been verified. The view is cut at the length the header claims (link padding dropped).
 *    `payload` and similar getters return subarrays (views), never copies.
 * 4. A plain record (`Ipv4Repr`, `IcmpRepr`, `UdpRepr`, `TcpRepr`) says what a packet means.
 *    `toRepr()` / `parseTcp(view)` go from view to record; `emit…(buf, repr, …)` writes the record
 *    into a buffer the caller owns, checksum included, and returns the bytes written.
 * 5. `…Len(repr)` / `headerLen(repr)` tell the caller how big a buffer to allocate before emitting.
 *    Emitters copy a payload only if it is not already in place, so a caller can build the payload
 *    directly in the output buffer.
 * 6. One checksum helper (checksum.ts, RFC 1071/1624) serves all four protocols.
 *
 * tcp-packet.ts is the one convenience that allocates: a whole IPv4+TCP packet, built or read in
 * one call, for tools and tests (packetdrill, the lessons); the stack's own paths never use it.
 */
export * from './bytes.ts';
export * from './checksum.ts';
export * from './icmp.ts';
export * from './icmpv6.ts';
export * from './ipv4.ts';
export * from './ipv6.ts';
export * from './parse-error.ts';
export * from './tcp.ts';
export * from './tcp-packet.ts';
export type * from './tcp-repr.ts';
export { NO_OPTIONS, segmentLength } from './tcp-repr.ts';
export * from './udp.ts';
