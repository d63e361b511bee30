// Reading `plearn extract --agent-file` files into the agents a fit reads: the
// file (ONNX, or safetensors with an architecture in its card; plearn's own
// q-network files need no card), its agent card (beside it as <stem>.json, or
// inside the file under "plearn.agent"), an optional goals file, then the graph,
// its weights checked finite, and a quick probe of its outputs. Everything the
// user can fix is a ConfigError naming the file and the field: exit code 2.

import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { AgentCard } from '../../shared/agents/agent-card.ts';
import { CARD_METADATA_KEY, cardOfQNet, parseAgentCard } from '../../shared/agents/agent-card.ts';
import type { ExternalAgentArtifact } from '../../shared/agents/external.ts';
import { probeExternal } from '../../shared/agents/external.ts';
import type { AgentGraph } from '../../shared/agents/graph.ts';
import { checkFiniteWeights, GraphError, graphFromNetwork, graphFromOnnx } from '../../shared/agents/graph.ts';
import type { ContinuousEnvName, MountainCarGoalFamily } from '../../shared/envs/continuous-tasks.ts';
import { continuousEnv, sampleStates } from '../../shared/experiments/continuous.ts';
import { decodeOnnx, OnnxError } from '../../shared/format/onnx.ts';
import type { SafetensorsFile } from '../../shared/format/safetensors.ts';
import { decodeSafetensors, SafetensorsError } from '../../shared/format/safetensors.ts';
import { MAX_ARTIFACT_BYTES } from '../../shared/protocol/limits.ts';
import type { TF } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/util/rng.ts';
import { ConfigError } from '../../shared/util/validate.ts';
import { ArtifactError, Q_NETWORK_FORMAT, qNetFromSafetensors } from '../artifacts.ts';

export const PROBE_STATES = 256;

interface Found { card: unknown; base: string; from: string }

