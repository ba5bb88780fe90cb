#!/usr/bin/env node
// The `tuned-lens` command. Sources are TypeScript run through tsx (no build step), so a
// fresh `npm ci` gives a working command: `npx tuned-lens --help`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
