// `plearn extract`: the world model inside agents trained elsewhere. Reads the
// agent files (load.ts), probes them, then fits and evaluates exactly as
// `plearn run` does after training — on this machine, or with --submit as a job
// on a cluster whose fit runs where the cluster runs fits.

import type { Command } from 'commander';
import { pino } from 'pino';
import type { ImportedAgent, JobSpec } from '../../shared/experiments/jobs.ts';
import { continuousConfigOf } from '../../shared/experiments/jobs.ts';
import type { ContinuousConfig } from '../../shared/experiments/continuous-config.ts';
import { MAX_EXTERNAL_AGENTS } from '../../shared/experiments/continuous-config.ts';
import { initBackend } from '../../shared/tensor/backend.ts';
import { ConfigError, intIn } from '../../shared/util/validate.ts';
import { fitLocally } from '../checkpoint-run.ts';
import { logLevelOption } from '../cli-common.ts';
import type { NatsFlags } from '../nats-cli.ts';
import { addNatsOptions } from '../nats-cli.ts';
import { writeOutputs } from '../outputs.ts';
import { ProgressBar } from '../progress.ts';
import { renderResult } from '../report.ts';
import type { JobOptions } from '../run-options.ts';
import { specFromOptions } from '../run-options.ts';
import type { LoadedAgent } from './load.ts';
import { loadAgentFile, probeAgents } from './load.ts';
import { submitExtract } from './upload.ts';


const EXTRACT_KEYS = ['goalFamily', 'preset', 'seeds', 'seed', 'gamma', 'grid', 'backend', 'fitSteps', 'fitBatch', 'fitAgentsPerStep', 'fitLr',
  'fitTerminal', 'evalStates', 'rollouts', 'viTol'] as const;

export interface ExtractFlags extends Pick<JobOptions, typeof EXTRACT_KEYS[number]>, NatsFlags {
  agentFile: string[]; threads?: string; out?: string; json?: boolean; logLevel: string; submit?: boolean; watch?: boolean; timeoutMs: string;
}

export interface PreparedExtract {
  spec: JobSpec;
  config: ContinuousConfig;
  agents: LoadedAgent[];
  imported: ImportedAgent[];
}

/** Validate the options, read and probe every agent file: everything before the fit. */
export async function prepareExtract(experiment: string, flags: ExtractFlags): Promise<PreparedExtract> {
  if (experiment !== 'mountaincar' && experiment !== 'reacher') {
    throw new ConfigError('experiment', `extract applies to mountaincar and reacher (agents with Q-networks), got ${JSON.stringify(experiment)}`);
  }
  const files = flags.agentFile ?? [];
  if (files.length === 0) throw new ConfigError('agent-file', 'give at least one --agent-file (an .onnx or .safetensors Q-network with its agent card)');
  if (files.length > MAX_EXTERNAL_AGENTS) throw new ConfigError('agent-file', `${files.length} files exceed the limit of ${MAX_EXTERNAL_AGENTS}`);
  const jobOpts: JobOptions = {};
  for (const k of EXTRACT_KEYS) if (flags[k] !== undefined) jobOpts[k] = flags[k];
  const probeSpec = await specFromOptions(experiment, jobOpts);
  const base = continuousConfigOf(probeSpec);
  const agents: LoadedAgent[] = [];
  for (let i = 0; i < files.length; i++) agents.push(await loadAgentFile(files[i], i, experiment, base.goalFamily));
  const gammas = [...new Set(agents.map((a) => a.card.gamma))];
  if (gammas.length > 1) {
    throw new ConfigError('agent-file', `the agents' cards give different discounts (${agents.map((a) => `${a.artifact.label}: γ ${a.card.gamma}`).join(', ')}); one fit needs one γ`);
  }
  const gamma = gammas[0];
  if (flags.gamma !== undefined && base.gamma !== gamma) {
    throw new ConfigError('gamma', `${base.gamma} differs from the agents' γ ${gamma} (their cards); leave --gamma out, or fix the cards`);
  }
  const { tf } = await initBackend('cpu');
  const ranges = await probeAgents(tf, experiment, agents.map((a) => a.artifact), base.sampleFrom);
  const spec: JobSpec = { experiment, options: { ...probeSpec.options, gamma, agent: 'external', externalAgents: files.length } };
  const config: ContinuousConfig = continuousConfigOf(spec);
  const imported = agents.map((a, i): ImportedAgent => ({
    file: a.artifact.label, format: a.format, goals: a.card.goals.length, qMin: ranges[i].min, qMax: ranges[i].max,
  }));
  return { spec, config, agents, imported };
}

