import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../shared/tensor/backend.ts';
import type { TF, Tensor, Tensor1D, Tensor2D } from '../shared/tensor/backend.ts';
import {
  bellmanResidualLoss,
  fitWorldModel,
  forwardWorldModel,
  initWorldModel,
  oracleQFunction,
  orthogonalInit,
  weightsToTensors,
  makeWorldModel,
  DEFAULT_MODEL,
} from '../shared/plearning/neural.ts';
import type { AgentBatch, FitAgent, QFunction, QGrid, WorldModelSpec, DenseWeights } from '../shared/plearning/neural.ts';
import { Rng } from '../shared/util/rng.ts';

let tfPromise: Promise<TF> | undefined;
function getTf(): Promise<TF> {
  tfPromise ??= initBackend('cpu').then((h) => h.tf);
  return tfPromise;
}

function wrap(x: number): number {
  return x - 2 * Math.PI * Math.floor((x + Math.PI) / (2 * Math.PI));
}

test('backend: importing loads no TF; cpu loads; bad requests fail clearly', async () => {
  // tfjs-core registers its engine on the global object when it loads.
  assert.equal((globalThis as { _tfengine?: unknown })._tfengine, undefined);
  const h = await initBackend('cpu');
  assert.equal(h.backend, 'cpu');
  assert.notEqual((globalThis as { _tfengine?: unknown })._tfengine, undefined);
  const auto = await initBackend('auto');
  // auto prefers the native bindings, then the fast CPU path, then WASM (faster than the plain CPU backend), then CPU.
  assert.ok(['tensorflow-gpu', 'tensorflow', 'cpu-blas', 'wasm', 'cpu'].includes(auto.backend), auto.backend);
  if (auto.backend === 'wasm') assert.match(auto.detail, /skipped tensorflow-gpu: not installed; webgpu: [^;]+; tensorflow: not installed/);
  assert.doesNotMatch(auto.detail, /\n/);
  await assert.rejects(() => initBackend('nonsense' as 'cpu'), /unknown tensor backend 'nonsense'; allowed: auto, tensorflow-gpu/);
  if (auto.backend === 'cpu-blas' || auto.backend === 'wasm' || auto.backend === 'cpu') {
    await assert.rejects(() => initBackend('tensorflow'), /tensor backend 'tensorflow' could not be loaded: .*allowed: auto, tensorflow-gpu, webgpu, tensorflow, cpu-blas, cpu, wasm/);
  }
  const wasm = await initBackend('wasm');
  assert.equal(wasm.backend, 'wasm');
  // Later tests run on the CPU backend.
  assert.equal((await initBackend('cpu')).backend, 'cpu');
});

test('orthogonal init: orthonormal columns (tall) or rows (wide), times the gain', () => {
  const rng = new Rng(3);
  for (const [inDim, outDim, gain] of [
    [7, 3, 0.5],
    [3, 7, 2],
  ] as const) {
    const w = orthogonalInit(rng, inDim, outDim, gain);
    const tall = inDim >= outDim;
    const k = Math.min(inDim, outDim);
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        let dot = 0;
        const n = tall ? inDim : outDim;
        for (let i = 0; i < n; i++) dot += tall ? w[i * outDim + a] * w[i * outDim + b] : w[a * outDim + i] * w[b * outDim + i];
        assert.ok(Math.abs(dot - (a === b ? gain * gain : 0)) < 1e-5, `${inDim}×${outDim} (${a},${b}) = ${dot}`);
      }
    }
  }
});

