#!/usr/bin/env python3
"""The JAX side of the `gpu` bench section (bench/webgpu-steps.ts).

The same steps plearn times, written the way the reference implementation
writes them (one jitted function per step, data on the device):

- ``pqn DxW``: one PQN update at minibatch 256 — a LayerNorm + ReLU MLP with a
  sigmoid head, input 3 (MountainCar: observation 2 + goal 1), 3 actions; TD
  loss ½·mean(Q(s, a) − target)², its gradient, global-norm clip 10, RAdam
  (optax). Shapes 3×256, 4×1024 and 6×2048.
- ``fit B``: one P-learning fit step at batch B (512, 4096) — the 2×256 tanh
  residual world model ŝ' = s + f(s, a), the paper's frozen 4×1024 MountainCar
  Q-network, the L1 Bellman residual |Q(s,a,g) − r − γ(1 − d)·max_a' Q(ŝ',a',g)|
  with the sparse position goals, Adam (optax) on a cosine schedule. The batch
  (states, actions, goals) is drawn on the device inside the step.
- ``fit 512 3x256``: the same fit step with a 3×256 agent, `plearn run`'s
  quick preset (the end-to-end fit's step).
- ``env E`` and ``vi E`` (E: mountaincar, reacher): a batched environment step
  and a sweep of grid value iteration (bench/jax_envs.py).

Standalone: prints one JSON line of versions, then one per row::

    python bench/jax_bench.py --device cpu --threads 2 [--rows "pqn 3x256,fit 512"]
    python bench/jax_bench.py --device gpu

With ``--serve`` it answers one JSON command per stdin line instead (what
bench/webgpu-steps.ts drives, interleaving its own blocks with these):
``{"cmd": "info"}``, ``{"cmd": "prepare", "row": R}`` (build, compile, time one
step), ``{"cmd": "time", "row": R, "steps": K}``, ``{"cmd": "quit"}``.

Where JAX (or optax, or a GPU for ``--device gpu``) cannot be had it prints one
line ``{"skipped": "..."}`` and exits 0 at once, in either mode.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

ROWS = ["pqn 3x256", "pqn 4x1024", "pqn 6x2048", "fit 512", "fit 4096"]
# The environment rows (bench/jax_envs.py): CPU-side work in both programs.
ENV_ROWS = ["env mountaincar", "env reacher", "vi mountaincar", "vi reacher"]
# The fit step at `plearn run`'s quick preset shapes (a 3 × 256 agent): the end-to-end fit's step.
QUICK_FIT_ROWS = ["fit 512 3x256"]

PQN_BATCH = 256
IN_DIM = 3  # MountainCar: position, velocity, goal position
N_ACTIONS = 3
MAX_GRAD_NORM = 10.0
LR = 1e-4
LN_EPS = 1e-5  # what plearn's LayerNorm adds (shared/tensor/fused.ts)

# The fit: MountainCar's uniform state box, the four position goals of radius 0.1
# (shared/envs/continuous-tasks.ts), the paper preset's 20 000-step cosine decay.
STATE_LOW = (-1.2, -0.07)
STATE_HIGH = (0.6, 0.07)
GOALS = (-1.2, -0.6, 0.0, 0.6)
GOAL_RADIUS = 0.1
GAMMA = 0.99
FIT_Q = (4, 1024)
WM_HIDDEN = (256, 256)
FIT_SCHEDULE_STEPS = 20_000


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--threads", type=int, default=2, help="CPU cores XLA may use (CPU only)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows, of: " + ", ".join(ROWS + QUICK_FIT_ROWS + ENV_ROWS))
    p.add_argument("--block-seconds", type=float, default=0.3, help="aim of one timed block")
    p.add_argument("--reps", type=int, default=3, help="timed blocks per row (the median is printed)")
    p.add_argument("--serve", action="store_true", help="answer JSON commands on stdin")
    return p.parse_args(argv)


def configure(device, threads):
    """Environment that must be in place before jax is imported."""
    os.environ["JAX_PLATFORMS"] = "cpu" if device == "cpu" else "cuda"
    # plearn's WebGPU side shares the GPU in the same run: JAX must not take
    # 75 % of its memory up front, as it does by default.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if device == "cpu" and hasattr(os, "sched_setaffinity"):
        # XLA sizes its CPU thread pool from the cores this process may run on.
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, allowed[: max(1, threads)])


def load_jax(device):
    """(jax, jnp, optax, device) or a one-line reason why not."""
    try:
        import jax
        import jax.numpy as jnp
    except Exception as e:  # ImportError, or a broken jaxlib raising anything
        return "JAX is not importable here (%s: %s); install it with: bash tests/support/python-env.sh jax==0.9.2 optax==0.2.8" % (
            type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    try:
        import optax
    except Exception as e:
        return "optax is not importable here (%s); install it with: bash tests/support/python-env.sh optax==0.2.8" % type(e).__name__
    try:
        devs = jax.devices("cpu" if device == "cpu" else "gpu")
    except Exception as e:
        return "JAX %s has no %s backend here (%s)" % (jax.__version__, device.upper(), str(e).splitlines()[0] if str(e) else type(e).__name__)
    if not devs:
        return "JAX %s found no %s device" % (jax.__version__, device)
    return jax, jnp, optax, devs[0]


class Bench:
    """The rows' jitted steps, built on first use and kept for later blocks."""

    def __init__(self, jax, jnp, optax, device):
        import numpy as np

        self.jax, self.jnp, self.optax, self.device, self.np = jax, jnp, optax, device, np
        self.rows = {}

    # ---- networks -----------------------------------------------------------

    def dense(self, rng, n_in, n_out, gain):
        # plearn's inits: orthogonal kernels (gain √2 hidden), zero biases. Drawn
        # with numpy on the host: XLA's CPU QR takes seconds to compile.
        a = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
        q, r = self.np.linalg.qr(a)
        q = q * self.np.sign(self.np.diag(r))
        w = (q if n_in >= n_out else q.T) * gain
        return {"w": self.put(w), "b": self.put(self.np.zeros(n_out))}

    def put(self, a):
        return self.jax.device_put(self.np.asarray(a, self.np.float32), self.device)

    def q_init(self, rng, depth, width):
        hidden = []
        n_in = IN_DIM
        for _ in range(depth):
            layer = self.dense(rng, n_in, width, math.sqrt(2))
            layer["scale"] = self.put(self.np.ones(width))
            layer["shift"] = self.put(self.np.zeros(width))
            hidden.append(layer)
            n_in = width
        return {"hidden": hidden, "head": self.dense(rng, n_in, N_ACTIONS, 1.0)}

    def q_apply(self, p, x):
        jnp, jax = self.jnp, self.jax
        h = x
        for l in p["hidden"]:
            z = h @ l["w"] + l["b"]
            mu = jnp.mean(z, axis=-1, keepdims=True)
            var = jnp.mean(jnp.square(z - mu), axis=-1, keepdims=True)
            h = jax.nn.relu((z - mu) * jax.lax.rsqrt(var + LN_EPS) * l["scale"] + l["shift"])
        return jax.nn.sigmoid(h @ p["head"]["w"] + p["head"]["b"])

    def wm_init(self, rng):
        widths = [len(STATE_LOW) + N_ACTIONS, *WM_HIDDEN, len(STATE_LOW)]
        # The last layer starts near 0 (gain 0.01): the model starts near "nothing moves".
        return [self.dense(rng, widths[i], widths[i + 1], 0.01 if i + 2 == len(widths) else math.sqrt(2))
                for i in range(len(widths) - 1)]

    def wm_apply(self, p, s, a_onehot):
        h = self.jnp.concatenate([s, a_onehot], axis=1)
        for i, l in enumerate(p):
            h = h @ l["w"] + l["b"]
            if i + 1 < len(p):
                h = self.jnp.tanh(h)
        return s + h

    # ---- steps ---------------------------------------------------------------

    def build(self, row):
        known = ROWS + QUICK_FIT_ROWS + ENV_ROWS
        if row not in known:
            raise ValueError("unknown row %r; rows: %s" % (row, ", ".join(known)))
        kind, arg = row.split(" ", 1)
        if kind in ("env", "vi"):
            import jax_envs

            return (jax_envs.build_env if kind == "env" else jax_envs.build_vi)(self, arg)
        # Every array is put on self.device explicitly; the jitted steps run where their inputs are.
        if kind == "pqn":
            return self.build_pqn(*map(int, arg.split("x")))
        batch, _, agent = arg.partition(" ")
        return self.build_fit(int(batch), tuple(map(int, agent.split("x"))) if agent else FIT_Q)

    def build_pqn(self, depth, width):
        jax, jnp, optax = self.jax, self.jnp, self.optax
        rng = self.np.random.default_rng(1)
        params = self.q_init(rng, depth, width)
        tx = optax.chain(optax.clip_by_global_norm(MAX_GRAD_NORM), optax.radam(LR))
        x = self.put(rng.standard_normal((PQN_BATCH, IN_DIM)))
        a = jax.device_put(rng.integers(0, N_ACTIONS, PQN_BATCH).astype(self.np.int32), self.device)
        y = self.put(rng.random(PQN_BATCH))

        def loss_fn(p):
            q = jnp.take_along_axis(self.q_apply(p, x), a[:, None], axis=1)[:, 0]
            return 0.5 * jnp.mean(jnp.square(q - y))

        def step(p, opt_state):
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, opt_state = tx.update(grads, opt_state, p)
            return optax.apply_updates(p, updates), opt_state, loss

        # Committed to the device like the step's outputs, or the second call compiles again.
        state = {"carry": (params, jax.device_put(tx.init(params), self.device))}
        jitted = jax.jit(step, donate_argnums=(0, 1))

        def run(k):
            p, s = state["carry"]
            loss = None
            for _ in range(k):
                p, s, loss = jitted(p, s)
            state["carry"] = (p, s)
            return loss

        return run

    def build_fit(self, batch, agent):
        jax, jnp, optax = self.jax, self.jnp, self.optax
        rng = self.np.random.default_rng(2)
        q_params = self.q_init(rng, *agent)
        wm = self.wm_init(rng)
        k_run = jax.device_put(jax.random.key(2), self.device)
        tx = optax.adam(optax.cosine_decay_schedule(LR, FIT_SCHEDULE_STEPS))
        low, high, goals = self.put(STATE_LOW), self.put(STATE_HIGH), self.put(GOALS)

        def loss_fn(wp, qp, s, a, g):
            goal = goals[g][:, None]
            target = jnp.take_along_axis(self.q_apply(qp, jnp.concatenate([s, goal], 1)), a[:, None], axis=1)[:, 0]
            nxt = self.wm_apply(wp, s, jax.nn.one_hot(a, N_ACTIONS, dtype=jnp.float32))
            v = jnp.max(self.q_apply(qp, jnp.concatenate([nxt, goal], 1)), axis=1)
            # Sparse goal on the position: reward 1 and termination inside the radius (no gradient).
            inside = jax.lax.stop_gradient((jnp.square(nxt[:, 0] - goal[:, 0]) < GOAL_RADIUS ** 2).astype(jnp.float32))
            return jnp.mean(jnp.abs(target - (inside + GAMMA * (1.0 - inside) * v)))

        def step(wp, opt_state, qp, key):
            key, k_s, k_a, k_g = jax.random.split(key, 4)
            s = jax.random.uniform(k_s, (batch, 2), jnp.float32, low, high)
            a = jax.random.randint(k_a, (batch,), 0, N_ACTIONS)
            g = jax.random.randint(k_g, (batch,), 0, len(GOALS))
            loss, grads = jax.value_and_grad(loss_fn)(wp, qp, s, a, g)
            updates, opt_state = tx.update(grads, opt_state, wp)
            return optax.apply_updates(wp, updates), opt_state, key, loss

        state = {"carry": (wm, jax.device_put(tx.init(wm), self.device), k_run)}
        # The frozen Q-network is an argument, not a closure constant: XLA would
        # otherwise fold 3M weights into the executable.
        jitted = jax.jit(step, donate_argnums=(0, 1))

        def run(k):
            wp, s, key = state["carry"]
            loss = None
            for _ in range(k):
                wp, s, key, loss = jitted(wp, s, q_params, key)
            state["carry"] = (wp, s, key)
            return loss

        return run

    # ---- timing ----------------------------------------------------------------

    def prepare(self, row):
        """Build and compile a row, then time one step; idempotent."""
        t0 = time.perf_counter()
        if row not in self.rows:
            self.rows[row] = self.build(row)
            self.rows[row](1).block_until_ready()
        compile_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        self.rows[row](1).block_until_ready()
        return {"compileSeconds": compile_s, "stepSeconds": time.perf_counter() - t1}

    def time(self, row, steps):
        if row not in self.rows:
            self.prepare(row)
        t0 = time.perf_counter()
        loss = self.rows[row](steps)
        # One wait at the end: JAX dispatches asynchronously, as the reference runs.
        float(loss)
        return {"seconds": time.perf_counter() - t0, "steps": steps}


