// `plearn extract`: agents trained elsewhere. Files a PyTorch user writes
// (torch.onnx at two opsets, a state_dict in safetensors with its card) give
// torch's own Q values in plearn; a network plearn trained round-trips through
// both formats with identical fit results; malformed files exit 2 naming what
// is wrong. The Python side is Debian's torch with PyPI's onnx
// (tests/support/torch-env.sh); without it those checks skip, saying so.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initQNet } from '../shared/agents/q-network-tf.ts';
import type { QNetSpec, QNetWeights } from '../shared/agents/q-network.ts';
import { externalBatchQ } from '../shared/agents/external.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { encodeSafetensors } from '../shared/format/safetensors.ts';
import { MAX_ARTIFACT_BYTES } from '../shared/protocol/limits.ts';
import { initBackend } from '../shared/tensor/backend.ts';
import { Rng } from '../shared/util/rng.ts';
import { writeQNetFile } from '../coordinator/artifacts.ts';
import { loadAgentFile } from '../coordinator/extract/load.ts';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { requestJson } from '../coordinator/nats/services.ts';
import { packBulk } from '../shared/protocol/codec.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { findPython, TORCH_VENV } from './support/python.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';
import { plearn, ROOT } from './support/run-cli.ts';

const SPEC: QNetSpec = { obsDims: [0, 1], goalDims: [0], hidden: [32, 24], nActions: 3, inputNorm: { shift: [-0.3, 0, -0.3], scale: [1.1, 14, 1.1] } };
/** A small fit and evaluation: each CLI run takes a few seconds. */
const QUICK = ['--fit-steps', '120', '--grid', '30', '--eval-states', '1000', '--rollouts', '16'];

let dir: string;
let plearnFile: string;
let weights: QNetWeights;

/** The flax-style layout a JAX user writes: kernels [in, out], params.Dense_k / params.LayerNorm_k names. */
function flaxNames(layers: number): Record<string, string> {
  const t: Record<string, string> = {};
  for (let l = 0; l < layers; l++) {
    Object.assign(t, { [`hidden.${l}.kernel`]: `params.Dense_${l}.kernel`, [`hidden.${l}.bias`]: `params.Dense_${l}.bias`,
      [`hidden.${l}.norm.scale`]: `params.LayerNorm_${l}.scale`, [`hidden.${l}.norm.bias`]: `params.LayerNorm_${l}.bias` });
  }
  return { ...t, 'head.kernel': `params.Dense_${layers}.kernel`, 'head.bias': `params.Dense_${layers}.bias` };
}

function card(over: Record<string, unknown> = {}, network: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    plearnAgent: 1, experiment: 'mountaincar', inputs: ['obs:0', 'obs:1', 'goal:0'], inputScale: { shift: SPEC.inputNorm!.shift, scale: SPEC.inputNorm!.scale },
    actions: 3, gamma: 0.99, goals: [0, 1, 2, 3],
    network: { hidden: SPEC.hidden, norm: 'layernorm', normEpsilon: 1e-5, activation: 'relu', head: 'sigmoid', kernelLayout: 'in_out', tensors: flaxNames(2), ...network },
    ...over,
  };
}

/** `weights` in safetensors under flax-style names, with `c` inside the file; `edit` may change the data first. */
async function flaxFile(name: string, c: Record<string, unknown> | null, edit?: (name: string, data: Float32Array) => void): Promise<string> {
  const names = flaxNames(2);
  const tensors = weights.params.map((p) => {
    const data = p.data.slice();
    edit?.(p.name, data);
    return { name: names[p.name], dtype: 'F32' as const, shape: p.shape, data };
  });
  const path = join(dir, name);
  await writeFile(path, encodeSafetensors(tensors, c === null ? {} : { 'plearn.agent': JSON.stringify(c) }));
  return path;
}

type Doc = { summary: unknown; seeds: Record<string, unknown>[]; imported: { file: string; format: string }[] };
const withoutTimes = (d: Doc) => ({ summary: d.summary, seeds: d.seeds.map(({ fitMs: _f, evalMs: _e, ...rest }) => rest) });

