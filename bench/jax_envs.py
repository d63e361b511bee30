"""The environment rows of bench/jax_bench.py: batched steps and grid value iteration.

Written for this bench from the dynamics plearn implements (shared/envs/
mountaincar.ts and reacher.ts, themselves gymnax's), not from the reference
code. JAX computes in float32 (its default), plearn in float64; a step's
cost does not depend on the values.

- ``env mountaincar`` / ``env reacher``: one step of 4096 environments with
  fixed actions. Steps run inside one jitted loop, as the reference runs them
  inside its jitted training scan, so no Python dispatch is timed.
- ``vi mountaincar`` / ``vi reacher``: one sweep of value iteration over
  plearn's evaluation grids (200 points per axis for MountainCar, 15 for
  Reacher's four dimensions), successors precomputed once as plearn stores
  them (the lower corner's index and the fraction per dimension); a sweep is
  V ← max_a [r_a + γ(1 − d_a)·V(ŝ_a)], V read by N-linear interpolation over
  the 2^D corners, one sparse goal.
"""

import math

ENV_BATCH = 4096
GAMMA = 0.99

MC = {
    "low": (-1.2, -0.07), "high": (0.6, 0.07), "force": 0.001, "gravity": 0.0025, "max_speed": 0.07,
    "goal": -1.2, "radius": 0.1, "points": 200, "actions": 3,
}
REACHER = {"dt": 0.05, "omega": 2.0, "goal": (1.0, 0.0), "radius": 0.2, "points": 15, "actions": 9}


def mc_step(jnp, s, a):
    x, v = s[..., 0], s[..., 1]
    v = jnp.clip(v + (a - 1) * MC["force"] - jnp.cos(3 * x) * MC["gravity"], -MC["max_speed"], MC["max_speed"])
    x = jnp.clip(x + v, MC["low"][0], MC["high"][0])
    # The left wall stops the car.
    v = jnp.where((x == MC["low"][0]) & (v < 0), 0.0, v)
    return jnp.stack([x, v], axis=-1)


def reacher_torques(jnp):
    levels = (-1.0, 0.0, 1.0)
    return jnp.asarray([[levels[a // 3], levels[a % 3]] for a in range(REACHER["actions"])], jnp.float32)


def reacher_step(jnp, s, a):
    tau = reacher_torques(jnp)[a]
    w = s[..., 2:4] + REACHER["dt"] * tau
    t = s[..., 0:2] + REACHER["dt"] * w
    return jnp.concatenate([t, w], axis=-1)


def wrap(jnp, t):
    return (t + math.pi) % (2 * math.pi) - math.pi


def build_env(bench, name):
    jax, jnp, np = bench.jax, bench.jnp, bench.np
    rng = np.random.default_rng(3)
    if name == "mountaincar":
        step, n_actions = mc_step, MC["actions"]
        s0 = np.stack([rng.uniform(-0.6, -0.4, ENV_BATCH), np.zeros(ENV_BATCH)], axis=1)
    else:
        step, n_actions = reacher_step, REACHER["actions"]
        s0 = np.concatenate([rng.uniform(-math.pi, math.pi, (ENV_BATCH, 2)), rng.uniform(-1, 1, (ENV_BATCH, 2))], axis=1)
    a = jax.device_put(rng.integers(0, n_actions, ENV_BATCH).astype(np.int32), bench.device)

    def many(s, n):
        return jax.lax.fori_loop(0, n, lambda _, x: step(jnp, x, a), s)

    jitted = jax.jit(many)
    state = {"s": bench.put(s0)}

    def run(k):
        state["s"] = jitted(state["s"], k)
        return state["s"][0, 0]

    return run


def grid_axes(np, name):
    if name == "mountaincar":
        n = MC["points"]
        return [np.linspace(lo, hi, n) for lo, hi in zip(MC["low"], MC["high"])], [False, False]
    n = REACHER["points"]
    # Periodic θ: n points over [−π, π), the last cell wrapping to the first.
    theta = -math.pi + 2 * math.pi * np.arange(n) / n
    omega = np.linspace(-REACHER["omega"], REACHER["omega"], n)
    return [theta, theta, omega, omega], [True, True, False, False]


def cells(np, axes, periodic, nxt):
    """Successors as plearn stores them: the flat index of the lower corner and the fraction per dim."""
    sizes = [len(g) for g in axes]
    base = np.zeros(nxt.shape[:-1], np.int64)
    frac = []
    for d, (g, n) in enumerate(zip(axes, sizes)):
        if periodic[d]:
            f = np.mod((nxt[..., d] - g[0]) / (2 * math.pi) * n, n)
        else:
            f = np.clip((nxt[..., d] - g[0]) / (g[-1] - g[0]) * (n - 1), 0, n - 1)
        # The upper corner must exist: the last node's successors interpolate from the cell below.
        i0 = np.minimum(np.floor(f), n - 2)
        base = base * n + i0.astype(np.int64)
        frac.append(f - i0)
    offsets = [0]
    for d in range(len(axes)):
        stride = int(np.prod(sizes[d + 1:]))
        offsets = offsets + [o + stride for o in offsets]
    return base, np.stack(frac, -1), offsets


def build_vi(bench, name):
    jax, jnp, np = bench.jax, bench.jnp, bench.np
    axes, periodic = grid_axes(np, name)
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
    n_actions = MC["actions"] if name == "mountaincar" else REACHER["actions"]
    # Successors on the host in float64 (built once, like plearn's transitions).
    step = mc_step if name == "mountaincar" else reacher_step
    nxt = np.stack([np.asarray(step(np, mesh, np.full(len(mesh), a))) for a in range(n_actions)])
    if name == "mountaincar":
        hit = np.abs(nxt[..., 0] - MC["goal"]) < MC["radius"]
    else:
        nxt[..., 0:2] = np.asarray(wrap(np, nxt[..., 0:2]))
        tip = np.stack([np.cos(nxt[..., 0]) + np.cos(nxt[..., 1]), np.sin(nxt[..., 0]) + np.sin(nxt[..., 1])], -1)
        hit = np.hypot(tip[..., 0] - REACHER["goal"][0], tip[..., 1] - REACHER["goal"][1]) < REACHER["radius"]
    base, frac, offsets = cells(np, axes, periodic, nxt)
    dims = len(axes)
    reward = hit.astype(np.float32)
    dev = bench.device
    base_d = jax.device_put(base.astype(np.int32), dev)
    frac_d = bench.put(frac)
    r_d = bench.put(reward)
    c_d = bench.put(GAMMA * (1 - reward))

    def value_at(v, base, frac):
        # N-linear interpolation, lerping one dim at a time over the 2^dims corners (plearn's order).
        vals = [v[base + o] for o in offsets]
        for d in reversed(range(dims)):
            t = frac[..., dims - 1 - d]
            half = len(vals) // 2
            vals = [(1 - t) * vals[k] + t * vals[k + half] for k in range(half)]
        return vals[0]

    # Arguments, not closure constants: XLA would fold Reacher's 33 MB of tables into the executable.
    def sweeps(v, n, base, frac, r, c):
        return jax.lax.fori_loop(0, n, lambda _, x: jnp.max(r + c * value_at(x, base, frac), axis=0), v)

    jitted = jax.jit(sweeps)
    state = {"v": bench.put(np.zeros(len(mesh)))}

    def run(k):
        state["v"] = jitted(state["v"], k, base_d, frac_d, r_d, c_d)
        return state["v"][0]

    return run
