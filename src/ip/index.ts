export * from './input.ts';
export * from './output.ts';
export * from './reassembly.ts';
export * from './stats.ts';
