// The pictures a continuous run leaves in its --out dir, each as SVG and as a PNG
// rendered from that same SVG: MountainCar's quiver of true vs extracted dynamics,
// Reacher's fingertip rollouts (true vs the model rolled open loop), and the
// agents' training curves when the run has them.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainingCurves } from '../../shared/agents/curves.ts';
import { mountainCarQuiver, reacherRolloutInputs, reacherRollouts } from '../../shared/continuous/picture-data.ts';
import type { SyncPredict } from '../../shared/continuous/wm-metrics.ts';
import type { ContinuousEnvName } from '../../shared/envs/continuous-tasks.ts';
import { MC_ACTION_NAMES, MC_RIGHT, mountainCar } from '../../shared/envs/mountaincar.ts';
import { reacher } from '../../shared/envs/reacher.ts';
import { deriveSeed, Rng } from '../../shared/util/rng.ts';
import { pictureToPng } from './png.ts';
import { PALETTE, renderSvg, type Figure, type Layer, type Panel } from './svg.ts';

export interface PictureInput {
  readonly experiment: ContinuousEnvName;
  /** The world model drawn (seed 0's, by convention of the caller). */
  readonly predict: SyncPredict;
  /** One per agent; no training-curves picture without them. */
  readonly curves?: readonly TrainingCurves[];
  /** Run seed: the Reacher rollout starts and torques are drawn from a stream derived from it. */
  readonly seed: number;
}

/** Stream id for the rollout starts, apart from the agent, fit and eval streams. */
const PICTURE_STREAM = 0xfe700000;
/** PNGs at twice the SVG's size, so text stays legible when the image is zoomed. */

export const QUIVER_NX = 24;
export const QUIVER_NV = 16;
export const QUIVER_ACTION = MC_RIGHT;
export const ROLLOUT_STARTS = 4;
export const ROLLOUT_STEPS = 50;

async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

const circle = (r: number, n = 181): { x: Float64Array; y: Float64Array } => {
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / (n - 1);
    x[i] = r * Math.cos(t);
    y[i] = r * Math.sin(t);
  }
  return { x, y };
};

export function quiverFigure(predict: SyncPredict): Figure {
  const q = mountainCarQuiver(mountainCar, predict, QUIVER_ACTION, QUIVER_NX, QUIVER_NV);
  const common = { x: q.x, y: q.v, cellX: q.cellX, cellY: q.cellV };
  return {
    title: `MountainCar: next-state change under '${MC_ACTION_NAMES[QUIVER_ACTION]}'`,
    panelWidth: 760,
    panelHeight: 540,
    panels: [{
      xLabel: 'position x',
      yLabel: 'velocity v',
      xRange: [mountainCar.uniformLow[0], mountainCar.uniformHigh[0]],
      yRange: [mountainCar.uniformLow[1], mountainCar.uniformHigh[1]],
      legend: 'above',
      // The left-wall velocity resets (about 1% of cells) dwarf every other change.
      arrowQuantile: 0.95,
      layers: [
        // The true arrows wide and pale underneath, so a matching model arrow reads as a dark core.
        { kind: 'arrows', ...common, dx: q.dxTrue, dy: q.dvTrue, color: '#56b4e9', width: 3, label: 'true' },
        { kind: 'arrows', ...common, dx: q.dxModel, dy: q.dvModel, color: '#d55e00', width: 1.2, label: 'extracted model' },
      ],
    }],
  };
}

