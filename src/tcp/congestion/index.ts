/** Congestion controllers by name. */

import { Cubic } from './cubic.ts';
import { Reno } from './reno.ts';
import type { CongestionControl, CongestionOptions } from './types.ts';

export type { CongestionControl, CongestionOptions } from './types.ts';
export { INITIAL_SSTHRESH } from './types.ts';

export type CongestionName = 'reno' | 'cubic';

export function createCongestionControl(
  name: CongestionName,
  o: CongestionOptions,
): CongestionControl {
  switch (name) {
    case 'reno':
      return new Reno(o);
    case 'cubic':
      return new Cubic(o);
  }
}
