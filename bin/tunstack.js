#!/usr/bin/env node
// The tunstack command: run the TypeScript CLI through tsx (the project runs TypeScript directly,
// without a build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
