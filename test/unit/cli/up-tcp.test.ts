import { describe, expect, it } from 'vitest';
import { realLinkTcp } from '../../../src/cli/up.ts';

describe('up: TCP defaults for a real link', () => {
  it('CUBIC and tail loss probes unless told otherwise', () => {
    expect(realLinkTcp({})).toEqual({ congestion: 'cubic', tailLossProbe: true });
  });
  it('--congestion reno --no-tlp', () => {
    expect(realLinkTcp({ congestion: 'reno', tlp: false })).toEqual({
      congestion: 'reno',
      tailLossProbe: false,
    });
  });
});
