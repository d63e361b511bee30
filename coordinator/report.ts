// Human-readable rendering of a run's result for stdout (the JSON document is the
// machine contract; this is for people at a terminal).

import type { ContinuousResult, FourRoomsResult, JobResult } from '../shared/experiments/jobs.ts';
import { continuousMetrics } from '../shared/sweeps/rows.ts';
import type { Stat } from '../shared/util/validate.ts';

function fmt(s: Stat, digits = 3): string {
  const f = (x: number) => (x === 0 ? '0' : Math.abs(x) !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential(2) : x.toFixed(digits));
  return s.n > 1 ? `${f(s.mean)} ± ${f(s.se)}` : f(s.mean);
}

export function renderFourRooms(res: FourRoomsResult): string {
  const c = res.config;
  const s = res.summary;
  const goals = 'count' in c.goals ? `${c.goals.count} ${c.reward}` : `${c.goals.cells.length} given cells`;
  const lines = [
    `fourrooms · layout ${c.layoutName} · variant ${c.variant} · ${goals} goal(s) · agent ${c.agent}`
      + (c.agent === 'qlearning' ? ` (${c.qlearning.steps} steps/agent)` : ''),
    `model ${c.model}${c.model === 'stochastic' ? ` · fit ${c.fit}` : ''} · support ${c.support} · ${c.seeds} seed(s) from ${c.seed}`,
    '',
    `WM MSE            ${fmt(s.wmMse)}`,
    `WM max |error|    ${fmt(s.wmMaxAbsError)}`,
    `rank(M)           ${fmt(s.rankM, 1)}   (of ${res.seeds[0]?.singularValues.length ?? '?'} singular values)`,
  ];
  if (s.unidentifiablePairs) lines.push(`unidentifiable    ${fmt(s.unidentifiablePairs, 1)} (s,a) pairs (ties between columns of M)`);
  lines.push('', 'unseen task        R*                R^WM              R^WM/R*');
  for (const u of s.unseen) lines.push(`${u.label.padEnd(18)} ${fmt(u.rStar).padEnd(17)} ${fmt(u.rWM).padEnd(17)} ${fmt(u.ratio)}`);
  if (s.series.length > 0) {
    lines.push('', 'env steps/agent    WM MSE');
    for (const p of s.series) lines.push(`${String(p.steps).padEnd(18)} ${fmt(p.wmMse)}`);
  }
  const tied = res.seeds.filter((sd) => sd.tiedStates.length > 0);
  if (tied.length > 0) {
    lines.push('', 'states no training goal tells apart (equal columns of M):');
    for (const sd of tied.slice(0, 5)) {
      const groups = sd.tiedStates.slice(0, 6).map((g) => `{${g.join(' | ')}}`).join(' ');
      lines.push(`  seed ${sd.seedIndex}: ${groups}${sd.tiedStates.length > 6 ? ` … (${sd.tiedStates.length} groups)` : ''}`);
    }
  }
  const ex = res.seeds[0]?.unidentifiable ?? [];
  if (ex.length > 0) {
    lines.push('', `first unidentifiable pairs (seed 0): ${ex.slice(0, 5).map((u) => `(${u.s}) ${u.a} → {${u.candidates.join(' | ')}}`).join('; ')}`);
  }
  lines.push('', `wall ${(res.timing.wallMs / 1000).toFixed(1)} s on ${res.timing.threads} thread(s)`);
  return lines.join('\n');
}

const f = (x: number) => (x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(3));
const pm = (s: Stat) => (s.n > 1 && s.se > 0 ? `${f(s.mean)} ± ${f(s.se)}` : f(s.mean));

export function renderContinuous(res: ContinuousResult): string {
  const c = res.config;
  const s = res.summary;
  const lines = [
    `${c.experiment} · preset ${c.preset} · agent ${c.agent}${c.pqn ? ` (${c.pqn.hidden.join('×')} Q-network, ${c.pqn.envSteps} env steps, HER ${c.pqn.her})` : ''}`
      + `${c.experiment === 'mountaincar' ? ` · ${c.goalFamily} goals` : ''} · VI grid ${c.grid}/dim`
      + ` · fit ${c.fitSteps} steps × ${c.fitBatch} (lr ${c.fitLr}) · ${c.seeds} seed(s) from ${c.seed}`,
    `backend ${res.backend}`,
    ...(res.imported ? res.imported.map((a, i) => `agent ${i}: ${a.file} (${a.format}, ${a.goals} goal(s), probe Q in [${f(a.qMin)}, ${f(a.qMax)}])`) : []),
    '',
    ...(s.qNmse ? [`Q NMSE            ${pm(s.qNmse)}   (agent's Q vs Q^π of its greedy policy)`] : []),
    `WM NMSE           ${pm(s.wmNmse)}   (identity map ${pm(s.identityNmse)})`,
    `WM delta NMSE     ${pm(s.wmDeltaNmse)}   (identity map 1)`,
  ];
  if (s.wmDeltaNmseInterior) lines.push(`  interior states ${pm(s.wmDeltaNmseInterior)} · boundary events ${pm(s.wmDeltaNmseBoundary!)}`);
  lines.push('', 'action/dim         MSE          NMSE         identity     delta NMSE');
  for (const p of s.perActionDim) {
    lines.push(`${`${p.action}/${p.label}`.padEnd(18)} ${f(p.mse.mean).padEnd(12)} ${f(p.nmse.mean).padEnd(12)} ${f(p.identityNmse.mean).padEnd(12)} ${p.deltaNmse ? f(p.deltaNmse.mean) : 'n/a (no change)'}`);
  }
  lines.push('', 'unseen goal        R*                 R^WM               R^WM/R*');
  for (const u of s.unseen) lines.push(`${u.label.padEnd(18)} ${pm(u.rStar).padEnd(18)} ${pm(u.rWM).padEnd(18)} ${pm(u.ratio)}`);
  if (res.tracking && res.tracking.length > 0) {
    lines.push('', 'along training (--track; mean over seeds)', 'env steps/agent    WM NMSE      Q NMSE       R^WM/R*');
    const steps = [...new Set(res.tracking.map((t) => t.envSteps))].sort((a, b) => a - b);
    for (const n of steps) {
      const at = res.tracking.filter((t) => t.envSteps === n).map((t) => continuousMetrics(res.experiment, t.result));
      const avg = (m: string) => { const v = at.map((x) => x[m]).filter((x) => x !== undefined); return v.length > 0 ? f(v.reduce((a, b) => a + b, 0) / v.length) : 'n/a'; };
      lines.push(`${String(n).padEnd(18)} ${avg('wm-nmse').padEnd(12)} ${avg('q-nmse').padEnd(12)} ${avg('r-ratio')}`);
    }
  }
  lines.push('', `wall ${(res.timing.wallMs / 1000).toFixed(1)} s (${c.agent === 'oracle' ? 'oracle VI' : c.agent === 'external' ? 'agent import' : 'agent training'} ${(res.timing.oracleMs / 1000).toFixed(1)} s, `
    + `fit ${(res.seeds.reduce((a, x) => a + x.fitMs, 0) / 1000).toFixed(1)} s, eval ${(res.seeds.reduce((a, x) => a + x.evalMs, 0) / 1000).toFixed(1)} s) on ${res.timing.threads} thread(s)`);
  return lines.join('\n');
}

export function renderResult(res: JobResult): string {
  return res.experiment === 'fourrooms' ? renderFourRooms(res) : renderContinuous(res);
}
