// Running an imported Q-network graph (graph.ts) with TF.js ops, so the P-learning
// fit can differentiate through it to the predicted next states. Constants become
// tensors once; a forward pass is a walk over the nodes. Broadcasting of the
// elementwise operators is numpy's in both ONNX and TF.js.

import type { TF, Tensor, Tensor2D } from '../tensor/backend.ts';
import { layerNorm } from '../tensor/fused.ts';
import type { AgentGraph, GraphNode } from './graph.ts';
import { GraphError } from './graph.ts';

export interface CompiledGraph {
  /** Q values (n × actions) for input rows (n × inDim); call inside tf.tidy. */
  forward(x: Tensor2D): Tensor2D;
  dispose(): void;
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const clampIndex = (i: number, size: number) => Math.max(0, Math.min(size, i < 0 ? i + size : i));

export function compileGraph(tf: TF, g: AgentGraph): CompiledGraph {
  const consts = new Map<string, Tensor>();
  const intValues = new Map<string, readonly number[]>();
  for (const c of g.consts) {
    if (c.kind === 'int') intValues.set(c.name, Array.from(c.data));
    consts.set(c.name, c.kind === 'float'
      ? tf.tensor(c.data as Float32Array, [...c.dims], 'float32')
      : tf.tensor(Int32Array.from(c.data, (v) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v))), [...c.dims], 'int32'));
  }
  // Gemm's constant B with transB is stored transposed once, so the product is a plain x·W
  // (the same kernel plearn's own network uses).
  const gemmB = new Map<string, Tensor>();
  for (const n of g.nodes) {
    if (n.op === 'Gemm' && n.attrs.transB === 1 && consts.has(n.inputs[1])) {
      gemmB.set(n.name, tf.tidy(() => tf.transpose(consts.get(n.inputs[1])!)));
    }
  }
  // A LayerNormalization read only by a Relu runs as one fused kernel with it.
  const readers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
  const fusedRelu = new Set<string>();
  for (const n of g.nodes) {
    const r = readers.get(n.output);
    if (n.op === 'LayerNormalization' && n.output !== g.output && r?.length === 1 && r[0].op === 'Relu') fusedRelu.add(r[0].name);
  }

  const run = (n: GraphNode, v: (i: number) => Tensor): Tensor => {
    const a = n.attrs;
    switch (n.op) {
      case 'Gemm': {
        const pre = gemmB.get(n.name);
        let y: Tensor = tf.matMul(v(0) as Tensor2D, (pre ?? v(1)) as Tensor2D, a.transA === 1, pre === undefined && a.transB === 1);
        if (a.alpha !== 1) y = tf.mul(y, a.alpha as number);
        if (n.inputs[2]) y = tf.add(y, a.beta === 1 ? v(2) : tf.mul(v(2), a.beta as number));
        return y;
      }
      case 'MatMul': return tf.matMul(v(0) as Tensor2D, v(1) as Tensor2D);
      case 'Add': return tf.add(v(0), v(1));
      case 'Sub': return tf.sub(v(0), v(1));
      case 'Mul': return tf.mul(v(0), v(1));
      case 'Div': return tf.div(v(0), v(1));
      case 'Relu': return tf.relu(v(0));
      case 'Tanh': return tf.tanh(v(0));
      case 'Sigmoid': return tf.sigmoid(v(0));
      case 'Sqrt': return tf.sqrt(v(0));
      case 'Neg': return tf.neg(v(0));
      case 'Identity':
      case 'Cast': return v(0);
      case 'Pow': {
        const e = consts.get(n.inputs[1])!;
        const ev = intValues.get(n.inputs[1])?.[0] ?? (e.dataSync()[0]);
        return ev === 2 ? tf.square(v(0)) : tf.pow(v(0), tf.scalar(ev));
      }
      case 'LayerNormalization': {
        const x = v(0);
        const bias = n.inputs[2] ? v(2) : tf.zerosLike(v(1));
        return layerNorm(tf, x, v(1), bias, { epsilon: a.epsilon as number, relu: readers.get(n.output)?.some((r) => fusedRelu.has(r.name)) === true });
      }
      case 'ReduceMean': {
        const x = v(0);
        return tf.mean(x, (a.axes as number[]).map((ax) => normAxis(ax, x.rank)), a.keepdims === 1);
      }
      case 'Concat': {
        const parts = n.inputs.filter((i) => i !== '').map((_, k) => v(k));
        return tf.concat(parts, normAxis(a.axis as number, parts[0].rank));
      }
      case 'Gather': {
        const x = v(0);
        const axis = normAxis(a.axis as number, x.rank);
        const raw = intValues.get(n.inputs[1])!;
        const size = x.shape[axis];
        const bad = raw.find((i) => i < -size || i >= size);
        if (bad !== undefined) throw new GraphError(`node ${JSON.stringify(n.name)} (Gather)`, `index ${bad} is outside [${-size}, ${size - 1}] on axis ${axis}`);
        const idx = raw.some((i) => i < 0) ? tf.tensor(raw.map((i) => (i < 0 ? i + size : i)), [raw.length], 'int32') : consts.get(n.inputs[1])!;
        const out = tf.gather(x, raw.length === 1 && consts.get(n.inputs[1])!.rank === 0 ? tf.reshape(idx, [1]) : idx, axis);
        // A scalar index drops the axis.
        return consts.get(n.inputs[1])!.rank === 0 ? tf.squeeze(out, [axis]) : out;
      }
      case 'Slice': {
        const x = v(0);
        const begin = new Array<number>(x.rank).fill(0);
        const size = [...x.shape];
        const starts = a.starts as number[]; const ends = a.ends as number[]; const axes = a.axes as number[];
        axes.forEach((ax0, k) => {
          const ax = normAxis(ax0, x.rank);
          const lo = clampIndex(starts[k], x.shape[ax]);
          const hi = clampIndex(Math.min(ends[k], 2 ** 31), x.shape[ax]);
          begin[ax] = lo;
          size[ax] = Math.max(0, hi - lo);
        });
        return tf.slice(x, begin, size);
      }
    }
  };

  return {
    forward(x: Tensor2D): Tensor2D {
      const values = new Map<string, Tensor>(consts);
      values.set(g.input, x);
      for (const n of g.nodes) {
        if (fusedRelu.has(n.name)) { values.set(n.output, values.get(n.inputs[0])!); continue; }
        values.set(n.output, run(n, (i) => values.get(n.inputs[i])!));
      }
      return values.get(g.output)! as Tensor2D;
    },
    dispose(): void {
      for (const t of consts.values()) t.dispose();
      for (const t of gemmB.values()) t.dispose();
    },
  };
}
