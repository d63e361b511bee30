"""Agent files for the `plearn extract` tests, written the way a PyTorch user would.

    python agents_fixture.py OUT_DIR [PLEARN_QNET.safetensors]

Writes into OUT_DIR:
  torch-mlp.onnx + torch-mlp.json     a LayerNorm/ReLU/sigmoid MLP exported by torch.onnx
                                      (opset 17: LayerNormalization), card beside it; the
                                      card reads the columns out of order and scales them
  torch-mlp-st.safetensors            the same network's state_dict (torch's [out, in]
                                      kernels), its card inside the file's metadata
  torch-mlp-op13.onnx                 the same network at opset 13 (LayerNorm decomposed
                                      into ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add), card in
                                      the model's metadata_props
  softplus.onnx + softplus.json       a network with an operator plearn does not support
  ops.onnx + ops.json                 a graph written with onnx.helper that reads its
                                      columns with Slice, Gather and Concat and uses Gemm
                                      (transB), Sub, Div, Mul, Neg, Tanh, Identity, MatMul
  expected.json                       MountainCar states, and torch's (numpy's for ops.onnx)
                                      Q values on them for every goal of the card
With a plearn q-network file (what `plearn run --out` writes), also:
  roundtrip.onnx, roundtrip.safetensors (+ .json cards)
                                      that network rebuilt in torch and written both ways
"""

import json
import os
import sys

import numpy as np
import onnx
import torch
from safetensors.torch import load_file, save_file

OBS_DIM = 2  # MountainCar: [x, v]


class QNet(torch.nn.Module):
    def __init__(self, widths, eps, act=torch.nn.ReLU):
        super().__init__()
        layers = []
        for i in range(len(widths) - 2):
            layers += [torch.nn.Linear(widths[i], widths[i + 1]), torch.nn.LayerNorm(widths[i + 1], eps=eps), act()]
        layers += [torch.nn.Linear(widths[-2], widths[-1]), torch.nn.Sigmoid()]
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def export_onnx(model, in_dim, path, opset, card=None):
    model.eval()
    torch.onnx.export(model, torch.zeros(4, in_dim), path, input_names=["input"], output_names=["q"],
                      dynamic_axes={"input": {0: "N"}, "q": {0: "N"}}, opset_version=opset)
    if card is not None:
        m = onnx.load(path)
        entry = m.metadata_props.add()
        entry.key, entry.value = "plearn.agent", json.dumps(card)
        onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path))


def tensor_names(model, hidden_layers):
    """plearn's parameter names -> the state_dict's."""
    names, k = {}, 0
    for l in range(hidden_layers):
        names[f"hidden.{l}.kernel"] = f"net.{k}.weight"
        names[f"hidden.{l}.bias"] = f"net.{k}.bias"
        names[f"hidden.{l}.norm.scale"] = f"net.{k + 1}.weight"
        names[f"hidden.{l}.norm.bias"] = f"net.{k + 1}.bias"
        k += 3
    names["head.kernel"] = f"net.{k}.weight"
    names["head.bias"] = f"net.{k}.bias"
    return names


def rows_for(card, states, goal_target):
    cols = []
    for c in card["inputs"]:
        src, idx = c.split(":")
        cols.append(states[:, int(idx)] if src == "obs" else np.full(len(states), goal_target[int(idx)]))
    x = np.stack(cols, axis=1)
    if "inputScale" in card:
        x = (x - np.array(card["inputScale"]["shift"])) * np.array(card["inputScale"]["scale"])
    return x.astype(np.float32)


def main(out, plearn_qnet=None):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    hidden = [48, 32]
    model = QNet([3, *hidden, 3], eps=1e-5)
    with torch.no_grad():  # LayerNorm's affine parameters away from (1, 0), so they matter
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    # The network reads (v, x, goal x), with v and x rescaled to about unit range.
    card = {
        "plearnAgent": 1, "experiment": "mountaincar", "inputs": ["obs:1", "obs:0", "goal:0"],
        "inputScale": {"shift": [0.0, -0.3, -0.3], "scale": [14.0, 1.1, 1.1]},
        "actions": 3, "gamma": 0.99, "goals": [0, 1, 2, 3], "source": "tests/support/agents_fixture.py",
    }
    export_onnx(model, 3, os.path.join(out, "torch-mlp.onnx"), 17)
    with open(os.path.join(out, "torch-mlp.json"), "w") as f:
        json.dump(card, f)
    export_onnx(model, 3, os.path.join(out, "torch-mlp-op13.onnx"), 13, card)
    net_card = dict(card, network={"hidden": hidden, "norm": "layernorm", "normEpsilon": 1e-5, "activation": "relu",
                                   "head": "sigmoid", "kernelLayout": "out_in", "tensors": tensor_names(model, len(hidden))})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, "torch-mlp-st.safetensors"),
              metadata={"plearn.agent": json.dumps(net_card)})

    soft = QNet([3, 16, 3], eps=1e-5, act=torch.nn.Softplus)
    export_onnx(soft, 3, os.path.join(out, "softplus.onnx"), 17)
    with open(os.path.join(out, "softplus.json"), "w") as f:
        json.dump(card, f)

    rng = np.random.default_rng(3)
    states = np.stack([rng.uniform(-1.2, 0.6, 200), rng.uniform(-0.07, 0.07, 200)], axis=1)
    goals = np.linspace(-1.2, 0.6, 4)
    q = []
    with torch.no_grad():
        for g in goals:
            q.append(model(torch.from_numpy(rows_for(card, states, [g, 0.0]))).numpy().astype(float).tolist())
    q_ops = ops_graph(out, card, states, goals, rng)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"states": states.tolist(), "q": q, "qOps": q_ops, "torch": torch.__version__, "onnx": onnx.__version__}, f)

    if plearn_qnet:
        roundtrip(plearn_qnet, out)


