import { describe, expect, it } from 'vitest';
import { realLinkTcp } from '../../../src/cli/up.ts';

describe('up: TCP defaults for a real link', () => {
  it('CUBIC, tail loss probes (also in recovery, resending), PRR and RACK unless told otherwise', () => {
    expect(realLinkTcp({})).toEqual({
      congestion: 'cubic',
      tailLossProbe: true,
      tlpResend: true,
      recoveryProbe: true,
      prr: true,
      rack: true,
    });
  });
  it('--congestion reno --no-tlp --no-rack', () => {
    expect(realLinkTcp({ congestion: 'reno', tlp: false })).toEqual({
      congestion: 'reno',
      tailLossProbe: false,
      tlpResend: true,
      recoveryProbe: true,
      prr: true,
      rack: true,
    });
    expect(realLinkTcp({ rack: false })).toMatchObject({ rack: false });
  });
  it('--rfc-probes: tail loss probes as RFC 8985 words them (new data first, none in recovery)', () => {
    expect(realLinkTcp({ rfcProbes: true })).toMatchObject({
      tlpResend: false,
      recoveryProbe: false,
    });
  });
  it('--ecn asks for ECN (1), --no-ecn refuses it (0); unset keeps the core default (2, accept)', () => {
    expect(realLinkTcp({ ecn: 1 })).toMatchObject({ ecn: 1 });
    expect(realLinkTcp({ ecn: 0 })).toMatchObject({ ecn: 0 });
    expect(realLinkTcp({})).not.toHaveProperty('ecn');
  });
  it('--snd-buf and --rcv-buf size every connection; the receive buffer bounds reassembly too', () => {
    expect(realLinkTcp({ sndBuf: 16 << 20, rcvBuf: 8 << 20 })).toEqual({
      congestion: 'cubic',
      tailLossProbe: true,
      tlpResend: true,
      recoveryProbe: true,
      prr: true,
      rack: true,
      sndBuf: 16 << 20,
      rcvBuf: 8 << 20,
      maxOoo: 8 << 20,
    });
  });
});
