/**
 * IPv6 with the kernel as the peer (issue 12, phase 1): the namespace's tun0 has fd00::1/64 (and
 * 10.0.0.1/24), the stack in this process fd00::2 (and 10.0.0.2). iputils `ping -6` from the
 * namespace: plain, 8000 bytes (fragments both ways) and a flood; a packet with an unknown Next
 * Header and one with a type 0 Routing header, written raw onto tun0, answered with the
 * Parameter Problems the kernel's own ICMPv6 counters then show; IPv4 beside it as before.
 */
import { expect, it } from 'vitest';
import { emitIcmpv6 } from '../../src/wire/icmpv6.ts';
import { Ipv6View, parseIpv6 } from '../../src/wire/ipv6.ts';
import {
  HOST_ADDR6,
  kernelDescribe,
  type NetnsFixture,
  ping,
  STACK_ADDR,
  STACK_ADDR6,
  type StackFixture,
  waitFor,
  withStack,
} from './harness.ts';

/** Writes each stdin line's bytes (hex) onto argv[1] as an IPv6 packet, unchanged (AF_PACKET). */
const INJECT6 = `
import socket, sys
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86dd))
s.bind((dev, 0x86dd))
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        s.sendto(bytes.fromhex(line), (dev, 0x86dd))
        n += 1
print(n)
`;

async function inject6(fx: NetnsFixture, packets: Uint8Array[]): Promise<void> {
  const r = await fx.exec(['python3', '-c', INJECT6, fx.link.name], {
    input: `${packets.map((p) => Buffer.from(p).toString('hex')).join('\n')}\n`,
    timeoutMs: 20_000,
  });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe(String(packets.length));
}

/** The kernel's ICMPv6 counters in the namespace (/proc/net/snmp6). */
async function snmp6(fx: NetnsFixture): Promise<Record<string, number>> {
  const r = await fx.exec(['cat', '/proc/net/snmp6']);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** An IPv6 packet from the kernel's address to the stack's, with `body` after the fixed header. */
function packet6(nextHeader: number, body: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + body.length);
  Ipv6View.emit(p, {
    src: parseIpv6(HOST_ADDR6),
    dst: parseIpv6(STACK_ADDR6),
    nextHeader,
    hopLimit: 64,
    payloadLength: body.length,
  });
  p.set(body, 40);
  return p;
}

/** No ICMPv6 but echo replies went out: nothing answered the kernel's own ND and MLD. */
function onlyEchoReplies(fx: StackFixture): void {
  const s = fx.stack.stats.icmp6;
  expect(s.txMessages).toBe(s.txEchoReplies);
  console.log(
    `[kernel] from the kernel, ignored: ${s.rxNdIgnored} ND, ${s.rxMldIgnored} MLD messages; ip6 drops ${JSON.stringify(Object.fromEntries(Object.entries(fx.stack.stats.ip6.drops).filter(([, n]) => n > 0)))}`,
  );
}

kernelDescribe('ping -6: the kernel pings the stack over IPv6 on TUN', () => {
  it('answers 50 pings at 10 ms intervals with 0% loss, and ping to 10.0.0.2 still works', async () => {
    await withStack(
      async (fx) => {
        const r = await ping(fx, ['-6', '-c', '50', '-i', '0.01', '-W', '5', STACK_ADDR6], {
          timeoutMs: 30_000,
        });
        expect(r.raw.code, r.raw.stdout + r.raw.stderr).toBe(0);
        expect(r.received).toBe(50);
        expect(r.lossPercent).toBe(0);
        expect(fx.stack.stats.icmp6.rxEchoRequests).toBe(50);
        expect(fx.stack.stats.icmp6.txEchoReplies).toBe(50);
        const r4 = await ping(fx, ['-c', '5', '-i', '0.01', '-W', '5', STACK_ADDR], {
          timeoutMs: 30_000,
        });
        expect(r4.received, r4.raw.stdout + r4.raw.stderr).toBe(5);
        expect(fx.stack.stats.icmp.txEchoReplies).toBe(5);
        onlyEchoReplies(fx);
      },
      { ipv6: true },
    );
  });

  it('answers 8000-byte pings: reassembles the requests, fragments the replies', async () => {
    await withStack(
      async (fx) => {
        const r = await ping(
          fx,
          ['-6', '-c', '3', '-i', '0.05', '-W', '5', '-s', '8000', STACK_ADDR6],
          { timeoutMs: 30_000 },
        );
        expect(r.received, r.raw.stdout + r.raw.stderr).toBe(3);
        // 8008 bytes of ICMPv6 over a 1500 MTU: 6 fragments each way per ping.
        const s = fx.stack.stats.ip6;
        expect(s.rxFragments).toBe(18);
        expect(s.reassembled).toBe(3);
        expect(s.txFragmented).toBe(3);
        expect(s.txPackets).toBeGreaterThanOrEqual(18);
      },
      { ipv6: true },
    );
  });

  it('survives ping -6 -f -c 10000 with 0% loss', async () => {
    await withStack(
      async (fx) => {
        const r = await ping(fx, ['-6', '-f', '-c', '10000', '-W', '5', STACK_ADDR6], {
          timeoutMs: 50_000,
        });
        expect(r.transmitted, r.raw.stdout + r.raw.stderr).toBe(10000);
        expect(r.received).toBe(10000);
        expect(r.lossPercent).toBe(0);
        console.log(
          `[kernel] ping -6 -f -c 10000: rtt min/avg/max/mdev = ${r.rtt!.min}/${r.rtt!.avg}/${r.rtt!.max}/${r.rtt!.mdev} ms`,
        );
        onlyEchoReplies(fx);
      },
      { ipv6: true },
    );
  });

  it('answers an unknown Next Header and a type 0 Routing header with Parameter Problems the kernel receives', async () => {
    await withStack(
      async (fx) => {
        const before = await snmp6(fx);
        const unknown = packet6(253, new Uint8Array(16).fill(7));
        // RFC 5095: Routing header type 0, segments left 1, one address; then an echo request.
        const echo = new Uint8Array(16);
        emitIcmpv6(
          echo,
          { kind: 'echo-request', ident: 1, seqNo: 1, data: new Uint8Array(8) },
          parseIpv6(HOST_ADDR6),
          parseIpv6(STACK_ADDR6),
        );
        const rh0 = packet6(
          43,
          new Uint8Array([58, 2, 0, 1, 0, 0, 0, 0, ...new Array(16).fill(0), ...echo]),
        );
        await inject6(fx, [unknown, rh0]);
        await waitFor(
          () => fx.stack.stats.icmp6.txParameterProblem === 2,
          10_000,
          'two Parameter Problems sent',
        );
        expect(fx.stack.stats.ip6.drops['unknown-next-header']).toBe(1);
        expect(fx.stack.stats.ip6.drops['routing-type0']).toBe(1);
        expect(fx.stack.stats.icmp6.rxEchoRequests).toBe(0);
        // The kernel's side took both as ICMPv6 Parameter Problems addressed to it.
        let after = before;
        const deadline = Date.now() + 10_000;
        while (
          (after.Icmp6InParmProblems ?? 0) - (before.Icmp6InParmProblems ?? 0) < 2 &&
          Date.now() < deadline
        ) {
          await new Promise((r) => setTimeout(r, 20));
          after = await snmp6(fx);
        }
        expect(after.Icmp6InParmProblems - before.Icmp6InParmProblems).toBe(2);
        expect(after.Icmp6InErrors - before.Icmp6InErrors).toBe(0); // checksums good
      },
      { ipv6: true },
    );
  });
}, ['ping', 'python3']);
