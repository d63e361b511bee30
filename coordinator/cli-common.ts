// Pieces every command shares.

import { Option } from 'commander';

/** Input the user can fix: printed as one line, exit code 2. */
export class UsageError extends Error {}

export const logLevelOption = () =>
  new Option('--log-level <level>', 'log level on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug']).default('warn');
