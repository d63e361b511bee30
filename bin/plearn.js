#!/usr/bin/env node
// Entry point of the `plearn` binary: load the TypeScript sources through tsx (the
// package ships sources, not a build), then hand over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../coordinator/cli.ts');
process.exitCode = await main(process.argv.slice(2));
