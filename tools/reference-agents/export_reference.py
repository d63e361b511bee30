#!/usr/bin/env python3
"""Export a Q-network checkpoint of the paper's reference implementation
(aletcher/inverting-bellman, `pqn_checkpoint.pkl`) to plearn's two agent formats.

    python export_reference.py CHECKPOINT.pkl OUT_STEM \
        [--experiment mountaincar|reacher] [--goals 0,1,2,3] [--gamma 0.99] \
        [--config PQN_CONFIG.json] [--reference-dir DIR]

writes

    OUT_STEM.safetensors  float32 tensors named by their flax path joined by '.'
                          (params.Dense_0.kernel, ...), the agent card in the
                          header's __metadata__ under "plearn.agent"
    OUT_STEM.json         the same agent card
    OUT_STEM.onnx         the same network as an ONNX graph (opset 17): input
                          "input" [N, inDim] -> output "q" [N, nActions], the
                          card in metadata_props under "plearn.agent"

and then checks what it wrote: a float64 numpy forward pass of the tensors read
back from OUT_STEM.safetensors (following the card read back from the file)
against the network evaluated in JAX/flax (the reference's own QNetwork when
--reference-dir is given, and a flax module built here in any case), and
against onnxruntime on OUT_STEM.onnx when onnxruntime is installed. It exits
with status 1 (and removes the three files) if any maximum absolute difference
exceeds 1e-5.

The checkpoint is a plain pickle of numpy arrays and Python values; unpickling
needs only numpy. The network the reference builds (training/pqn.py QNetwork):
input row = concat(obs[:, OBS_INPUT_DIMS or all], goal.target_state[:,
GOAL_INPUT_DIMS or all]), no input normalisation; per hidden layer Dense ->
LayerNorm (flax defaults: epsilon 1e-6, scale and bias) -> ReLU, or no norm
when NORM_TYPE is not "layer_norm"; head Dense, then sigmoid when
NETWORK_SIGMOID_OUTPUTS. flax kernels are [in, out] (y = x W + b).
"""

import argparse
import hashlib
import json
import os
import pickle
import sys

import numpy as np

CARD_KEY = "plearn.agent"
TOLERANCE = 1e-5
EXPERIMENTS = {"MountainCar": "mountaincar", "Reacher": "reacher"}
ACTIONS = {"mountaincar": 3, "reacher": 9}
OBS_DIM = {"mountaincar": 2, "reacher": 6}


class ExportError(Exception):
    pass


# ── Reading the checkpoint ────────────────────────────────────────────────────


def load_checkpoint(path):
    with open(path, "rb") as f:
        data = pickle.load(f)
    if not isinstance(data, dict) or "params" not in data:
        raise ExportError(f"{path}: expected a pickled dict with a 'params' entry "
                          f"(the reference's save_pqn format)")
    params = data["params"]
    # A flax variables dict ({"params": {...}}) is accepted as well as the bare tree.
    if isinstance(params, dict) and set(params) == {"params"}:
        params = params["params"]
    batch_stats = data.get("batch_stats") or {}
    return params, batch_stats, data.get("config")


def find_config(ckpt_path, explicit):
    """The PQN config: --config, else pqn_config.json beside the checkpoint
    (or one directory up for checkpoints/step_*.pkl)."""
    candidates = [explicit] if explicit else []
    d = os.path.dirname(os.path.abspath(ckpt_path))
    candidates += [os.path.join(d, "pqn_config.json"),
                   os.path.join(os.path.dirname(d), "pqn_config.json")]
    for c in candidates:
        if c and os.path.exists(c):
            with open(c) as f:
                return json.load(f), c
    if explicit:
        raise ExportError(f"--config {explicit}: no such file")
    return None, None


def flatten(tree, prefix):
    """{'Dense_0': {'kernel': a}} -> {'<prefix>.Dense_0.kernel': a}."""
    out = {}
    for k in sorted(tree):
        v = tree[k]
        name = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = np.asarray(v)
    return out


def layer_index(name, kind):
    if not name.startswith(kind + "_") or not name[len(kind) + 1:].isdigit():
        raise ExportError(f"unexpected module {name!r} in params (expected Dense_<i> and LayerNorm_<i> only)")
    return int(name[len(kind) + 1:])


