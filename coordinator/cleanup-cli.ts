// `plearn cleanup`: what `helm uninstall` leaves behind. plearn keeps its jobs,
// tasks, dead letters and results in four JetStream streams that outlive every
// pod (so a reinstall finds its results again); this lists them and, with --yes,
// deletes them. Refused while a coordinator answers: it would lose its queue under it.

import type { Command } from 'commander';
import { jetstreamManager } from '@nats-io/jetstream';
import { ARTIFACT_BUCKET, COORDINATOR_SERVICE, DLQ_STREAM, STATE_BUCKET, TASK_STREAM } from '../shared/protocol/subjects.ts';
import { logLevelOption } from './cli-common.ts';
import { addNatsOptions, connectRaw } from './nats-cli.ts';
import type { NatsFlags } from './nats-cli.ts';
import { discover } from './nats/services.ts';

interface CleanupFlags extends NatsFlags { yes?: boolean; json?: boolean; logLevel: string }

/** The streams behind plearn's queue, dead letters, KV bucket and Object Store. */
export const PLEARN_STREAMS: readonly { stream: string; holds: string }[] = [
  { stream: TASK_STREAM, holds: 'task queue' },
  { stream: DLQ_STREAM, holds: 'dead letters' },
  { stream: `KV_${STATE_BUCKET}`, holds: 'job, task, sweep records (KV bucket)' },
  { stream: `OBJ_${ARTIFACT_BUCKET}`, holds: 'artifacts, models, results (Object Store)' },
];

interface Found { stream: string; holds: string; messages: number; bytes: number }

async function cleanup(flags: CleanupFlags): Promise<number> {
  const nc = await connectRaw(flags, 'plearn-cleanup');
  try {
    if (flags.yes && (await discover(nc, COORDINATOR_SERVICE, 1000)).length > 0) {
      process.stderr.write('plearn: error: a coordinator is running against this NATS server; stop it (and the workers) first\n');
      return 1;
    }
    const jsm = await jetstreamManager(nc);
    const found: Found[] = [];
    for (const s of PLEARN_STREAMS) {
      const info = await jsm.streams.info(s.stream).catch(() => null);
      if (info) found.push({ ...s, messages: info.state.messages, bytes: info.state.bytes });
    }
    if (flags.yes) for (const f of found) await jsm.streams.delete(f.stream);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ deleted: Boolean(flags.yes), streams: found })}\n`);
    } else if (found.length === 0) {
      process.stdout.write('no plearn data on this NATS server\n');
    } else {
      for (const f of found) {
        process.stdout.write(`${f.stream.padEnd(22)} ${f.holds.padEnd(42)} ${String(f.messages).padStart(8)} msgs ${(f.bytes / 2 ** 20).toFixed(1).padStart(9)} MiB\n`);
      }
      process.stdout.write(flags.yes ? `deleted ${found.length} stream(s)\n` : 'nothing deleted: run again with --yes to delete them\n');
    }
    return 0;
  } finally {
    await nc.close();
  }
}

export function registerCleanupCommand(program: Command): void {
  addNatsOptions(program.command('cleanup')
    .description('List plearn\'s data on a NATS server (task queue, dead letters, state, artifacts and results: what `helm uninstall` leaves), and delete it with --yes. Needs the admin role; refused while a coordinator runs.'))
    .option('--yes', 'delete the streams (without it, only list them)')
    .option('--json', 'print JSON: {deleted, streams: [{stream, holds, messages, bytes}]}')
    .addOption(logLevelOption())
    .action(async (flags: CleanupFlags) => { process.exitCode = await cleanup(flags); });
}
