// What `--out DIR` holds, the same for `plearn run` and `plearn results`:
// result.json (the --json document), world-models.json (each seed's fitted model),
// mse-vs-steps.csv for Q-learning FourRooms runs; for continuous runs the weights as
// safetensors and the pictures. Files appear atomically.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContinuousFitOutput, FourRoomsFitOutput } from '../shared/tasks/task.ts';
import type { JobOutcome } from './local-run.ts';
import { writeRunArtifacts } from './artifacts.ts';
import { writePictures } from './pictures/index.ts';
import { modelPredict } from '../shared/experiments/continuous.ts';
import { continuousMetrics, csvNumber } from '../shared/sweeps/rows.ts';

export async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Each seed's world model as plain JSON (typed arrays as number lists; float32 values survive exactly). */
export function worldModelsJson(outcome: JobOutcome): unknown {
  if (outcome.result.experiment === 'fourrooms') {
    return (outcome.fits as FourRoomsFitOutput[]).map((f) => ({
      seedIndex: f.result.seedIndex,
      nStates: f.nStates,
      nActions: f.nActions,
      layout: 'P[(s * nActions + a) * nStates + s2]',
      P: Array.from(f.P),
    }));
  }
  return (outcome.fits as ContinuousFitOutput[]).map((f) => ({
    seedIndex: f.result.seedIndex,
    spec: f.weights.spec,
    layers: f.weights.layers.map((l) => ({ inDim: l.inDim, outDim: l.outDim, w: Array.from(l.w), b: Array.from(l.b) })),
  }));
}

export async function writeOutputs(dir: string, outcome: JobOutcome): Promise<void> {
  await mkdir(dir, { recursive: true });
  const res = outcome.result;
  await writeAtomic(join(dir, 'result.json'), JSON.stringify(res, null, 2));
  await writeAtomic(join(dir, 'world-models.json'), JSON.stringify(worldModelsJson(outcome)));
  if (res.experiment !== 'fourrooms') {
    // Weights in safetensors (Python loads them too): world models, and PQN agents' Q-networks.
    const fits = outcome.fits as ContinuousFitOutput[];
    await writeRunArtifacts(dir, fits, { experiment: res.experiment, config: res.config });
    // Seed 0's model in the quiver / rollout picture; every agent's curves.
    const curves = fits.flatMap((f) => (f.agents ?? []).map((a) => a.curves)).filter((c) => c.updateSteps.length > 0);
    await writePictures(dir, { experiment: res.experiment, predict: modelPredict(fits[0].weights), curves: curves.length > 0 ? curves : undefined, seed: res.config.seed });
  }
  if (res.experiment !== 'fourrooms' && res.tracking && res.tracking.length > 0) {
    const cols = ['wm-nmse', 'wm-delta-nmse', 'q-nmse', 'r-ratio'];
    const rows = [`seed,env_steps,${cols.map((c) => c.replace(/-/g, '_')).join(',')}`];
    for (const t of res.tracking) {
      const m = continuousMetrics(res.experiment, t.result);
      rows.push(`${t.seedIndex},${t.envSteps},${cols.map((c) => (m[c] === undefined ? '' : csvNumber(m[c]))).join(',')}`);
    }
    await writeAtomic(join(dir, 'tracking.csv'), rows.join('\n') + '\n');
  }
  if (res.experiment === 'fourrooms' && res.summary.series.length > 0) {
    const rows = ['seed,steps,wm_mse,wm_max_abs_error'];
    for (const s of res.seeds) for (const p of s.series) rows.push(`${s.seedIndex},${p.steps},${p.wmMse},${p.wmMaxAbsError}`);
    await writeAtomic(join(dir, 'mse-vs-steps.csv'), rows.join('\n') + '\n');
  }
}