async function extractJson(files: string[], extra: string[] = []): Promise<Doc> {
  const r = await plearn(['extract', 'mountaincar', ...files.flatMap((f) => ['--agent-file', f]), ...QUICK, ...extra, '--json'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Doc;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plearn-extract-'));
  weights = initQNet(SPEC, new Rng(5));
  plearnFile = join(dir, 'q-network-seed0-agent0.safetensors');
  const { goals } = trainingGoals('mountaincar', 'position');
  await writeQNetFile(plearnFile, weights, {
    experiment: 'mountaincar', config: { gamma: 0.99, goalFamily: 'position' }, goals: goals.map((g) => ({ target: Array.from(g.target), mask: Array.from(g.mask) })),
    extra: { seedIndex: 0, shardIndex: 0, goalIndices: [0, 1, 2, 3], envSteps: 0, gradSteps: 0 },
  });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent files written here', () => {
  test('a flax-layout safetensors file with its card fits exactly as the plearn network it holds', async () => {
    const flax = await flaxFile('flax.safetensors', card());
    const [a, b] = await Promise.all([extractJson([plearnFile]), extractJson([flax])]);
    assert.deepEqual(withoutTimes(b), withoutTimes(a));
    assert.deepEqual(b.imported.map((x) => x.format), ['safetensors']);
    assert.equal(typeof (a.seeds[0] as { qNmse: number[] }).qNmse[0], 'number', 'imported agents get a Q error');
  });

  test('malformed files and cards exit 2 naming what is wrong', async () => {
    const shapes = await flaxFile('shapes.safetensors', card({}, { hidden: [32, 16] }));
    const nan = await flaxFile('nan.safetensors', card(), (n, d) => { if (n === 'hidden.1.kernel') d[7] = NaN; });
    const goal = await flaxFile('goal.safetensors', card({ goals: [0, 9] }));
    const noCard = await flaxFile('nocard.safetensors', null);
    const huge = await flaxFile('huge.safetensors', card({}, { head: 'linear' }), (n, d) => { if (n === 'head.bias') d.fill(500); });
    const reacher = await flaxFile('reacher.safetensors', card({ experiment: 'reacher', actions: 9 }));
    const cut = join(dir, 'cut.safetensors');
    await copyFile(await flaxFile('whole.safetensors', card()), cut);
    await truncate(cut, 3000);
    const big = join(dir, 'big.onnx');
    await writeFile(big, '');
    await truncate(big, MAX_ARTIFACT_BYTES + 1);
    const cases: [string[], RegExp][] = [
      [[shapes], /shapes\.safetensors: tensor "params\.Dense_1\.kernel": \(hidden\.1\.kernel\) is \[32, 24\], the card's architecture needs \[32, 16\]/],
      [[nan], /nan\.safetensors: tensor "hidden\.1\.kernel": holds NaN at index 7/],
      [[goal], /goal\.safetensors: card goals\[1\]: expected an integer in \[0, 3\], got 9/],
      [[noCard], /nocard\.safetensors: card: no agent card: put one beside the file as nocard\.json/],
      [[huge], /huge\.safetensors: the probe got Q = 49\d\.\d+ .*outside \[0, 100\.0\]/],
      [[reacher], /reacher\.safetensors: card experiment: is reacher; this command extracts mountaincar/],
      [[cut], /cut\.safetensors: safetensors/],
      [[big], new RegExp(`big\\.onnx: ${MAX_ARTIFACT_BYTES + 1} bytes exceeds the artifact limit of ${MAX_ARTIFACT_BYTES}`)],
      [[join(dir, 'agent.pt')], /agent-file: cannot read/],
    ];
    const runs = await Promise.all(cases.map(([files]) => plearn(['extract', 'mountaincar', ...files.flatMap((f) => ['--agent-file', f]), ...QUICK], 60_000)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i][0].join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    });
    const gamma = await plearn(['extract', 'mountaincar', '--agent-file', plearnFile, '--gamma', '0.9', ...QUICK], 60_000);
    assert.equal(gamma.code, 2);
    assert.match(gamma.stderr, /gamma: 0\.9 differs from the agents' γ 0\.99/);
  });
});

const py = findPython(['torch', 'onnx', 'safetensors'], TORCH_VENV);

describe('agents from PyTorch (torch.onnx, safetensors)', { skip: 'skip' in py ? py.skip : false }, () => {
  let fx: string;
  interface Expected { states: number[][]; q: number[][][]; qOps: number[][][] }
  let expected: Expected;

  before(async () => {
    fx = join(dir, 'torch');
    await mkdir(fx, { recursive: true });
    const r = spawnSync((py as { python: string }).python, [join(ROOT, 'tests/support/agents_fixture.py'), fx, plearnFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    expected = JSON.parse(await readFile(join(fx, 'expected.json'), 'utf8')) as Expected;
  });

  const qOf = async (file: string): Promise<Float32Array[]> => {
    const { tf } = await initBackend('cpu');
    const { artifact } = await loadAgentFile(join(fx, file), 0, 'mountaincar', 'position');
    const n = expected.states.length;
    const states = Float64Array.from(expected.states.flat());
    const batch = externalBatchQ(tf, mountainCar, artifact);
    try {
      const out: Float32Array[] = [];
      for (let g = 0; g < artifact.goals.length; g++) {
        const q = new Float32Array(n * 3);
        await batch.q(states, n, g, q);
        out.push(q);
      }
      return out;
    } finally {
      batch.dispose();
    }
  };
  const assertClose = (got: Float32Array[], want: number[][][], what: string) => {
    let worst = 0;
    want.forEach((rows, g) => rows.flat().forEach((v, i) => { worst = Math.max(worst, Math.abs(got[g][i] - v)); }));
    assert.ok(worst <= 1e-5, `${what}: max |plearn − python| = ${worst}`);
  };

  test('ONNX at opset 17 and 13 and the state_dict in safetensors give torch\'s Q values (1e-5)', async () => {
    for (const f of ['torch-mlp.onnx', 'torch-mlp-op13.onnx', 'torch-mlp-st.safetensors']) assertClose(await qOf(f), expected.q, f);
  });

  test('a graph reading its columns with Slice, Gather and Concat (Gemm, Tanh, Sub, Div, Neg, Mul, MatMul) gives numpy\'s Q values', async () => {
    assertClose(await qOf('ops.onnx'), expected.qOps, 'ops.onnx');
  });

  test('a network plearn trained round-trips through ONNX and safetensors with identical fit results', async () => {
    const [a, b, c] = await Promise.all([extractJson([plearnFile]), extractJson([join(fx, 'roundtrip.onnx')]), extractJson([join(fx, 'st', 'roundtrip.safetensors')])]);
    assert.deepEqual(withoutTimes(b), withoutTimes(a), 'ONNX');
    assert.deepEqual(withoutTimes(c), withoutTimes(a), 'safetensors');
    assert.deepEqual([b, c].map((d) => d.imported[0].format), ['onnx', 'safetensors']);
  });

  test('an unknown operator, a truncated model and a graph input of the wrong width exit 2 naming them', async () => {
    const cut = join(fx, 'cut.onnx');
    await writeFile(cut, (await readFile(join(fx, 'torch-mlp.onnx'))).subarray(0, 4000));
    await writeFile(join(fx, 'cut.json'), await readFile(join(fx, 'torch-mlp.json')));
    await copyFile(join(fx, 'torch-mlp.onnx'), join(fx, 'wide.onnx'));
    await writeFile(join(fx, 'wide.json'), JSON.stringify({ ...JSON.parse(await readFile(join(fx, 'torch-mlp.json'), 'utf8')) as object, inputs: ['obs:0', 'obs:1'], inputScale: undefined }));
    const cases: [string, RegExp][] = [
      ['softplus.onnx', /softplus\.onnx: node "[^"]*Softplus[^"]*" \(Softplus\): operator Softplus is not supported/],
      ['cut.onnx', /cut\.onnx: onnx file: is not a readable ONNX model/],
      ['wide.onnx', /wide\.onnx: input "input": is 3 columns wide, but the agent card lists 2 input columns/],
    ];
    const runs = await Promise.all(cases.map(([f]) => plearn(['extract', 'mountaincar', '--agent-file', join(fx, f), ...QUICK], 60_000)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i][0]}: ${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
    });
  });
});

const natsMissing = natsServerMissing();

describe('extract --submit on a cluster (nats-server, coordinator, worker)', { skip: natsMissing ?? false }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  const services: Service[] = [];
  const api = (op: string, body: unknown) => requestJson(nc, `plearn.api.${op}`, body, 10_000) as Promise<{ error?: { code: string; message: string; field?: string } } & Record<string, unknown>>;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    services.push(startService('coordinator', ['coordinator', '--nats', server.url, '--threads', '1', '--health-port', '0', '--reconcile-ms', '500', '--log-level', 'info']));
    services.push(startService('worker', ['worker', '--nats', server.url, '--threads', '1', '--id', 'w1', '--health-port', '0', '--log-level', 'info']));
    await eventually('the coordinator to answer', async () => ((await api('list', {}).catch(() => ({ error: 1 }))).error === undefined ? true : undefined), 60_000, 500);
  });

  after(async () => {
    await nc?.close();
    await stopAll(services);
    await server?.stop();
  });

  test('the agents go up in parts through the API and the job equals the extraction on this machine', async () => {
    const flax = await flaxFile('cluster-flax.safetensors', card());
    const files = [plearnFile, flax].flatMap((f) => ['--agent-file', f]);
    // One thread, as the coordinator's pool: the fast CPU kernels split their work by the threads a fit has.
    const local = await extractJson([plearnFile, flax], ['--threads', '1']);
    const r = await plearn(['extract', 'mountaincar', ...files, ...QUICK, '--submit', '--watch', '--json', '--nats', server.url], 180_000);
    assert.equal(r.code, 0, `${r.stderr}\n--- coordinator ---\n${services[0].log().slice(-3000)}`);
    const remote = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(withoutTimes(remote), withoutTimes(local));
    assert.deepEqual(remote.imported.map((a) => a.file), ['q-network-seed0-agent0.safetensors', 'cluster-flax.safetensors']);
    assert.match(r.stderr, /uploaded q-network-seed0-agent0\.safetensors \(\d+ bytes\)/);
  });

  test('bad uploads are refused naming the field, and a job whose agents never arrived fails saying so', async () => {
    const base = { upload: 'test-upload-1', experiment: 'mountaincar', index: 0, part: 0, parts: 1 };
    const notBase64 = await api('upload', { ...base, data: 'not base64!' });
    assert.equal(notBase64.error?.code, 'bad_request');
    assert.equal(notBase64.error?.field, 'data');
    const garbage = await api('upload', { ...base, data: Buffer.from('not a packed agent at all').toString('base64') });
    assert.equal(garbage.error?.code, 'bad_request');
    assert.match(garbage.error!.message, /agent 0 is not a packed agent/);
    const { artifact } = await loadAgentFile(plearnFile, 0, 'mountaincar', 'position');
    const hostile = { ...artifact, graph: { ...artifact.graph, nodes: [{ ...artifact.graph.nodes[0], op: 'Conv' }, ...artifact.graph.nodes.slice(1)] } };
    const refused = await api('upload', { ...base, data: Buffer.from(packBulk(hostile)).toString('base64') });
    assert.equal(refused.error?.code, 'bad_request');
    assert.match(refused.error!.message, /graph\.nodes\[0\]: operator Conv is not supported/);
    const sub = await api('submit', { experiment: 'mountaincar', options: { agent: 'external', externalAgents: 1, upload: 'never-uploaded', fitSteps: 10 } });
    assert.equal(sub.error, undefined, JSON.stringify(sub));
    const job = await eventually('the job to fail', async () => {
      const j = ((await api('get', { id: sub.id })) as { job: { status: string; error?: string } }).job;
      return j.status === 'failed' ? j : undefined;
    }, 60_000, 300);
    assert.match(job.error ?? '', /uploaded agent upload\/never-uploaded\/agent-0 is missing from the store/);
  });
});