def ops_graph(out, card, states, goals, rng):
    """A network that selects and reorders its own input columns (the card lists them in file order)."""
    from onnx import TensorProto, helper, numpy_helper
    w1 = rng.normal(0, 0.5, (8, 3)).astype(np.float32)   # Gemm with transB: [out, in]
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.5, (8, 3)).astype(np.float32)   # MatMul: [in, out]
    c = np.float32(0.25)
    d = np.float32(2.0)
    init = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2"),
            numpy_helper.from_array(np.array(c), "c"), numpy_helper.from_array(np.array(d), "d"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "s0"), numpy_helper.from_array(np.array([2], dtype=np.int64), "s2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"), numpy_helper.from_array(np.array([2], dtype=np.int64), "gi")]
    nodes = [
        helper.make_node("Slice", ["input", "s0", "s2", "ax1"], ["xv"]),          # columns 0:2 → (x, v)
        helper.make_node("Gather", ["input", "gi"], ["g"], axis=1),               # column 2 → goal x
        helper.make_node("Concat", ["g", "xv"], ["cat"], axis=1),                 # (goal x, x, v)
        helper.make_node("Gemm", ["cat", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Tanh", ["h1"], ["t1"]),
        helper.make_node("Sub", ["t1", "c"], ["t2"]),
        helper.make_node("Div", ["t2", "d"], ["t3"]),
        helper.make_node("Identity", ["t3"], ["t4"]),
        helper.make_node("Neg", ["t4"], ["t5"]),
        helper.make_node("Mul", ["t5", "t4"], ["t6"]),
        helper.make_node("MatMul", ["t6", "w2"], ["h2"]),
        helper.make_node("Sigmoid", ["h2"], ["q"]),
    ]
    graph = helper.make_graph(nodes, "ops", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["N", 3])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "ops.onnx"))
    ops_card = dict(card, inputs=["obs:0", "obs:1", "goal:0"])
    del ops_card["inputScale"]
    with open(os.path.join(out, "ops.json"), "w") as f:
        json.dump(ops_card, f)
    q = []
    for g in goals:
        x = rows_for(ops_card, states, [g, 0.0]).astype(np.float64)
        cat = np.concatenate([x[:, 2:3], x[:, 0:2]], axis=1)
        t4 = (np.tanh(cat @ w1.T.astype(np.float64) + b1) - c) / d
        q.append((1 / (1 + np.exp(-((-t4 * t4) @ w2.astype(np.float64))))).tolist())
    return q


def roundtrip(path, out):
    from safetensors import safe_open
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    spec, extra, config = json.loads(meta["spec"]), json.loads(meta["extra"]), json.loads(meta["config"])
    params = load_file(path)
    widths = [len(spec["obsDims"]) + len(spec["goalDims"]), *spec["hidden"], spec["nActions"]]
    model = QNet(widths, eps=1e-5)
    names = tensor_names(model, len(spec["hidden"]))
    state = {}
    for plearn_name, torch_name in names.items():
        t = params[plearn_name]
        state[torch_name] = t.t().contiguous() if plearn_name.endswith("kernel") else t
    model.load_state_dict(state)
    card = {
        "plearnAgent": 1, "experiment": meta["experiment"], "inputs": [f"obs:{d}" for d in spec["obsDims"]] + [f"goal:{d}" for d in spec["goalDims"]],
        "actions": spec["nActions"], "gamma": config["gamma"], "goals": extra["goalIndices"], "source": f"round trip of {os.path.basename(path)}",
    }
    if spec.get("inputNorm"):
        card["inputScale"] = {"shift": spec["inputNorm"]["shift"], "scale": spec["inputNorm"]["scale"]}
    export_onnx(model, widths[0], os.path.join(out, "roundtrip.onnx"), 17)
    with open(os.path.join(out, "roundtrip.json"), "w") as f:
        json.dump(card, f)
    st_dir = os.path.join(out, "st")
    os.makedirs(st_dir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(st_dir, "roundtrip.safetensors"))
    with open(os.path.join(st_dir, "roundtrip.json"), "w") as f:
        json.dump(dict(card, network={"hidden": spec["hidden"], "norm": "layernorm", "normEpsilon": 1e-5, "activation": "relu", "head": "sigmoid",
                                      "kernelLayout": "out_in", "tensors": names}), f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