async function extractCommand(experiment: string, flags: ExtractFlags): Promise<number> {
  const log = pino({ level: flags.logLevel, base: { svc: 'plearn-extract' } }, pino.destination(2));
  const threads = flags.threads === undefined ? undefined : intIn('threads', flags.threads, 1, 1024);
  const prepared = await prepareExtract(experiment, flags);
  for (const a of prepared.imported) log.info({ file: a.file, format: a.format, goals: a.goals, qMin: a.qMin, qMax: a.qMax }, 'agent probed');
  if (flags.submit) return submitExtract(prepared, flags);
  let bar: ProgressBar | undefined;
  const seeds = prepared.config.seeds;
  const outcome = await fitLocally(prepared.config, Array.from({ length: seeds }, () => prepared.agents.map((a) => a.artifact)), {
    threads,
    hooks: { planned: (units) => { bar = new ProgressBar(units); }, progress: (unit, d, n) => bar?.update(unit, d, n) },
  });
  bar?.finish();
  outcome.result = { ...outcome.result, imported: prepared.imported } as typeof outcome.result;
  if (flags.out) await writeOutputs(flags.out, outcome);
  process.stdout.write(flags.json ? JSON.stringify(outcome.result, null, 2) + '\n' : renderResult(outcome.result) + '\n');
  return 0;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerExtractCommand(program: Command): void {
  const cmd = program.command('extract')
    .description('Fit and evaluate the world model inside goal-conditioned Q-networks trained elsewhere (PyTorch, JAX, …), '
      + 'given as ONNX or safetensors files with an agent card (docs/agents.md); the report is the one `plearn run` prints.')
    .argument('<experiment>', 'mountaincar | reacher')
    .option('--agent-file <file>', 'an agent: FILE.onnx or FILE.safetensors, its card beside it as FILE.json or inside it (metadata "plearn.agent"); '
      + 'a q-network-seed<k>-agent<j>.safetensors that `plearn run --out` wrote needs no card. Repeat for several agents', collect, [])
    .option('--goal-family <f>', 'mountaincar: position (default) | velocity — the training goals a card\'s goal indices refer to')
    .option('--preset <p>', 'fit and evaluation defaults: quick (default) | paper (the reference implementation\'s)')
    .option('--seeds <n>', 'fits over the same agents with different fit seeds (default 1)')
    .option('--seed <s>', 'job seed (uint32), default 0')
    .option('--gamma <g>', 'discount; must equal the agents\' γ (default: theirs)')
    .option('--grid <n>', 'VI grid points per state dim (quick 200 / 21; paper 200 / 50)')
    .option('--backend <b>', 'tensor backend for the fit: auto | tensorflow-gpu | webgpu | tensorflow | cpu-blas | wasm | cpu')
    .option('--fit-steps <n>', 'Adam steps of the P-learning fit')
    .option('--fit-batch <n>', 'P-learning batch size (quick 512 / 256; paper 4096 / 1024)')
    .option('--fit-agents-per-step <n>', 'a fit step evaluates at most this many agents (default 64)')
    .option('--fit-lr <lr>', 'Adam learning rate of the fit')
    .option('--fit-terminal <mode>', 'samples whose state already meets the goal: skip | fit')
    .option('--eval-states <n>', 'states for the WM error metrics (default 20000)')
    .option('--rollouts <n>', 'reset states per unseen-goal rollout (default 512)')
    .option('--vi-tol <t>', 'VI convergence threshold on max |ΔV|')
    .option('--threads <n>', 'worker threads on this machine (default: available cores)')
    .option('--out <dir>', 'write result.json, the world models (safetensors) and pictures into this directory')
    .option('--json', 'print one JSON document (the one `plearn run --json` prints, plus "imported")')
    .option('--submit', 'run it as a job on a cluster (--nats URL …): the agents are uploaded through the coordinator, the fit runs where the cluster runs fits; prints the job id')
    .option('--watch', 'with --submit: follow the job and print the results')
    .option('--timeout-ms <ms>', 'with --submit: how long to wait for the coordinator to answer each request', '30000')
    .addOption(logLevelOption());
  addNatsOptions(cmd).action(async (experiment: string, flags: ExtractFlags) => {
    process.exitCode = await extractCommand(experiment, flags);
  });
}
