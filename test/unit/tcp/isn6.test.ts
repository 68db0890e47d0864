/**
 * ISNs and SYN cookies over IPv6 (RFC 6528 §3 over the 128-bit addresses): the core's 4-tuples
 * carry numbers ≥ IPV6_ID_BASE for IPv6 addresses (src/tcp/address.ts), and the hashes read the
 * real bytes behind them, never the ids.
 */
import { describe, expect, it } from 'vitest';
import { IPV6_ID_BASE } from '../../../src/tcp/address.ts';
import { IsnGenerator } from '../../../src/tcp/isn.ts';
import { sipHash24 } from '../../../src/tcp/siphash.ts';
import { SynCookies } from '../../../src/tcp/syncookie.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';

const secret = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);
const LOCAL = parseIpv6('fd00::2');
const REMOTE = parseIpv6('2001:db8:1234:5678:9abc:def0:1357:2468');

/** Ids for a table of addresses, as the stack layer gives them. */
function table(...addrs: Uint8Array[]) {
  return (id: number) => {
    const a = addrs[id - IPV6_ID_BASE];
    if (a === undefined) throw new RangeError(`no id ${id}`);
    return a;
  };
}

function generator(...addrs: Uint8Array[]): IsnGenerator {
  const g = new IsnGenerator(secret);
  g.addressBytes = table(...addrs);
  return g;
}

const L = IPV6_ID_BASE;
const R = IPV6_ID_BASE + 1;

describe('IsnGenerator over IPv6', () => {
  it('is SipHash-2-4 of local address, remote address and the ports, plus the 4 µs clock', () => {
    const g = generator(LOCAL, REMOTE);
    const msg = new Uint8Array(36);
    msg.set(LOCAL, 0);
    msg.set(REMOTE, 16);
    new DataView(msg.buffer).setUint16(32, 80, true);
    new DataView(msg.buffer).setUint16(34, 40_001, true);
    const f = sipHash24(secret, msg)[0];
    expect(g.next(L, 80, R, 40_001, 0)).toBe(f >>> 0);
    expect(g.next(L, 80, R, 40_001, 2)).toBe((f + 500) >>> 0);
  });

  it('changes with every byte of either address, and not with the ids', () => {
    const base = generator(LOCAL, REMOTE).next(L, 80, R, 40_001, 0);
    const seen = new Set<number>([base]);
    for (let i = 0; i < 32; i++) {
      const local = LOCAL.slice();
      const remote = REMOTE.slice();
      if (i < 16) local[i] ^= 1;
      else remote[i - 16] ^= 1;
      seen.add(generator(local, remote).next(L, 80, R, 40_001, 0));
    }
    expect(seen.size).toBe(33);
    // The same addresses under other ids: the same ISN.
    const g = generator(REMOTE, LOCAL, REMOTE, LOCAL);
    expect(g.next(IPV6_ID_BASE + 3, 80, IPV6_ID_BASE + 2, 40_001, 0)).toBe(base);
  });

  it('leaves IPv4 ISNs as they were, and refuses an IPv6 id without its bytes', () => {
    const plain = new IsnGenerator(secret);
    expect(generator(LOCAL).next(0x0a00_0002, 80, 0x0a00_0001, 5, 9)).toBe(
      plain.next(0x0a00_0002, 80, 0x0a00_0001, 5, 9),
    );
    expect(() => plain.next(L, 80, R, 5, 0)).toThrow(RangeError);
  });
});

describe('SynCookies over IPv6', () => {
  function cookies(...addrs: Uint8Array[]): SynCookies {
    const c = new SynCookies(new Uint8Array(32).fill(9));
    c.addressBytes = table(...addrs);
    return c;
  }

  it('checks a cookie for its own IPv6 4-tuple and refuses it for another address', () => {
    const c = cookies(LOCAL, REMOTE);
    const cookie = c.make(L, 80, R, 40_001, 12_345, 2, 1000);
    expect(c.check(L, 80, R, 40_001, 12_345, cookie, 1000)).toBe(2);
    const near = REMOTE.slice();
    near[15] ^= 1;
    const other = cookies(LOCAL, near);
    expect(other.check(L, 80, R, 40_001, 12_345, cookie, 1000)).not.toBe(2);
    // The cookie of another address is another number.
    expect(other.make(L, 80, R, 40_001, 12_345, 2, 1000)).not.toBe(cookie);
  });
});
