/**
 * Known packets, byte for byte as Linux sends them, with valid checksums. `tcpdump -vvv -r` on a
 * pcap of these three reads:
 *
 *   10.0.0.1 > 10.0.0.2: ICMP echo request, id 7238, seq 1, length 64   (ping, iputils payload)
 *   10.0.0.1.41460 > 10.0.0.2.80: Flags [S], cksum 0x0ac8 (correct), seq 4058174404, win 64240,
 *       options [mss 1460,sackOK,TS val 2587569181 ecr 0,nop,wscale 7], length 0
 *   10.0.0.1.50514 > 10.0.0.2.7: [udp sum ok] UDP, length 6            (echo hello | nc -u)
 */
export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

export const A = 0x0a000001; // 10.0.0.1
export const B = 0x0a000002; // 10.0.0.2

export const PING = hex(`
  4500 0054 3a4f 4000 4001 ec57 0a00 0001 0a00 0002
  0800 86ad 1c46 0001
  00f1 5365 0000 0000 40e2 0100 0000 0000 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f
  2021 2223 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637`);

export const SYN = hex(`
  4500 003c 8d21 4000 4006 9998 0a00 0001 0a00 0002
  a1f4 0050 f1e2 d3c4 0000 0000 a002 faf0 0ac8 0000
  0204 05b4 0402 080a 9a3b 2c1d 0000 0000 0103 0307`);

export const UDP = hex(`
  4500 0022 5b10 4000 4011 cbb8 0a00 0001 0a00 0002
  c552 0007 000e e299 6865 6c6c 6f0a`);

/** A buffer of `n` bytes filled with 0xa5, so that a field an emitter forgets to write shows. */
export function a5(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xa5);
}
