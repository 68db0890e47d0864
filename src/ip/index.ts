export * from './input.ts';
export * from './ipv6-input.ts';
export * from './ipv6-output.ts';
export * from './output.ts';
export * from './reassembly.ts';
export * from './slab.ts';
export * from './stats.ts';
export * from './stats6.ts';