export function rolloutsFigure(predict: SyncPredict, seed: number): Figure {
  const { starts, actions } = reacherRolloutInputs(reacher, new Rng(deriveSeed(seed, PICTURE_STREAM)), ROLLOUT_STARTS, ROLLOUT_STEPS);
  const r = reacherRollouts(reacher, predict, starts, ROLLOUT_STARTS, actions, ROLLOUT_STEPS);
  const P = r.T + 1;
  const path = (tips: Float64Array, i: number) => {
    const x = new Float64Array(P);
    const y = new Float64Array(P);
    for (let t = 0; t < P; t++) { x[t] = tips[(i * P + t) * 2]; y[t] = tips[(i * P + t) * 2 + 1]; }
    return { x, y };
  };
  const ring = circle(1);
  const reach = circle(2);
  const layers: Layer[] = [
    { kind: 'line', ...reach, color: '#bbbbbb', width: 1 },
    { kind: 'line', ...ring, color: '#888888', width: 1 },
    { kind: 'points', x: Float64Array.of(1, 0, -1, 0), y: Float64Array.of(0, 1, 0, -1), color: '#000000', shape: 'cross', radius: 6, label: 'training goals' },
  ];
  const sx = new Float64Array(r.nStarts);
  const sy = new Float64Array(r.nStarts);
  for (let i = 0; i < r.nStarts; i++) {
    const color = PALETTE[i % PALETTE.length];
    layers.push({ kind: 'line', ...path(r.trueTips, i), color, width: 2.2 });
    layers.push({ kind: 'line', ...path(r.modelTips, i), color, width: 1.6, dash: '6 4' });
    sx[i] = r.trueTips[i * P * 2];
    sy[i] = r.trueTips[i * P * 2 + 1];
  }
  layers.push({ kind: 'points', x: sx, y: sy, color: '#333333', radius: 4, label: 'start' });
  // Empty series carry the legend's line styles: colours only tell rollouts apart.
  const none = new Float64Array(0);
  layers.push({ kind: 'line', x: none, y: none, color: '#333333', width: 2.2, label: 'true' });
  layers.push({ kind: 'line', x: none, y: none, color: '#333333', width: 1.6, dash: '6 4', label: 'extracted model (open loop)' });
  return {
    title: `Reacher: fingertip over ${r.T} steps of constant torque`,
    panelWidth: 640,
    panelHeight: 620,
    panels: [{
      xLabel: 'fingertip x',
      yLabel: 'fingertip y',
      xRange: [-2.2, 2.2],
      yRange: [-2.2, 2.2],
      equalAspect: true,
      legend: 'bottom-right',
      layers,
    }],
  };
}

export function trainingCurvesFigure(experiment: ContinuousEnvName, curves: readonly TrainingCurves[]): Figure {
  const several = curves.length > 1;
  const returns: Layer[] = [];
  const loss: Layer[] = [];
  const eps: Layer[] = [];
  let k = 0;
  curves.forEach((c, a) => {
    c.evalReturn.forEach((ret, g) => {
      const goal = c.goalLabels[g] ?? `goal ${g}`;
      returns.push({ kind: 'line', x: c.evalSteps, y: ret, color: PALETTE[k++ % PALETTE.length],
        dash: a % 2 === 1 ? '6 3' : undefined, label: several ? `agent ${a}: ${goal}` : goal });
    });
    const color = PALETTE[a % PALETTE.length];
    const label = several ? `agent ${a}` : undefined;
    loss.push({ kind: 'line', x: c.updateSteps, y: c.loss, color, width: 1.2, label });
    eps.push({ kind: 'line', x: c.updateSteps, y: c.epsilon, color, label });
  });
  const panels: Panel[] = [
    { title: 'greedy evaluation return', xLabel: 'environment steps', yLabel: 'discounted return', legend: 'bottom-right', layers: returns },
    { title: 'TD loss', xLabel: 'environment steps', yLabel: 'loss (log scale)', logY: true, legend: several ? 'top-right' : 'none', layers: loss },
    { title: 'exploration ε', xLabel: 'environment steps', yLabel: 'ε', yRange: [0, 1.05], legend: several ? 'top-right' : 'none', layers: eps },
  ];
  return { title: `${experiment === 'mountaincar' ? 'MountainCar' : 'Reacher'}: agent training`, panels, panelWidth: 460, panelHeight: 360 };
}

/** Write `name`.svg and `name`.png; returns both file names. */
async function writePicture(dir: string, name: string, fig: Figure): Promise<string[]> {
  const svg = renderSvg(fig);
  const png = pictureToPng(svg);
  await writeFileAtomic(join(dir, `${name}.svg`), svg);
  await writeFileAtomic(join(dir, `${name}.png`), png);
  return [`${name}.svg`, `${name}.png`];
}

/** Write the run's pictures into `dir` (created if missing); returns the file names written, in order. */
export async function writePictures(dir: string, input: PictureInput): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  if (input.experiment === 'mountaincar') {
    written.push(...await writePicture(dir, 'quiver', quiverFigure(input.predict)));
  } else {
    written.push(...await writePicture(dir, 'rollouts', rolloutsFigure(input.predict, input.seed)));
  }
  if (input.curves && input.curves.length > 0) {
    written.push(...await writePicture(dir, 'training-curves', trainingCurvesFigure(input.experiment, input.curves)));
  }
  return written;
}