test('identity init: the 2×256 model with last layer ×0.01 starts within 1e-2 of "nothing moves"; TF and JS forwards agree', async () => {
  const tf = await getTf();
  const spec: WorldModelSpec = { ...DEFAULT_MODEL, stateDim: 4, nActions: 9, angleDims: [0, 1] };
  const model = initWorldModel(spec, new Rng(11));
  const rng = new Rng(12);
  const n = 512;
  const states = new Float64Array(n * 4);
  const actions = new Int32Array(n);
  // Reacher's box: θ ∈ [−π, π]², ω ∈ [−2, 2]²; the per-dim scale is about 1–3.
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < 4; d++) states[i * 4 + d] = d < 2 ? (2 * rng.next() - 1) * Math.PI : (2 * rng.next() - 1) * 2;
    actions[i] = rng.int(9);
  }
  const next = model.predict(states, actions);
  let maxDev = 0;
  let sumDev = 0;
  for (let i = 0; i < n * 4; i++) {
    const dev = Math.abs(wrap(next[i] - states[i]));
    maxDev = Math.max(maxDev, dev);
    sumDev += dev;
  }
  // |f_φ| ≤ 0.01·‖h‖ ≤ 0.16 in the worst case (orthonormal last layer, tanh
  // features); in practice the features are far from aligned with the last layer:
  // measured mean 1.5e-3, max 6.3e-3, against a state scale of 2–3.
  assert.ok(sumDev / (n * 4) < 3e-3, `mean |ŝ' − s| = ${sumDev / (n * 4)}`);
  assert.ok(maxDev < 1e-2, `max |ŝ' − s| = ${maxDev}`);
  const tfNext = tf.tidy(() => {
    const params = weightsToTensors(tf, model);
    const out = forwardWorldModel(tf, spec, params, tf.tensor2d(Float32Array.from(states), [n, 4]), tf.tensor1d(actions, 'int32'));
    return out.dataSync();
  });
  let maxDiff = 0;
  for (let i = 0; i < n * 4; i++) maxDiff = Math.max(maxDiff, Math.abs(wrap(tfNext[i] - next[i])));
  assert.ok(maxDiff < 1e-5, `TF vs JS forward: ${maxDiff}`);
  for (let i = 0; i < n; i++) for (const d of [0, 1]) assert.ok(next[i * 4 + d] >= -Math.PI && next[i * 4 + d] < Math.PI);
});

// A multilinear function per (goal, action) on a 3-D box: multilinear
// interpolation reproduces it exactly, so it pins down both values and gradients.
const GRID3: QGrid = {
  low: Float64Array.from([-1, 0, 2]),
  high: Float64Array.from([1, 0.5, 5]),
  size: Int32Array.from([4, 3, 5]),
};
function mlCoef(g: number, a: number): number[] {
  const r = new Rng(100 + 10 * g + a);
  return Array.from({ length: 8 }, () => 2 * r.next() - 1);
}
function mlValue(c: number[], x: number, y: number, z: number): number {
  return c[0] + c[1] * x + c[2] * y + c[3] * z + c[4] * x * y + c[5] * x * z + c[6] * y * z + c[7] * x * y * z;
}
function mlGrad(c: number[], x: number, y: number, z: number): number[] {
  return [c[1] + c[4] * y + c[5] * z + c[7] * y * z, c[2] + c[4] * x + c[6] * z + c[7] * x * z, c[3] + c[5] * x + c[6] * y + c[7] * x * y];
}
function tabulate(grid: QGrid, nGoals: number, nA: number, f: (g: number, a: number, p: number[]) => number): Float32Array[] {
  const D = grid.size.length;
  const cells = grid.size.reduce((a, b) => a * b, 1);
  return Array.from({ length: nGoals }, (_, g) => {
    const t = new Float32Array(cells * nA);
    for (let c = 0; c < cells; c++) {
      const p = new Array<number>(D);
      let rem = c;
      for (let d = D - 1; d >= 0; d--) {
        const i = rem % grid.size[d];
        rem = (rem - i) / grid.size[d];
        p[d] = grid.low[d] + ((grid.high[d] - grid.low[d]) * i) / (grid.size[d] - 1);
      }
      for (let a = 0; a < nA; a++) t[c * nA + a] = f(g, a, p);
    }
    return t;
  });
}