def info(jax, optax, device, threads):
    dev_kind = getattr(device, "device_kind", "") or str(device)
    return {
        "jax": jax.__version__,
        "optax": optax.__version__,
        "platform": device.platform,
        "device": dev_kind,
        "threads": len(os.sched_getaffinity(0)) if device.platform == "cpu" and hasattr(os, "sched_getaffinity") else None,
        "python": sys.executable,
    }


def serve(bench, about):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "quit":
                break
            if name == "info":
                out = about
            elif name == "prepare":
                out = bench.prepare(cmd["row"])
            elif name == "time":
                out = bench.time(cmd["row"], int(cmd["steps"]))
            else:
                out = {"error": "unknown command %r" % name}
        except Exception as e:  # an out-of-memory on one row must not end the others
            out = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}
        emit(out)


def standalone(bench, about, args):
    emit(about)
    for row in [r.strip() for r in args.rows.split(",") if r.strip()]:
        try:
            prep = bench.prepare(row)
            k = max(1, min(1000, round(args.block_seconds / max(prep["stepSeconds"], 1e-6))))
            per_step = [bench.time(row, k)["seconds"] / k for _ in range(max(1, args.reps))]
            med = statistics.median(per_step)
            emit({"row": row, "secondsPerStep": med, "stepsPerSec": 1 / med, "stepsPerBlock": k, "reps": len(per_step),
                  "compileSeconds": prep["compileSeconds"], "platform": about["platform"]})
        except Exception as e:
            emit({"row": row, "error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")})


def main(argv):
    args = parse_args(argv)
    configure(args.device, args.threads)
    loaded = load_jax(args.device)
    if isinstance(loaded, str):
        emit({"skipped": loaded})
        return 0
    jax, jnp, optax, device = loaded
    bench = Bench(jax, jnp, optax, device)
    about = info(jax, optax, device, args.threads)
    if args.serve:
        serve(bench, about)
    else:
        standalone(bench, about, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
