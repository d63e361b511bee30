// Pieces every command shares.

import { Option } from 'commander';

/** Input the user can fix: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A duration for progress lines: seconds under a minute and a half, then minutes. */
export const shortDuration = (ms: number) => (ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`);

export const logLevelOption = () =>
  new Option('--log-level <level>', 'log level on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug']).default('warn');