test('oracle Q: exact on a multilinear function (values, clamping, targets) and its state gradient matches', async () => {
  const tf = await getTf();
  const nA = 2;
  const q = oracleQFunction(tf, GRID3, tabulate(GRID3, 2, nA, (g, a, p) => mlValue(mlCoef(g, a), p[0], p[1], p[2])));
  const rng = new Rng(5);
  const B = 64;
  const pts = new Float32Array(B * 3);
  const goals = new Int32Array(B);
  const acts = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    // Some points outside the box on every dim: non-periodic dims clamp.
    for (let d = 0; d < 3; d++) pts[i * 3 + d] = GRID3.low[d] + (GRID3.high[d] - GRID3.low[d]) * (1.4 * rng.next() - 0.2);
    goals[i] = rng.int(2);
    acts[i] = rng.int(nA);
  }
  const { vals, grad, tg } = tf.tidy(() => {
    const s = tf.tensor2d(pts, [B, 3]);
    const g = tf.tensor1d(goals, 'int32');
    const weights = tf.tensor2d(Float32Array.from({ length: B * nA }, (_, k) => 1 + (k % 3)), [B, nA]);
    const gradFn = tf.grad((x: Tensor) => tf.sum(tf.mul(q.values(tf, x as Tensor2D, g), weights)));
    return {
      vals: q.values(tf, s, g).dataSync(),
      grad: gradFn(s).dataSync(),
      tg: q.targets(tf, s, tf.tensor1d(acts, 'int32'), g).dataSync(),
    };
  });
  for (let i = 0; i < B; i++) {
    const p = [0, 1, 2].map((d) => Math.min(Math.max(pts[i * 3 + d], GRID3.low[d]), GRID3.high[d]));
    const inside = [0, 1, 2].map((d) => pts[i * 3 + d] > GRID3.low[d] && pts[i * 3 + d] < GRID3.high[d]);
    const gAnalytic = [0, 0, 0];
    for (let a = 0; a < nA; a++) {
      const c = mlCoef(goals[i], a);
      const want = mlValue(c, p[0], p[1], p[2]);
      assert.ok(Math.abs(vals[i * nA + a] - want) < 1e-4, `value ${i},${a}: ${vals[i * nA + a]} vs ${want}`);
      if (a === acts[i]) assert.ok(Math.abs(tg[i] - want) < 1e-4);
      const w = 1 + ((i * nA + a) % 3);
      mlGrad(c, p[0], p[1], p[2]).forEach((v, d) => (gAnalytic[d] += w * v));
    }
    // Clamped dims are flat outside the box: zero gradient there.
    for (let d = 0; d < 3; d++) {
      const want = inside[d] ? gAnalytic[d] : 0;
      assert.ok(Math.abs(grad[i * 3 + d] - want) < 1e-3 * (1 + Math.abs(want)), `grad ${i},${d}: ${grad[i * 3 + d]} vs ${want}`);
    }
  }
  q.dispose();
});

test('oracle Q: periodic dims wrap with node 0 ≡ node n−1; state gradient matches central differences in a cell', async () => {
  const tf = await getTf();
  const grid: QGrid = {
    low: Float64Array.from([-Math.PI, -2]),
    high: Float64Array.from([Math.PI, 2]),
    size: Int32Array.from([9, 5]),
    periodic: Uint8Array.from([1, 0]),
  };
  // A smooth periodic table, so node 0 and node 8 (θ = ±π) hold the same values.
  const tables = tabulate(grid, 1, 3, (_g, a, p) => Math.sin(p[0] + a) + 0.5 * p[1] * Math.cos(2 * p[0]) + a);
  const q = oracleQFunction(tf, grid, tables);
  const at = (x: number[][]): Float32Array =>
    tf.tidy(() => q.values(tf, tf.tensor2d(x.flat(), [x.length, 2]), tf.zeros([x.length], 'int32') as Tensor1D).dataSync() as Float32Array);
  const h = (2 * Math.PI) / 8;
  const base = [
    [0.3, 0.7],
    [Math.PI - 0.3 * h, -1.1], // last cell, closing the circle
    [-Math.PI + 0.4 * h, 1.3],
  ];
  const v0 = at(base);
  for (const shift of [2 * Math.PI, -4 * Math.PI]) {
    const v1 = at(base.map(([x, y]) => [x + shift, y]));
    for (let i = 0; i < v0.length; i++) assert.ok(Math.abs(v0[i] - v1[i]) < 1e-4, `periodic shift ${shift}: ${v0[i]} vs ${v1[i]}`);
  }
  // Exactly halfway along the last cell: the mean of node 7 and node 8 ≡ node 0.
  const mid = at([[Math.PI - h / 2, 0]]);
  for (let a = 0; a < 3; a++) {
    const t = tables[0];
    const node = (i: number, j: number) => t[(i * 5 + j) * 3 + a];
    assert.ok(Math.abs(mid[a] - 0.5 * (node(7, 2) + node(0, 2))) < 1e-5);
    assert.ok(Math.abs(node(8, 2) - node(0, 2)) < 1e-6);
  }
  // Within one cell the interpolant is linear along each axis, so a central
  // difference is exact up to float32 rounding; the step stays inside the cell.
  const eps = 1e-2 * h;
  const grads = tf.tidy(
    () => tf.grad((x: Tensor) => tf.sum(q.values(tf, x as Tensor2D, tf.zeros([3], 'int32') as Tensor1D)))(tf.tensor2d(base.flat(), [3, 2])).dataSync(),
  );
  for (let i = 0; i < 3; i++) {
    for (let d = 0; d < 2; d++) {
      const plus = base.map((p) => p.slice());
      const minus = base.map((p) => p.slice());
      plus[i][d] += eps;
      minus[i][d] -= eps;
      const sum = (v: Float32Array, k: number) => v[k * 3] + v[k * 3 + 1] + v[k * 3 + 2];
      const fd = (sum(at(plus), i) - sum(at(minus), i)) / (2 * eps);
      assert.ok(Math.abs(grads[i * 2 + d] - fd) < 2e-3 * (1 + Math.abs(fd)), `∂/∂x[${i},${d}]: ${grads[i * 2 + d]} vs ${fd}`);
    }
  }
  q.dispose();
});

