#!/usr/bin/env node
// The tunstack command. In a checkout it runs the TypeScript CLI through tsx (the project runs
// TypeScript directly, without a build step); in an installed package, which ships the compiled
// dist/ and not the sources, it runs the JavaScript.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