def describe_network(params, config):
    """Hidden widths, norm, head and the plearn-name -> file-name map."""
    dense = sorted(layer_index(k, "Dense") for k in params if k.startswith("Dense"))
    norms = sorted(layer_index(k, "LayerNorm") for k in params if k.startswith("LayerNorm"))
    other = [k for k in params if not (k.startswith("Dense") or k.startswith("LayerNorm"))]
    if other:
        raise ExportError(f"unexpected modules in params: {other}")
    if dense != list(range(len(dense))) or len(dense) < 1:
        raise ExportError(f"Dense layers are not Dense_0..Dense_k: {dense}")
    n_hidden = len(dense) - 1
    if norms and norms != list(range(n_hidden)):
        raise ExportError(f"expected LayerNorm_0..LayerNorm_{n_hidden - 1} (one per hidden layer), found {norms}")
    norm_type = (config or {}).get("NORM_TYPE")
    if norm_type is not None and (norm_type == "layer_norm") != bool(norms):
        raise ExportError(f"config NORM_TYPE={norm_type!r} disagrees with the params (LayerNorm modules: {norms})")

    for i in dense:
        p = params[f"Dense_{i}"]
        if set(p) != {"kernel", "bias"}:
            raise ExportError(f"Dense_{i} holds {sorted(p)}, expected kernel and bias")
    for i in norms:
        p = params[f"LayerNorm_{i}"]
        if set(p) != {"scale", "bias"}:
            raise ExportError(f"LayerNorm_{i} holds {sorted(p)}, expected scale and bias")

    shapes = [np.shape(params[f"Dense_{i}"]["kernel"]) for i in dense]
    for i in range(1, len(shapes)):
        if shapes[i][0] != shapes[i - 1][1]:
            raise ExportError(f"Dense_{i} takes {shapes[i][0]} inputs but Dense_{i - 1} gives {shapes[i - 1][1]}")
    hidden = [int(s[1]) for s in shapes[:-1]]
    in_dim, n_actions = int(shapes[0][0]), int(shapes[-1][1])

    if config is not None and "NETWORK_SIGMOID_OUTPUTS" in config:
        sigmoid = bool(config["NETWORK_SIGMOID_OUTPUTS"])
    elif config is not None:
        sigmoid = False  # the reference's make_train default
    else:
        raise ExportError("no config: cannot tell whether the head has a sigmoid (pass --config pqn_config.json)")

    tensors = {}
    for i in range(n_hidden):
        tensors[f"hidden.{i}.kernel"] = f"params.Dense_{i}.kernel"
        tensors[f"hidden.{i}.bias"] = f"params.Dense_{i}.bias"
        if norms:
            tensors[f"hidden.{i}.norm.scale"] = f"params.LayerNorm_{i}.scale"
            tensors[f"hidden.{i}.norm.bias"] = f"params.LayerNorm_{i}.bias"
    tensors["head.kernel"] = f"params.Dense_{n_hidden}.kernel"
    tensors["head.bias"] = f"params.Dense_{n_hidden}.bias"

    network = {
        "hidden": hidden,
        "norm": "layernorm" if norms else "none",
        "normEpsilon": 1e-6,  # flax.linen.LayerNorm's default; the reference does not set it
        "activation": "relu",
        "head": "sigmoid" if sigmoid else "linear",
        "kernelLayout": "in_out",
        "tensors": tensors,
    }
    return network, in_dim, n_actions


def input_columns(config, experiment):
    """The network's input row: obs[OBS_INPUT_DIMS or all] then goal[GOAL_INPUT_DIMS or all]."""
    obs_dim = int(config.get("STATE_DIM", OBS_DIM[experiment]))
    if obs_dim != OBS_DIM[experiment]:
        raise ExportError(f"config STATE_DIM={obs_dim}, but plearn's {experiment} observation has {OBS_DIM[experiment]} dims")
    obs_dims = config.get("OBS_INPUT_DIMS") or list(range(obs_dim))
    goal_dims = config.get("GOAL_INPUT_DIMS") or list(range(obs_dim))
    return [f"obs:{int(k)}" for k in obs_dims] + [f"goal:{int(k)}" for k in goal_dims]


def mountaincar_family(config):
    goals = np.asarray(config.get("GOALS", []), dtype=np.float64)
    masks = np.asarray(config.get("REWARD_MASK", []), dtype=np.float64)
    if goals.shape != (4, 2) or masks.shape != (4, 2):
        return None
    if np.allclose(goals[:, 0], np.linspace(-1.2, 0.6, 4), atol=1e-6) and np.allclose(masks, [[1, 0]] * 4):
        return "position"
    if np.allclose(goals[:, 1], np.linspace(-0.07, 0.07, 4), atol=1e-6) and np.allclose(masks, [[0, 1]] * 4):
        return "velocity"
    return None


# ── Writing ───────────────────────────────────────────────────────────────────


