/**
 * `tunstack up --in-container` may put the device in the current namespace only inside a
 * container that has no network of its own; everywhere else it refuses before touching anything.
 */
import { describe, expect, it } from 'vitest';
import { type ContainerFacts, inContainerRefusal, readyMessage } from '../../../src/cli/up.ts';

const facts = (f: Partial<ContainerFacts>): ContainerFacts => ({
  markers: ['/.dockerenv'],
  envFlag: false,
  links: [{ name: 'lo' }],
  ...f,
});

describe('inContainerRefusal', () => {
  it('allows a Docker or Podman container run with --network none', () => {
    expect(inContainerRefusal(facts({}))).toBeNull();
    expect(inContainerRefusal(facts({ markers: ['/run/.containerenv'] }))).toBeNull();
  });

  it('allows TUNSTACK_IN_CONTAINER=1 where the runtime leaves no marker', () => {
    expect(inContainerRefusal(facts({ markers: [], envFlag: true }))).toBeNull();
  });

  it('refuses outside a container', () => {
    expect(inContainerRefusal(facts({ markers: [] }))).toMatch(/does not look like a container/);
  });

  it('counts TUN devices (ours, or a stack before us) as no network of its own', () => {
    const links = [{ name: 'lo' }, { name: 'tun0', kind: 'tun' }, { name: 'tun1', kind: 'tun' }];
    expect(inContainerRefusal(facts({ links }))).toBeNull();
  });

  it('refuses a namespace with any other interface, even in a container or with the variable', () => {
    const links = [{ name: 'lo' }, { name: 'eth0', kind: 'veth' }, { name: 'ifb0', kind: 'ifb' }];
    for (const f of [facts({ links }), facts({ links, markers: [], envFlag: true })]) {
      expect(inContainerRefusal(f)).toMatch(/network of its own \(eth0, ifb0\).*--network none/);
    }
    // A physical NIC has no link kind at all.
    expect(inContainerRefusal(facts({ links: [{ name: 'lo' }, { name: 'enp1s0' }] }))).toMatch(
      /enp1s0/,
    );
  });
});

describe('readyMessage', () => {
  const base = {
    netns: 'tunstack',
    dev: 'tun0',
    addr: '10.0.0.2',
    hostAddr: '10.0.0.1/24',
    mtu: 1500,
    batch: 64,
    apps: [],
    logLevel: 'info' as const,
  };
  it('tells a container user to ping without ip netns exec', () => {
    const msg = readyMessage({ ...base, inContainer: true }, 'tun0');
    expect(msg).toContain('try: ping 10.0.0.2 | curl http://10.0.0.2/');
    expect(msg).not.toContain('ip netns');
  });
  it('keeps the namespace commands otherwise', () => {
    expect(readyMessage(base, 'tun0')).toContain('ip netns exec tunstack ping 10.0.0.2');
  });
});
