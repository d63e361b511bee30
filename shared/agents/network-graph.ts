// A safetensors file plus its card's architecture description, as the same graph
// an ONNX model becomes: per hidden layer x·W + b, then LayerNorm (if any), then
// the activation; the head x·W + b, then a sigmoid (if any). Kernels stored as
// torch.nn.Linear keeps them ([out, in]) are transposed here, once.

import type { SafeTensor } from '../format/safetensors.ts';
import type { NetworkDescription } from './agent-card.ts';
import type { AgentGraph, GraphConst, GraphNode } from './graph.ts';
import { GraphError } from './graph.ts';

/** plearn's parameter names for a network of `layers` hidden layers (q-network.ts's order). */
export function plearnParamNames(layers: number, norm: boolean): string[] {
  const out: string[] = [];
  for (let l = 0; l < layers; l++) {
    out.push(`hidden.${l}.kernel`, `hidden.${l}.bias`);
    if (norm) out.push(`hidden.${l}.norm.scale`, `hidden.${l}.norm.bias`);
  }
  out.push('head.kernel', 'head.bias');
  return out;
}

export function graphFromNetwork(net: NetworkDescription, inDim: number, nActions: number, tensors: readonly SafeTensor[]): AgentGraph {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const norm = net.norm === 'layernorm';
  const wanted = plearnParamNames(net.hidden.length, norm);
  for (const k of Object.keys(net.tensors)) {
    if (!wanted.includes(k)) throw new GraphError(`card network.tensors.${k}`, `is not a parameter of this network; its parameters: ${wanted.join(', ')}`);
  }
  const widths = [inDim, ...net.hidden, nActions];
  const consts: GraphConst[] = [];
  const fetch = (name: string, shape: readonly number[], kernel: boolean): string => {
    const fileName = net.tensors[name] ?? name;
    const t = byName.get(fileName);
    if (t === undefined) throw new GraphError(`tensor ${JSON.stringify(fileName)}`, `(${name}) is missing from the file; it holds ${[...byName.keys()].slice(0, 12).join(', ')}`);
    const stored = kernel && net.kernelLayout === 'out_in' ? [shape[1], shape[0]] : [...shape];
    if (t.shape.length !== stored.length || t.shape.some((d, i) => d !== stored[i])) {
      throw new GraphError(`tensor ${JSON.stringify(fileName)}`, `(${name}) is [${t.shape.join(', ')}], the card's architecture needs [${stored.join(', ')}]`
        + (kernel ? ` (kernelLayout ${net.kernelLayout})` : ''));
    }
    if (t.dtype === 'I32') throw new GraphError(`tensor ${JSON.stringify(fileName)}`, 'holds integers; weights must be F32 or F64');
    let data = Float32Array.from(t.data);
    if (kernel && net.kernelLayout === 'out_in') {
      const [rows, cols] = shape; // the in_out shape
      const tr = new Float32Array(rows * cols);
      for (let o = 0; o < cols; o++) for (let i = 0; i < rows; i++) tr[i * cols + o] = data[o * rows + i];
      data = tr;
    }
    consts.push({ name, dims: [...shape], kind: 'float', data });
    return name;
  };
  const nodes: GraphNode[] = [];
  let x = 'input';
  const add = (op: GraphNode['op'], inputs: string[], attrs: GraphNode['attrs'] = {}): string => {
    const output = `v${nodes.length}`;
    nodes.push({ op, name: `${op.toLowerCase()}${nodes.length}`, inputs, output, attrs });
    return output;
  };
  for (let l = 0; l < net.hidden.length; l++) {
    const w = fetch(`hidden.${l}.kernel`, [widths[l], widths[l + 1]], true);
    const b = fetch(`hidden.${l}.bias`, [widths[l + 1]], false);
    x = add('Add', [add('MatMul', [x, w]), b]);
    if (norm) {
      const s = fetch(`hidden.${l}.norm.scale`, [widths[l + 1]], false);
      const nb = fetch(`hidden.${l}.norm.bias`, [widths[l + 1]], false);
      x = add('LayerNormalization', [x, s, nb], { axis: -1, epsilon: net.normEpsilon });
    }
    x = add(net.activation === 'relu' ? 'Relu' : 'Tanh', [x]);
  }
  const L = net.hidden.length;
  const w = fetch('head.kernel', [widths[L], widths[L + 1]], true);
  const b = fetch('head.bias', [widths[L + 1]], false);
  x = add('Add', [add('MatMul', [x, w]), b]);
  if (net.head === 'sigmoid') x = add('Sigmoid', [x]);
  return { input: 'input', inDim, output: x, nodes, consts };
}