def build_onnx(card, weights, in_dim, n_actions):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    net = card["network"]
    t = net["tensors"]
    nodes, inits = [], []
    used = set()

    def init(name):
        if name not in used:
            used.add(name)
            inits.append(numpy_helper.from_array(np.ascontiguousarray(weights[name], dtype=np.float32), name=name))
        return name

    x = "input"
    for i in range(len(net["hidden"])):
        h = f"hidden{i}.dense"
        nodes.append(helper.make_node("Gemm", [x, init(t[f"hidden.{i}.kernel"]), init(t[f"hidden.{i}.bias"])], [h],
                                      name=f"hidden{i}/Gemm", transA=0, transB=0, alpha=1.0, beta=1.0))
        if net["norm"] == "layernorm":
            n = f"hidden{i}.norm"
            nodes.append(helper.make_node("LayerNormalization",
                                          [h, init(t[f"hidden.{i}.norm.scale"]), init(t[f"hidden.{i}.norm.bias"])], [n],
                                          name=f"hidden{i}/LayerNormalization", axis=-1, epsilon=float(net["normEpsilon"])))
            h = n
        x = f"hidden{i}.relu"
        nodes.append(helper.make_node("Relu", [h], [x], name=f"hidden{i}/Relu"))
    head_out = "head.logits" if net["head"] == "sigmoid" else "q"
    nodes.append(helper.make_node("Gemm", [x, init(t["head.kernel"]), init(t["head.bias"])], [head_out],
                                  name="head/Gemm", transA=0, transB=0, alpha=1.0, beta=1.0))
    if net["head"] == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", [head_out], ["q"], name="head/Sigmoid"))

    graph = helper.make_graph(
        nodes, "q_network",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_dim])],
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["N", n_actions])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="plearn export_reference.py",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # the IR version that goes with opset 17
    helper.set_model_props(model, {CARD_KEY: json.dumps(card)})
    onnx.checker.check_model(model, full_check=True)
    return model


# ── Checking ──────────────────────────────────────────────────────────────────


