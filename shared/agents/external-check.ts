// An imported agent that arrives as bytes (an upload to the coordinator, a fit
// task's artifact) is checked field by field before anything runs it: the same
// promises graph.ts and agent-card.ts make for a file read on this machine.

import type { ContinuousEnvName } from '../envs/continuous-tasks.ts';
import { EXPERIMENT_ACTIONS, EXPERIMENT_OBS_DIM } from './agent-card.ts';
import type { ExternalAgentArtifact } from './external.ts';
import { GRAPH_OPS } from './graph.ts';

export class ExternalAgentError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ExternalAgentError';
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const MAX_NODES = 10_000;

function fail(field: string, message: string): never {
  throw new ExternalAgentError(field, message);
}

function numbers(field: string, x: unknown, len: number): void {
  const ok = (Array.isArray(x) || x instanceof Float64Array || x instanceof Float32Array) && x.length === len
    && Array.prototype.every.call(x, (v: unknown) => typeof v === 'number' && Number.isFinite(v));
  if (!ok) fail(field, `expected ${len} finite numbers`);
}

function checkGraph(g: unknown): void {
  if (!isRecord(g)) fail('graph', 'expected an object');
  if (typeof g.input !== 'string' || typeof g.output !== 'string') fail('graph', 'needs input and output names');
  if (!Number.isInteger(g.inDim) || (g.inDim as number) < 1) fail('graph.inDim', 'expected a positive integer');
  if (!Array.isArray(g.consts) || !Array.isArray(g.nodes) || g.nodes.length > MAX_NODES) fail('graph', `expected consts and at most ${MAX_NODES} nodes`);
  const known = new Set<string>([g.input]);
  for (const [i, c] of (g.consts as unknown[]).entries()) {
    if (!isRecord(c) || typeof c.name !== 'string' || !Array.isArray(c.dims)) fail(`graph.consts[${i}]`, 'expected {name, dims, kind, data}');
    let n = 1;
    for (const d of c.dims as unknown[]) {
      if (!Number.isInteger(d) || (d as number) < 0) fail(`graph.consts[${i}].dims`, 'expected non-negative integers');
      n *= d as number;
    }
    const okData = (c.kind === 'float' && c.data instanceof Float32Array) || (c.kind === 'int' && c.data instanceof Float64Array);
    if (!okData || (c.data as Float32Array).length !== n) fail(`graph.consts[${i}]`, `${c.name}: data must be ${n} values of its kind`);
    known.add(c.name);
  }
  for (const [i, n] of (g.nodes as unknown[]).entries()) {
    if (!isRecord(n) || typeof n.op !== 'string' || !(GRAPH_OPS as readonly string[]).includes(n.op)) fail(`graph.nodes[${i}]`, `operator ${isRecord(n) ? String(n.op) : '?'} is not supported`);
    if (typeof n.output !== 'string' || typeof n.name !== 'string' || !Array.isArray(n.inputs) || !isRecord(n.attrs)) fail(`graph.nodes[${i}]`, 'expected {op, name, inputs, output, attrs}');
    for (const inp of n.inputs as unknown[]) {
      if (typeof inp !== 'string' || (inp !== '' && !known.has(inp))) fail(`graph.nodes[${i}]`, `reads ${JSON.stringify(inp)} before anything writes it`);
    }
    for (const [k, v] of Object.entries(n.attrs)) {
      if (!(typeof v === 'number' || (Array.isArray(v) && v.every((e) => typeof e === 'number')))) fail(`graph.nodes[${i}].attrs.${k}`, 'expected a number or a list of numbers');
    }
    known.add(n.output);
  }
  if (!known.has(g.output)) fail('graph.output', 'is not computed by any node');
}

/** The artifact, checked for `experiment`; throws ExternalAgentError naming the field. */
export function checkExternalArtifact(x: unknown, experiment: ContinuousEnvName): ExternalAgentArtifact {
  if (!isRecord(x) || x.kind !== 'continuous-external') fail('agent', 'is not an imported agent (kind continuous-external)');
  const label = typeof x.label === 'string' ? x.label : fail('label', 'expected a string');
  const at = (f: string) => `${label}: ${f}`;
  if (!Number.isInteger(x.shardIndex) || (x.shardIndex as number) < 0) fail(at('shardIndex'), 'expected a non-negative integer');
  checkGraph(x.graph);
  const obsDim = EXPERIMENT_OBS_DIM[experiment];
  if (!Array.isArray(x.inputs) || x.inputs.length !== (x.graph as { inDim: number }).inDim) fail(at('inputs'), 'expected one column per graph input');
  for (const [i, c] of x.inputs.entries()) {
    if (!isRecord(c) || (c.source !== 'obs' && c.source !== 'goal') || !Number.isInteger(c.index) || (c.index as number) < 0 || (c.index as number) >= obsDim) {
      fail(at(`inputs[${i}]`), `expected {source: obs|goal, index in [0, ${obsDim - 1}]}`);
    }
  }
  if (x.inputScale !== undefined) {
    if (!isRecord(x.inputScale)) fail(at('inputScale'), 'expected {shift, scale}');
    numbers(at('inputScale.shift'), x.inputScale.shift, x.inputs.length);
    numbers(at('inputScale.scale'), x.inputScale.scale, x.inputs.length);
  }
  if (!Array.isArray(x.goals) || x.goals.length === 0) fail(at('goals'), 'expected at least one goal');
  x.goals.forEach((g, i) => {
    if (!isRecord(g)) fail(at(`goals[${i}]`), 'expected {target, mask}');
    numbers(at(`goals[${i}].target`), g.target, obsDim);
    numbers(at(`goals[${i}].mask`), g.mask, obsDim);
  });
  const r = x.reward;
  if (!isRecord(r) || (r.kind !== 'sparse' && r.kind !== 'gaussian') || !(typeof r.radius === 'number' && r.radius > 0)
    || !(typeof r.sigma === 'number' && r.sigma > 0) || typeof r.terminateOnGoal !== 'boolean') fail(at('reward'), 'expected {kind: sparse|gaussian, radius > 0, sigma > 0, terminateOnGoal}');
  if (typeof x.gamma !== 'number' || !(x.gamma >= 0 && x.gamma < 1)) fail(at('gamma'), 'expected a number in [0, 1)');
  if (x.nActions !== EXPERIMENT_ACTIONS[experiment]) fail(at('nActions'), `${experiment} has ${EXPERIMENT_ACTIONS[experiment]} actions`);
  if (typeof x.wallMs !== 'number') fail(at('wallMs'), 'expected a number');
  return x as unknown as ExternalAgentArtifact;
}