async function readJson(path: string, field: string): Promise<unknown> {
  let text: string;
  try {
    const size = (await stat(path)).size;
    if (size > 1024 * 1024) throw new ConfigError(field, `${path} is ${size} bytes; a card or goals file is at most 1 MiB`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(field, `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ConfigError(field, `${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The card beside the file (<stem>.json) wins over one inside it. */
async function findCard(path: string, embedded: string | undefined): Promise<Found> {
  const side = join(dirname(path), basename(path, extname(path)) + '.json');
  const exists = await stat(side).then((s) => s.isFile(), () => false);
  const name = basename(path);
  if (exists) return { card: await readJson(side, `${name}: card`), base: dirname(side), from: side };
  if (embedded !== undefined) {
    try {
      return { card: JSON.parse(embedded) as unknown, base: dirname(path), from: `${name} (metadata ${CARD_METADATA_KEY})` };
    } catch {
      throw new ConfigError(`${name}: metadata ${CARD_METADATA_KEY}`, 'is not valid JSON');
    }
  }
  throw new ConfigError(`${name}: card`, `no agent card: put one beside the file as ${basename(side)}, or inside it under the metadata key ${CARD_METADATA_KEY} (see docs/agents.md)`);
}

/** A `goals` given as a file path is replaced by the file's contents (a path relative to the card). */
async function withGoals(found: Found, name: string): Promise<unknown> {
  const c = found.card;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return c;
  const goals = (c as Record<string, unknown>).goals;
  if (typeof goals !== 'string') return c;
  return { ...(c as Record<string, unknown>), goals: await readJson(resolve(found.base, goals), `${name}: card goals`) };
}

function describeFormatError(name: string, e: unknown): never {
  if (e instanceof SafetensorsError || e instanceof OnnxError || e instanceof GraphError || e instanceof ArtifactError) {
    throw new ConfigError(name, e.message);
  }
  throw e;
}

export interface LoadedAgent { artifact: ExternalAgentArtifact; card: AgentCard; cardFrom: string; format: 'onnx' | 'safetensors' | 'plearn' }

/** One agent file, validated (not yet probed). `index` is its place on the command line. */
export async function loadAgentFile(path: string, index: number, experiment: ContinuousEnvName, family: MountainCarGoalFamily): Promise<LoadedAgent> {
  const t0 = performance.now();
  const name = basename(path);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new ConfigError('agent-file', `cannot read ${path}: ${(e as Error).message}`);
  }
  if (size > MAX_ARTIFACT_BYTES) throw new ConfigError(name, `${size} bytes exceeds the artifact limit of ${MAX_ARTIFACT_BYTES} bytes (allowed: [0, ${MAX_ARTIFACT_BYTES}])`);
  const bytes = new Uint8Array(await readFile(path));
  const ext = extname(path).toLowerCase();
  let card: AgentCard;
  let graph: AgentGraph;
  let cardFrom: string;
  let format: LoadedAgent['format'];
  const cardOf = async (found: Found): Promise<AgentCard> => {
    const c = parseAgentCard(await withGoals(found, name), name, family);
    if (c.experiment !== experiment) throw new ConfigError(`${name}: card experiment`, `is ${c.experiment}; this command extracts ${experiment}`);
    return c;
  };
  try {
    if (ext === '.onnx') {
      const model = decodeOnnx(bytes);
      const found = await findCard(path, model.metadata[CARD_METADATA_KEY]);
      card = await cardOf(found);
      graph = graphFromOnnx(model, card.inputs.length);
      cardFrom = found.from;
      format = 'onnx';
    } else if (ext === '.safetensors') {
      const file: SafetensorsFile = decodeSafetensors(bytes);
      if (file.metadata.format === Q_NETWORK_FORMAT) {
        ({ card, graph } = plearnQNet(bytes, path, family));
        cardFrom = `${name} (a plearn q-network file)`;
        format = 'plearn';
      } else {
        const found = await findCard(path, file.metadata[CARD_METADATA_KEY]);
        card = await cardOf(found);
        if (card.network === undefined) throw new ConfigError(`${name}: card network`, 'is missing: a safetensors file needs its architecture (hidden, norm, activation, head, kernelLayout, tensors)');
        graph = graphFromNetwork(card.network, card.inputs.length, card.actions, file.tensors);
        cardFrom = found.from;
        format = 'safetensors';
      }
    } else {
      throw new ConfigError('agent-file', `${path}: unknown format ${JSON.stringify(ext)}; expected .onnx or .safetensors`);
    }
    checkFiniteWeights(graph);
  } catch (e) {
    describeFormatError(name, e);
  }
  if (card.experiment !== experiment) throw new ConfigError(`${name}: card experiment`, `is ${card.experiment}; this command extracts ${experiment}`);
  const artifact: ExternalAgentArtifact = {
    kind: 'continuous-external', shardIndex: index, label: name, graph, inputs: card.inputs, ...(card.inputScale ? { inputScale: card.inputScale } : {}),
    goals: card.goals, reward: card.reward, gamma: card.gamma, nActions: card.actions, wallMs: performance.now() - t0,
  };
  return { artifact, card, cardFrom, format };
}

/** A q-network file a plearn run wrote with --out: its record is its card. */
function plearnQNet(bytes: Uint8Array, path: string, family: MountainCarGoalFamily): { card: AgentCard; graph: AgentGraph } {
  const file = qNetFromSafetensors(bytes, basename(path));
  const extra = file.extra as { goalIndices?: unknown } | undefined;
  const config = file.config as { gamma?: unknown; goalFamily?: unknown } | null;
  if (!Array.isArray(extra?.goalIndices)) throw new ConfigError(basename(path), 'lacks its agent record (goalIndices)');
  if (file.experiment === 'mountaincar' && config?.goalFamily !== family) {
    throw new ConfigError(basename(path), `was trained on ${String(config?.goalFamily)} goals; pass --goal-family ${String(config?.goalFamily)}`);
  }
  const raw = cardOfQNet(file.weights.spec, file.experiment as ContinuousEnvName, extra.goalIndices as number[], typeof config?.gamma === 'number' ? config.gamma : 0.99);
  const card = parseAgentCard(raw, basename(path), family);
  const tensors = file.weights.params.map((p) => ({ name: p.name, dtype: 'F32' as const, shape: p.shape, data: p.data }));
  return { card, graph: graphFromNetwork(card.network!, card.inputs.length, card.actions, tensors) };
}

/** Probe every agent on states drawn from the experiment's fit distribution; returns each one's Q range. */
export async function probeAgents(tf: TF, experiment: ContinuousEnvName, agents: readonly ExternalAgentArtifact[], from: 'uniform' | 'reset'): Promise<{ min: number; max: number }[]> {
  const env = continuousEnv(experiment);
  const states = new Float64Array(PROBE_STATES * env.stateDim);
  sampleStates(env, from, new Rng(0x9e3779b9), states, PROBE_STATES);
  const out: { min: number; max: number }[] = [];
  for (const a of agents) {
    try {
      out.push(await probeExternal(tf, env, a, states, PROBE_STATES));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(a.label, `failed on a probe batch of ${PROBE_STATES} rows: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