def numpy_forward(card, weights, rows):
    """float64 forward pass that follows the card, as a reader of the files would."""
    net = card["network"]
    t = net["tensors"]
    x = rows.astype(np.float64)
    if "inputScale" in card:
        x = (x - np.asarray(card["inputScale"]["shift"])) * np.asarray(card["inputScale"]["scale"])
    for i in range(len(net["hidden"])):
        x = x @ weights[t[f"hidden.{i}.kernel"]].astype(np.float64) + weights[t[f"hidden.{i}.bias"]]
        if net["norm"] == "layernorm":
            mu = x.mean(axis=-1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
            x = (x - mu) / np.sqrt(var + net["normEpsilon"])
            x = x * weights[t[f"hidden.{i}.norm.scale"]] + weights[t[f"hidden.{i}.norm.bias"]]
        x = np.maximum(x, 0.0)
    x = x @ weights[t["head.kernel"]].astype(np.float64) + weights[t["head.bias"]]
    if net["head"] == "sigmoid":
        x = 1.0 / (1.0 + np.exp(-x))
    return x


def sample_inputs(config, card, n, seed=0):
    """n random observations and goal targets (uniform over STATE_RANGES where the
    config has them) and the input rows the card builds from them."""
    rng = np.random.default_rng(seed)
    state_dim = OBS_DIM[card["experiment"]]
    ranges = config.get("STATE_RANGES")
    if ranges and len(ranges) == state_dim:
        lo = np.array([r[0] for r in ranges], dtype=np.float64)
        hi = np.array([r[1] for r in ranges], dtype=np.float64)
        obs = rng.uniform(lo, hi, (n, state_dim))
        goal = rng.uniform(lo, hi, (n, state_dim))
    else:
        obs = rng.standard_normal((n, state_dim))
        goal = rng.standard_normal((n, state_dim))
    obs, goal = obs.astype(np.float32), goal.astype(np.float32)
    cols = []
    for c in card["inputs"]:
        src, k = c.split(":")
        cols.append((obs if src == "obs" else goal)[:, int(k)])
    return obs, goal, np.stack(cols, axis=1).astype(np.float32)


def flax_forward_own(card, params, rows):
    """The network as a flax module written here (same module names as the
    reference's QNetwork, so the checkpoint's params tree applies unchanged)."""
    import jax
    import flax.linen as nn

    net = card["network"]

    class QMlp(nn.Module):
        @nn.compact
        def __call__(self, x):
            for w in net["hidden"]:
                x = nn.Dense(w)(x)
                if net["norm"] == "layernorm":
                    x = nn.LayerNorm(epsilon=net["normEpsilon"])(x)
                x = nn.relu(x)
            x = nn.Dense(card["actions"])(x)
            return jax.nn.sigmoid(x) if net["head"] == "sigmoid" else x

    return np.asarray(QMlp().apply({"params": params}, rows))


def flax_forward_reference(reference_dir, config, params, batch_stats, obs, goal):
    """The reference's own QNetwork (training/pqn_utils.make_q_network), fed raw
    observations and goal targets -- so this also checks the card's input columns."""
    import jax.numpy as jnp

    sys.path.insert(0, os.path.abspath(reference_dir))
    from training.pqn_utils import make_q_network  # noqa: E402  (the reference's module)
    from envs.goals import ContinuousGoal  # noqa: E402

    network = make_q_network(config)
    mask = np.asarray(config["REWARD_MASK"], dtype=np.float32)[0]
    goal_repr = ContinuousGoal(target_state=jnp.asarray(goal), reward_mask=jnp.broadcast_to(mask, goal.shape))
    q = network.apply({"params": params, "batch_stats": batch_stats}, jnp.asarray(obs), goal_repr, train=False)
    return np.asarray(q)


def read_back(stem):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    weights = load_file(stem + ".safetensors")
    with safe_open(stem + ".safetensors", framework="numpy") as f:
        meta = f.metadata() or {}
    if CARD_KEY not in meta:
        raise ExportError(f"{stem}.safetensors: no {CARD_KEY} in __metadata__")
    card = json.loads(meta[CARD_KEY])
    with open(stem + ".json") as f:
        if json.load(f) != card:
            raise ExportError(f"{stem}.json differs from the card in {stem}.safetensors")
    import onnx
    model = onnx.load(stem + ".onnx")
    props = {p.key: p.value for p in model.metadata_props}
    if json.loads(props.get(CARD_KEY, "null")) != card:
        raise ExportError(f"{stem}.onnx: metadata_props {CARD_KEY} differs from the safetensors card")
    return card, weights


def self_check(stem, config, params, batch_stats, reference_dir, n=64):
    card, weights = read_back(stem)
    for name, a in weights.items():
        if a.dtype != np.float32:
            raise ExportError(f"{name} is {a.dtype}, expected float32")
    obs, goal, rows = sample_inputs(config, card, n)
    ref = numpy_forward(card, weights, rows)
    diffs = {}

    try:
        import jax  # noqa: F401
        import flax  # noqa: F401
        have_jax = True
    except ImportError:
        have_jax = False
    if have_jax:
        diffs["flax (module built here) vs numpy"] = float(np.abs(flax_forward_own(card, params, rows) - ref).max())
        if reference_dir:
            q = flax_forward_reference(reference_dir, config, params, batch_stats, obs, goal)
            diffs["reference QNetwork (raw obs, goal) vs numpy (card's input row)"] = float(np.abs(q - ref).max())
        else:
            print("  (no --reference-dir: the reference's own QNetwork is not evaluated)")
    else:
        print("  (jax/flax not installed: flax comparisons skipped)")

    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
        print("  (onnxruntime not installed: ONNX runtime comparison skipped)")
    if ort is not None:
        sess = ort.InferenceSession(stem + ".onnx", providers=["CPUExecutionProvider"])
        q = sess.run(["q"], {"input": rows})[0]
        if q.shape != (n, card["actions"]):
            raise ExportError(f"onnxruntime returned shape {q.shape}, expected {(n, card['actions'])}")
        diffs["onnxruntime (.onnx) vs numpy"] = float(np.abs(q - ref).max())

    print(f"  self-check on {n} random inputs (obs and goal uniform over STATE_RANGES; "
          f"q range [{ref.min():.4f}, {ref.max():.4f}]):")
    for k, v in diffs.items():
        print(f"    max |diff| {k}: {v:.3e}")
    bad = {k: v for k, v in diffs.items() if not v <= TOLERANCE}
    if bad:
        raise ExportError(f"self-check failed (tolerance {TOLERANCE}): {bad}")
    return diffs


# ── Main ──────────────────────────────────────────────────────────────────────


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="the reference's pqn_checkpoint.pkl (or checkpoints/step_*.pkl)")
    ap.add_argument("out_stem", help="writes OUT_STEM.safetensors, OUT_STEM.json, OUT_STEM.onnx")
    ap.add_argument("--experiment", choices=["mountaincar", "reacher"], help="default: from the config's ENV_NAME")
    ap.add_argument("--goals", help="training-goal indices the agent serves, e.g. 0,1,2,3 (default: all NUM_GOALS)")
    ap.add_argument("--gamma", type=float, help="discount (default: the config's GAMMA)")
    ap.add_argument("--config", help="pqn_config.json, for checkpoints without an embedded config "
                                     "(default: the pickle's own, else pqn_config.json beside it)")
    ap.add_argument("--reference-dir", help="a checkout of the reference, to evaluate its own QNetwork in the self-check")
    args = ap.parse_args(argv)

    try:
        params, batch_stats, config = load_checkpoint(args.checkpoint)
        config_src = "embedded in the checkpoint"
        if config is None or args.config:
            config, config_src = find_config(args.checkpoint, args.config)
        if config is None:
            raise ExportError("the checkpoint has no config and no pqn_config.json was found beside it (pass --config)")
        if batch_stats and any(np.size(v) for v in flatten(batch_stats, "batch_stats").values()):
            raise ExportError(f"the checkpoint has batch_stats {sorted(flatten(batch_stats, 'batch_stats'))}: "
                              f"BatchNorm-style statistics are not expressible in plearn's card")

        env_name = config.get("ENV_NAME")
        experiment = args.experiment or EXPERIMENTS.get(env_name)
        if experiment is None:
            raise ExportError(f"config ENV_NAME={env_name!r}; pass --experiment")
        if env_name in EXPERIMENTS and EXPERIMENTS[env_name] != experiment:
            raise ExportError(f"--experiment {experiment} but the checkpoint was trained on {env_name}")

        network, in_dim, n_actions = describe_network(params, config)
        inputs = input_columns(config, experiment)
        if len(inputs) != in_dim:
            raise ExportError(f"the input row {inputs} has {len(inputs)} columns but Dense_0 takes {in_dim}")
        if n_actions != ACTIONS[experiment]:
            raise ExportError(f"the head scores {n_actions} actions; plearn's {experiment} has {ACTIONS[experiment]}")

        num_goals = int(config.get("NUM_GOALS", len(config.get("GOALS", []))))
        goals = [int(g) for g in args.goals.split(",")] if args.goals else list(range(num_goals))
        if any(g < 0 or g >= num_goals for g in goals) or len(set(goals)) != len(goals):
            raise ExportError(f"--goals {goals}: expected distinct indices in [0, {num_goals - 1}]")
        gamma = args.gamma if args.gamma is not None else float(config.get("GAMMA", 0.99))

        family = mountaincar_family(config) if experiment == "mountaincar" else None
        if experiment == "mountaincar" and family is None:
            print("  WARNING: the config's GOALS/REWARD_MASK are neither the position nor the velocity "
                  "training goals; goal indices may not mean what plearn expects", file=sys.stderr)

        with open(args.checkpoint, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        keys = ("TOTAL_TIMESTEPS", "NUM_ENVS", "LR", "SEED", "HER_STRATEGY", "NETWORK_DENSE_LAYERS",
                "NETWORK_DENSE_HIDDEN_SIZE", "GOAL_INPUT_DIMS", "OBS_INPUT_DIMS")
        settings = ", ".join(f"{k}={config[k]}" for k in keys if k in config)
        source = (f"aletcher/inverting-bellman PQN checkpoint {os.path.abspath(args.checkpoint)} "
                  f"(sha256 {digest}); {env_name}"
                  + (f" {family} goals" if family else "") + f"; config {config_src}; {settings}")

        card = {
            "plearnAgent": 1,
            "experiment": experiment,
            "inputs": inputs,
            "actions": n_actions,
            "gamma": gamma,
            "goals": goals,
            "network": network,
            "source": source,
        }

        weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in flatten(params, "params").items()}
        for name in network["tensors"].values():
            if name not in weights:
                raise ExportError(f"internal: {name} not among the checkpoint's tensors")

        from safetensors.numpy import save_file

        stem = args.out_stem
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
        save_file(weights, stem + ".safetensors", metadata={CARD_KEY: json.dumps(card)})
        with open(stem + ".json", "w") as f:
            json.dump(card, f, indent=2)
            f.write("\n")
        import onnx
        onnx.save(build_onnx(card, weights, in_dim, n_actions), stem + ".onnx")
        print(f"wrote {stem}.safetensors, {stem}.json, {stem}.onnx")
        print(f"  inputs {inputs}, hidden {network['hidden']}, norm {network['norm']} "
              f"(eps {network['normEpsilon']}), head {network['head']}, {n_actions} actions, "
              f"gamma {gamma}, goals {goals}")

        try:
            self_check(stem, config, params, batch_stats, args.reference_dir)
        except Exception:
            for ext in (".safetensors", ".json", ".onnx"):
                if os.path.exists(stem + ext):
                    os.remove(stem + ext)
            print("  removed the written files", file=sys.stderr)
            raise
        print("  self-check passed")
    except ExportError as e:
        print(f"export_reference: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