// An analytic Q with a float64 twin: Q(x, a, g) = C[a] + 0.3·tanh(U_g·x + b_{g,a}).
// The action offsets C dominate, so the max over actions is never a tie, and
// with γ = 0.9 every residual stays ≥ 0.1 away from the kink of |·|.
const C = [0, 2, 4];
const U = [
  [0.8, -0.5],
  [-0.3, 1.1],
];
const Bq = [
  [0.1, -0.2, 0.3],
  [0.0, 0.4, -0.1],
];
function qJs(x: number[], a: number, g: number): number {
  return C[a] + 0.3 * Math.tanh(U[g][0] * x[0] + U[g][1] * x[1] + Bq[g][a]);
}
const analyticQ: QFunction = {
  nActions: 3,
  nGoals: 2,
  values(tf, s, goalIdx) {
    const u = tf.gather(tf.tensor2d(U.flat(), [2, 2]), goalIdx);
    const proj = tf.sum(tf.mul(s, u), 1).expandDims(1);
    return tf.add(tf.tensor1d(C), tf.mul(0.3, tf.tanh(tf.add(proj, tf.gather(tf.tensor2d(Bq.flat(), [2, 3]), goalIdx))))) as Tensor2D;
  },
  targets(tf, s, a, g) {
    const v = this.values(tf, s, g);
    return tf.sum(tf.mul(v, tf.oneHot(tf.cast(a, 'int32'), 3).toFloat()), 1) as Tensor1D;
  },
};
const CENTER = [
  [0.5, 0.2],
  [-0.4, -0.6],
];
// Agent 0: gaussian reward, differentiated; termination on a half-plane.
const gaussAgent: FitAgent = {
  q: analyticQ,
  rewardGradient: true,
  backup(tf, s, g) {
    const diff = tf.sub(s, tf.gather(tf.tensor2d(CENTER.flat(), [2, 2]), g));
    const r = tf.exp(tf.div(tf.sum(tf.square(diff), 1), -2 * 0.5 * 0.5)) as Tensor1D;
    const d = tf.greater(tf.slice(s, [0, 0], [-1, 1]).reshape([-1]), 0.3).toFloat() as Tensor1D;
    return { r, d };
  },
};
// Agent 1: sparse reward written with comparisons (not differentiable in TF.js).
const sparseAgent: FitAgent = {
  q: analyticQ,
  goals: [1],
  backup(tf, s, g) {
    const diff = tf.sub(s, tf.gather(tf.tensor2d(CENTER.flat(), [2, 2]), g));
    const r = tf.less(tf.sum(tf.square(diff), 1), 0.25).toFloat() as Tensor1D;
    return { r, d: tf.zerosLike(r) };
  },
};
function backupJs(agent: number, x: number[], g: number): { r: number; d: number } {
  const d2 = (x[0] - CENTER[g][0]) ** 2 + (x[1] - CENTER[g][1]) ** 2;
  return agent === 0 ? { r: Math.exp(-d2 / 0.5), d: x[0] > 0.3 ? 1 : 0 } : { r: d2 < 0.25 ? 1 : 0, d: 0 };
}

