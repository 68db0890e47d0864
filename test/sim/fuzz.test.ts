/**
 * The fuzzer (scripts/fuzz, docs/fuzz.md) as a test: a short seeded run and one with a random
 * seed, printed so that a failure reproduces with `npm run fuzz -- --seed S`. Each asserts that
 * no invariant failed (every IPv6 packet accounted for by a counter among them), and that the
 * run reached what it exists to reach: connections through their states, fragments reassembled,
 * bounds hit, in both families; and a short IPv4-only run, the fuzzer as it was before IPv6.
 */
import { describe, expect, it } from 'vitest';
import { type FuzzResult, runFuzz } from '../../scripts/fuzz/run.ts';

function explain(r: FuzzResult): string {
  const f = r.failure;
  if (f === null) return 'ok';
  return `seed ${f.seed}, packet ${f.packetIndex}: ${f.message}\npacket: ${f.packetHex}\nreproduce: npm run fuzz -- --seed ${f.seed} --packets ${r.packets}`;
}

describe('fuzz', () => {
  it('20 000 packets, seed 6: every invariant holds and TCP reaches its deeper states', async () => {
    const r = await runFuzz({ packets: 20_000, seed: 6, heapEvery: 10_000 });
    expect(explain(r)).toBe('ok');
    expect(r.packets).toBe(20_000);
    const c = r.reached;
    for (const state of [
      'SYN_SENT',
      'SYN_RECEIVED',
      'ESTABLISHED',
      'FIN_WAIT_1',
      'FIN_WAIT_2',
      'CLOSE_WAIT',
      'LAST_ACK',
      'TIME_WAIT',
    ]) {
      expect(c[`state:${state}`], state).toBeGreaterThan(0);
    }
    expect(c.reassembled).toBeGreaterThan(0);
    expect(c['ip:frag-timeout']).toBeGreaterThan(0); // the reassembly timer fired
    expect(c['ip:frag-memory']).toBeGreaterThan(0); // the reassembly bound bit
    expect(c.tableFull + c.timeWaitEvicted).toBeGreaterThan(0); // the table bound bit
    expect(c['tcp:bad-checksum']).toBeGreaterThan(0); // some checksums left unrepaired
    expect(c.icmpEchoReplies).toBeGreaterThan(0);
    expect(c.protectedBytesVerified).toBeGreaterThan(100_000); // the protected echo flowed
    expect(r.virtualMs).toBeGreaterThan(60_000);
    // IPv6 (both stacks dual-stack): the same paths and what only IPv6 has.
    expect(c.ip6Delivered).toBeGreaterThan(0);
    expect(c.ip6ExtensionHeaders).toBeGreaterThan(0); // chains walked
    expect(c.ip6AtomicFragments).toBeGreaterThan(0); // RFC 6946
    expect(c.ip6Reassembled).toBeGreaterThan(0);
    expect(c.ip6TxFragmented).toBeGreaterThan(0); // our own large datagrams cut up
    expect(c['ip6:frag-timeout']).toBeGreaterThan(0);
    expect(c.icmp6TimeExceeded).toBeGreaterThan(0); // ... answered with Time Exceeded
    expect(c['ip6:frag-memory']).toBeGreaterThan(0); // the IPv6 reassembly bound bit
    expect(c['ip6:frag-overlap']).toBeGreaterThan(0); // RFC 5722
    expect(c['ip6:ext-too-many']).toBeGreaterThan(0); // the walk's bound bit
    expect(c['ip6:routing-type0']).toBeGreaterThan(0); // RFC 5095
    expect(c['ip6:option-unrecognised']).toBeGreaterThan(0);
    expect(c.icmp6ParameterProblems).toBeGreaterThan(0);
    expect(c.icmp6Unreachables).toBeGreaterThan(0); // UDP port unreachable
    expect(c.icmp6EchoReplies).toBeGreaterThan(0);
    expect(c.icmp6NdIgnored + c.icmp6MldIgnored).toBeGreaterThan(0);
    expect(c.ipv6PeersFull).toBeGreaterThan(0); // the bound on IPv6 peers bit
    expect(c.ipv6PeersHeadroom).toBeGreaterThan(0); // new peers' SYNs answered without an id
    expect(c['ip6:martian-unspecified']).toBeGreaterThan(0);
  });

  it('5 000 packets, IPv4 only (ipv6: false), seed 2: as before IPv6', async () => {
    const r = await runFuzz({ packets: 5_000, seed: 2, ipv6: false });
    expect(explain(r)).toBe('ok');
    expect(r.reached.ip6Rx).toBeUndefined();
    expect(r.reached['state:ESTABLISHED']).toBeGreaterThan(0);
  });

  it('5 000 packets with a random seed (printed)', async () => {
    const seed = (Math.random() * 2 ** 32) >>> 0;
    console.log(`fuzz test: random seed ${seed} (npm run fuzz -- --seed ${seed} --packets 5000)`);
    const r = await runFuzz({ packets: 5_000, seed });
    expect(explain(r)).toBe('ok');
    expect(r.packets).toBe(5_000);
  });
});
