import { describe, expect, it } from 'vitest';
import { realLinkTcp } from '../../../src/cli/up.ts';

describe('up: TCP defaults for a real link', () => {
  it('CUBIC, tail loss probes and PRR unless told otherwise', () => {
    expect(realLinkTcp({})).toEqual({ congestion: 'cubic', tailLossProbe: true, prr: true });
  });
  it('--congestion reno --no-tlp', () => {
    expect(realLinkTcp({ congestion: 'reno', tlp: false })).toEqual({
      congestion: 'reno',
      tailLossProbe: false,
      prr: true,
    });
  });
});
