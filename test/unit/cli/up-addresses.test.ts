import { describe, expect, it } from 'vitest';
import { checkAddresses } from '../../../src/cli/up.ts';

const check = (addr: string, hostAddr: string) => () => checkAddresses({ addr, hostAddr });

describe('tunstack up: --addr and --host-addr', () => {
  it('accepts the defaults and any pair in one subnet', () => {
    expect(check('10.0.0.2', '10.0.0.1/24')).not.toThrow();
    expect(check('192.168.7.200', '192.168.4.1/22')).not.toThrow();
    expect(check('10.0.0.2', '10.0.0.1/30')).not.toThrow();
  });

  it('refuses what is not a dotted quad (leading zeros included) or a bad prefix', () => {
    expect(check('10.0.0', '10.0.0.1/24')).toThrow(/--addr: not an IPv4 address/);
    expect(check('10.0.0.256', '10.0.0.1/24')).toThrow(/--addr/);
    expect(check('010.0.0.2', '10.0.0.1/24')).toThrow(/--addr/);
    for (const bad of [
      '10.0.0.1',
      '10.0.0.1/',
      '10.0.0.1/31',
      '10.0.0.1/0',
      '10.0.0.1/24.5',
      'x/24',
    ])
      expect(check('10.0.0.2', bad), bad).toThrow(/--host-addr: expected ADDRESS\/PREFIX/);
  });

  it('refuses the same address twice and an address outside the subnet', () => {
    expect(check('10.0.0.1', '10.0.0.1/24')).toThrow(/must differ/);
    expect(check('10.0.1.2', '10.0.0.1/24')).toThrow(/is not inside --host-addr/);
    expect(check('10.0.0.6', '10.0.0.1/30')).toThrow(/is not inside/);
  });
});
