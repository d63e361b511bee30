// What Adam and RAdam share as TF.js optimizers: a first and second moment per
// trained variable, made on first use, and their save/restore as
// `<variable>/m`, `<variable>/v` weights after the step count. Each optimizer
// adds only its own update rule.

import type { NamedTensorMap, Optimizer } from '@tensorflow/tfjs';
import type { TF, Tensor, Variable } from './backend.ts';

/** tfjs-core's optimizer weight entry (not re-exported by @tensorflow/tfjs). */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

export interface Moments {
  m: Variable;
  v: Variable;
}

/** A TF.js optimizer whose learning rate the caller may change between steps (schedules). */
export interface ScheduledOptimizer extends Optimizer {
  learningRate: number;
}

/** The gradients of one step, with the variable each belongs to. */
export interface GradientEntry {
  readonly name: string;
  readonly param: Variable;
  readonly grad: Tensor;
}

/**
 * The base class for an optimizer with per-variable moments on `tf`'s engine
 * (a class made per TF instance, since tf.Optimizer is that instance's).
 * `label` prefixes its error messages.
 */
export function momentOptimizerBase(tf: TF, label: string) {
  abstract class MomentOptimizer extends tf.Optimizer implements ScheduledOptimizer {
    abstract learningRate: number;
    private readonly moments = new Map<string, Moments>();

    /** The non-null gradients with their variables, in the order given. */
    protected gradients(variableGradients: NamedTensorMap | NamedTensor[]): GradientEntry[] {
      const list = Array.isArray(variableGradients)
        ? variableGradients
        : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
      const out: GradientEntry[] = [];
      for (const { name, tensor } of list) {
        if (tensor == null) continue;
        const param = tf.engine().registeredVariables[name];
        if (param === undefined) throw new Error(`${label}: no variable named ${name}`);
        out.push({ name, param, grad: tensor });
      }
      return out;
    }

    protected momentsOf(name: string, p: Variable): Moments {
      let state = this.moments.get(name);
      if (state === undefined) {
        // Unnamed: variable names are global, and two optimizers may train the same variable.
        state = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) }));
        this.moments.set(name, state);
      }
      return state;
    }

    private clearMoments(): void {
      for (const { m, v } of this.moments.values()) {
        m.dispose();
        v.dispose();
      }
      this.moments.clear();
    }

    override dispose(): void {
      this.clearMoments();
      super.dispose();
    }

    /**
     * The step count, then `<variable>/m` and `<variable>/v` per variable. The
     * moments are clones, which share storage until the next step (whose
     * in-place write copies first), so they are a snapshot at no copying cost;
     * the caller disposes every returned tensor.
     */
    override async getWeights(): Promise<NamedTensor[]> {
      const out: NamedTensor[] = [await this.saveIterations()];
      for (const [name, { m, v }] of this.moments) {
        out.push({ name: `${name}/m`, tensor: tf.clone(m) }, { name: `${name}/v`, tensor: tf.clone(v) });
      }
      return out;
    }

    /** Replaces all state by what getWeights produced; the given tensors stay the caller's. */
    override async setWeights(weightValues: NamedTensor[]): Promise<void> {
      const rest = await this.extractIterations(weightValues);
      const byVar = new Map<string, { m?: Tensor; v?: Tensor }>();
      for (const { name, tensor } of rest) {
        const cut = name.lastIndexOf('/');
        const kind = name.slice(cut + 1);
        if (cut < 0 || (kind !== 'm' && kind !== 'v')) throw new Error(`${label}: unexpected weight ${name}`);
        const key = name.slice(0, cut);
        const entry = byVar.get(key) ?? {};
        entry[kind] = tensor;
        byVar.set(key, entry);
      }
      const next = new Map<string, Moments>();
      for (const [name, { m, v }] of byVar) {
        if (!m || !v) throw new Error(`${label}: weights of ${name} need both /m and /v`);
        // Sharing the caller's buffers is safe: an in-place step copies a shared buffer first.
        next.set(name, { m: tf.variable(m, false), v: tf.variable(v, false) });
      }
      // Built before the old state goes, in case the weights given are clones of it.
      this.clearMoments();
      for (const [name, state] of next) this.moments.set(name, state);
    }
  }
  return MomentOptimizer;
}