test('loss gradient w.r.t. the model weights matches float64 central differences', async () => {
  const tf = await getTf();
  const spec: WorldModelSpec = {
    stateDim: 2,
    nActions: 3,
    hidden: [5, 4],
    activation: 'tanh',
    // Gain 1 on the last layer: with 0.01 the earlier layers' gradients would be tiny.
    outputInitScale: 1,
    angleDims: [],
    inputBox: { low: Float64Array.from([-1, -1]), high: Float64Array.from([1, 2]) },
  };
  const gamma = 0.9;
  const model = initWorldModel(spec, new Rng(21));
  const rng = new Rng(22);
  const samples: { agent: number; s: number[]; a: number; g: number }[] = [];
  for (let i = 0; i < 12; i++) {
    const agent = i < 8 ? 0 : 1;
    samples.push({ agent, s: [2 * rng.next() - 1, 2 * rng.next() - 1], a: rng.int(3), g: agent === 0 ? rng.int(2) : 1 });
  }
  const lossJs = (layers: readonly DenseWeights[]): number => {
    const m = makeWorldModel({ spec, layers });
    let sum = 0;
    for (const smp of samples) {
      const nx = Array.from(m.predict(Float64Array.from(smp.s), Int32Array.of(smp.a)));
      const v = Math.max(...[0, 1, 2].map((a) => qJs(nx, a, smp.g)));
      const { r, d } = backupJs(smp.agent, nx, smp.g);
      sum += Math.abs(qJs(smp.s, smp.a, smp.g) - (r + gamma * (1 - d) * v));
    }
    return sum / samples.length;
  };
  // Preconditions for a clean finite difference: no sample near a jump of d or r.
  for (const smp of samples) {
    const nx = Array.from(model.predict(Float64Array.from(smp.s), Int32Array.of(smp.a)));
    if (smp.agent === 0) assert.ok(Math.abs(nx[0] - 0.3) > 0.02);
    else assert.ok(Math.abs((nx[0] - CENTER[1][0]) ** 2 + (nx[1] - CENTER[1][1]) ** 2 - 0.25) > 0.02);
  }
  const { value, grads } = tf.tidy(() => {
    const batches: AgentBatch[] = [0, 1].map((agent) => {
      const mine = samples.filter((x) => x.agent === agent);
      return {
        agent,
        states: tf.tensor2d(mine.flatMap((x) => x.s), [mine.length, 2]),
        actions: tf.tensor1d(mine.map((x) => x.a), 'int32'),
        goals: tf.tensor1d(mine.map((x) => x.g), 'int32'),
      };
    });
    const f = (...ps: Tensor[]) => bellmanResidualLoss(tf, { model: spec, gamma, loss: 'l1' }, ps, [gaussAgent, sparseAgent], batches);
    const res = tf.valueAndGrads(f)(weightsToTensors(tf, model));
    return { value: res.value.dataSync()[0], grads: res.grads.map((g) => g.dataSync()) };
  });
  const base = lossJs(model.layers);
  assert.ok(Math.abs(value - base) < 1e-5 * Math.max(1, base), `TF loss ${value} vs float64 ${base}`);
  // Perturb each weight in its float32 storage by ±1e-3 and divide by the step
  // actually stored, so the difference quotient is exact arithmetic on float64
  // forwards: truncation error O(h²) ≈ 1e-6, far below float32 gradient noise.
  let errSq = 0;
  let normSq = 0;
  model.layers.forEach((layer, l) => {
    for (const [key, k] of [['w', 2 * l], ['b', 2 * l + 1]] as const) {
      const arr = layer[key];
      for (let i = 0; i < arr.length; i++) {
        const orig = arr[i];
        arr[i] = orig + 1e-3;
        const up = arr[i];
        const lp = lossJs(model.layers);
        arr[i] = orig - 1e-3;
        const down = arr[i];
        const lm = lossJs(model.layers);
        arr[i] = orig;
        const fd = (lp - lm) / (up - down);
        const g = grads[k][i];
        errSq += (g - fd) ** 2;
        normSq += fd * fd;
        assert.ok(Math.abs(g - fd) < 1e-4 + 1e-3 * Math.abs(fd), `layer ${l} ${key}[${i}]: tf ${g} vs fd ${fd}`);
      }
    }
  });
  assert.ok(normSq > 1e-4, 'the check must exercise a non-trivial gradient');
  assert.ok(Math.sqrt(errSq / normSq) < 1e-3, `relative gradient error ${Math.sqrt(errSq / normSq)}`);
});

