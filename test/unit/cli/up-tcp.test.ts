import { describe, expect, it } from 'vitest';
import { realLinkTcp } from '../../../src/cli/up.ts';

describe('up: TCP defaults for a real link', () => {
  it('CUBIC, tail loss probes, PRR and RACK unless told otherwise', () => {
    expect(realLinkTcp({})).toEqual({
      congestion: 'cubic',
      tailLossProbe: true,
      prr: true,
      rack: true,
    });
  });
  it('--congestion reno --no-tlp', () => {
    expect(realLinkTcp({ congestion: 'reno', tlp: false })).toEqual({
      congestion: 'reno',
      tailLossProbe: false,
      prr: true,
      rack: true,
    });
  });
  it('--snd-buf and --rcv-buf size every connection; the receive buffer bounds reassembly too', () => {
    expect(realLinkTcp({ sndBuf: 16 << 20, rcvBuf: 8 << 20 })).toEqual({
      congestion: 'cubic',
      tailLossProbe: true,
      prr: true,
      rack: true,
      sndBuf: 16 << 20,
      rcvBuf: 8 << 20,
      maxOoo: 8 << 20,
    });
  });
});