test('terminalStates skip: a sample whose state already meets its goal adds nothing to the loss', async () => {
  const tf = await getTf();
  const spec: WorldModelSpec = { stateDim: 2, nActions: 3, hidden: [6], activation: 'tanh', outputInitScale: 1, angleDims: [] };
  const gamma = 0.9;
  const model = initWorldModel(spec, new Rng(31));
  const m = makeWorldModel(model);
  const rng = new Rng(32);
  // Agent 0 terminates where x > 0.3: states drawn over [−1, 1]² land on both sides.
  const states: number[][] = [];
  for (let i = 0; i < 16; i++) states.push([2 * rng.next() - 1, 2 * rng.next() - 1]);
  const acts = states.map(() => rng.int(3));
  const goals = states.map(() => rng.int(2));
  const terminal = states.map((x) => x[0] > 0.3);
  assert.ok(terminal.some((t) => t) && terminal.some((t) => !t), 'the batch must hold terminal and live states');
  const residual = (i: number): number => {
    const nx = Array.from(m.predict(Float64Array.from(states[i]), Int32Array.of(acts[i])));
    const v = Math.max(...[0, 1, 2].map((a) => qJs(nx, a, goals[i])));
    const { r, d } = backupJs(0, nx, goals[i]);
    return Math.abs(qJs(states[i], acts[i], goals[i]) - (r + gamma * (1 - d) * v));
  };
  let all = 0;
  let live = 0;
  states.forEach((_, i) => { const e = residual(i); all += e; if (!terminal[i]) live += e; });
  const lossWith = (terminalStates: 'fit' | 'skip') => tf.tidy(() => {
    const batch: AgentBatch = {
      agent: 0,
      states: tf.tensor2d(states.flat(), [states.length, 2]),
      actions: tf.tensor1d(acts, 'int32'),
      goals: tf.tensor1d(goals, 'int32'),
    };
    return bellmanResidualLoss(tf, { model: spec, gamma, loss: 'l1', terminalStates }, weightsToTensors(tf, model), [gaussAgent], [batch]).dataSync()[0];
  });
  // Skipped samples count as zeros in the mean: the step size per sample is unchanged.
  assert.ok(Math.abs(lossWith('fit') - all / states.length) < 1e-5, `fit ${lossWith('fit')} vs ${all / states.length}`);
  assert.ok(Math.abs(lossWith('skip') - live / states.length) < 1e-5, `skip ${lossWith('skip')} vs ${live / states.length}`);
  assert.ok(live < all - 1e-3, 'the terminal samples must carry some residual for the check to bite');
});

test('toy fit: two agents with an oracle Q* of s\' = s + 0.1(a − 1) recover the dynamics (error down ≥ 10×)', async () => {
  const tf = await getTf();
  const gamma = 0.9;
  const centers = [-1.5, 1.5];
  const shape = (x: number, g: number) => Math.exp(-((x - centers[g]) ** 2) / 2);
  // With reward r(x, g) = h_g(x) − γ·max_a h_g(x + 0.1(a − 1)) and no termination,
  // Q*(s, a, g) = h_g(s + 0.1(a − 1)) solves the Bellman optimality equation
  // (γ < 1, bounded h: the unique fixed point), in closed form.
  const grid: QGrid = { low: Float64Array.of(-1.6), high: Float64Array.of(1.6), size: Int32Array.of(321) };
  const tables = tabulate(grid, 2, 3, (g, a, p) => shape(p[0] + 0.1 * (a - 1), g));
  const agents: FitAgent[] = [0, 1].map((g) => {
    const q = oracleQFunction(tf, grid, [tables[g]]);
    return {
      q,
      rewardGradient: true,
      backup(tfx, s) {
        const h = (x: Tensor) => tfx.exp(tfx.div(tfx.square(tfx.sub(x, centers[g])), -2));
        const x = tfx.reshape(s, [-1]);
        const best = tfx.max(tfx.stack([-0.1, 0, 0.1].map((da) => h(tfx.add(x, da)))), 0);
        const r = tfx.sub(h(x), tfx.mul(gamma, best)) as Tensor1D;
        return { r, d: tfx.zerosLike(r) };
      },
    };
  });
  const spec: WorldModelSpec = { ...DEFAULT_MODEL, stateDim: 1, nActions: 3, hidden: [32, 32] };
  const box = { low: Float64Array.of(-1), high: Float64Array.of(1) };
  const rng = new Rng(7);
  const n = 300;
  const states = Float64Array.from({ length: n }, () => -1 + 2 * rng.next());
  const actions = Int32Array.from({ length: n }, () => rng.int(3));
  const error = (predict: (s: Float64Array, a: Int32Array) => Float64Array): number => {
    const nx = predict(states, actions);
    let e = 0;
    for (let i = 0; i < n; i++) e += Math.abs(nx[i] - (states[i] + 0.1 * (actions[i] - 1)));
    return e / n;
  };
  const initial = error(initWorldModel(spec, new Rng(8)).predict);
  const progress: number[] = [];
  const t0 = Date.now();
  const { model, losses } = await fitWorldModel(
    tf,
    { model: spec, steps: 250, batchSize: 128, lr: 3e-3, schedule: 'cosine', gamma, loss: 'l1', logEvery: 50 },
    agents,
    box,
    new Rng(8),
    (p) => progress.push(p.step),
  );
  const final = error(model.predict);
  const seconds = (Date.now() - t0) / 1000;
  assert.deepEqual(progress, [50, 100, 150, 200, 250]);
  assert.equal(losses.length, 250);
  const head = losses.slice(0, 20).reduce((a, b) => a + b, 0) / 20;
  const tail = losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
  assert.ok(tail < head / 5, `loss ${head} → ${tail}`);
  // Measured: 0.062 → 6e-4 after 250 steps (≈ 100×); 10× leaves room for other seeds.
  assert.ok(final < initial / 10, `model error ${initial} → ${final} (${seconds.toFixed(1)} s)`);
  for (const a of agents) a.q.dispose?.();
});

test('agentsPerStep: a capped step evaluates at most that many agents, each about equally often; a cap at or above the agents changes nothing', async () => {
  const tf = await getTf();
  const gamma = 0.9;
  const grid: QGrid = { low: Float64Array.of(-1.6), high: Float64Array.of(1.6), size: Int32Array.of(33) };
  const centers = [-1.2, -0.7, -0.2, 0.3, 0.8, 1.3];
  const tables = tabulate(grid, centers.length, 3, (g, a, p) => Math.exp(-((p[0] + 0.1 * (a - 1) - centers[g]) ** 2)));
  let seen = new Set<number>();
  const perStep: number[] = [];
  const uses = new Array<number>(centers.length).fill(0);
  const agents: FitAgent[] = centers.map((_c, g) => {
    const q = oracleQFunction(tf, grid, [tables[g]]);
    const note = () => { if (!seen.has(g)) { seen.add(g); uses[g]++; } };
    return {
      q: { ...q, values: (t, s, gi) => { note(); return q.values(t, s, gi); }, targets: (t, s, a, gi) => { note(); return q.targets(t, s, a, gi); } },
      backup: (tfx, s) => { const r = tfx.zeros([s.shape[0]]) as Tensor1D; return { r, d: tfx.zerosLike(r) }; },
    };
  });
  const spec: WorldModelSpec = { ...DEFAULT_MODEL, stateDim: 1, nActions: 3, hidden: [8] };
  const box = { low: Float64Array.of(-1), high: Float64Array.of(1) };
  const fit = (agentsPerStep: number | undefined, steps: number) => fitWorldModel(tf,
    { model: spec, steps, batchSize: 64, lr: 1e-3, schedule: 'constant', gamma, loss: 'l1', logEvery: 1, ...(agentsPerStep !== undefined ? { agentsPerStep } : {}) },
    agents, box, new Rng(3), () => { perStep.push(seen.size); seen = new Set(); });
  const steps = 120;
  await fit(2, steps);
  assert.equal(perStep.length, steps);
  assert.ok(perStep.every((n) => n === 2), `agents per step: ${[...new Set(perStep)]}`);
  // Each agent is drawn with probability 2/6 per step: 40 expected, sd ≈ 5.2.
  assert.ok(uses.every((u) => Math.abs(u - (steps * 2) / centers.length) < 20), `uses ${uses}`);
  perStep.length = 0;
  const all = await fit(undefined, 30);
  assert.ok(perStep.every((n) => n === centers.length), 'uncapped: a batch of 64 reaches all six agents');
  const same = await fit(6, 30);
  assert.deepEqual(same.losses, all.losses, 'a cap of all the agents is the uncapped fit, draw for draw');
  for (const a of agents) a.q.dispose?.();
});
