#!/usr/bin/env python3
"""PyTorch side of `npm run bench -- tensor`.

Runs the same steps as bench/tensor.ts (an MLP training step: forward, backward,
Adam; and one P-learning fit step through a frozen Q-network) so that the two can
be timed interleaved in one run. A long-lived process: it reads one JSON command
per line on stdin and answers one JSON line on stdout, so models and the import
of torch are paid once and the TS side decides the interleaving.

Commands:
  {"cmd": "info"}                                   -> torch version, BLAS, threads
  {"cmd": "time", "shape": "2x256", "batch": 256, "steps": 20, "warmup": 3}
  {"cmd": "time", "shape": "fit", "batch": 4096, "steps": 2, "warmup": 1}
  {"cmd": "quit"}
"""

import json
import os
import sys
import time

import torch
import torch.nn as nn

THREADS = int(os.environ.get("PLEARN_BENCH_THREADS", "2"))
torch.set_num_threads(THREADS)

IN_WIDTH = 6
OUT_WIDTH = 9
# The fit's world model: Reacher-like state (4) plus 9 one-hot actions in,
# state delta out; the Q-network then reads [next state, goal (2)] = 6 wide.
STATE_DIM = 4
GOAL_DIM = 2
N_ACTIONS = 9


def q_network(depth, width):
    layers = []
    w_in = IN_WIDTH
    for _ in range(depth):
        layers += [nn.Linear(w_in, width), nn.LayerNorm(width), nn.ReLU()]
        w_in = width
    layers += [nn.Linear(w_in, OUT_WIDTH), nn.Sigmoid()]
    return nn.Sequential(*layers)


def world_model(depth, width):
    layers = []
    w_in = STATE_DIM + N_ACTIONS
    for _ in range(depth):
        layers += [nn.Linear(w_in, width), nn.Tanh()]
        w_in = width
    layers += [nn.Linear(w_in, STATE_DIM)]
    return nn.Sequential(*layers)


def parse_shape(shape):
    depth, width = shape.split("x")
    return int(depth), int(width)


class TrainStep:
    """Regression of the sigmoid head on fixed targets: PQN's op mix."""

    def __init__(self, shape, batch):
        depth, width = parse_shape(shape)
        g = torch.Generator().manual_seed(1)
        self.net = q_network(depth, width)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-4)
        self.x = torch.randn(batch, IN_WIDTH, generator=g)
        self.y = torch.rand(batch, OUT_WIDTH, generator=g)

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        loss = torch.mean((self.net(self.x) - self.y) ** 2)
        loss.backward()
        self.opt.step()
        return loss


class FitStep:
    """Bellman residual of a frozen Q-network under a trainable world model."""

    def __init__(self, batch):
        g = torch.Generator().manual_seed(2)
        self.q = q_network(4, 1024)
        for p in self.q.parameters():
            p.requires_grad_(False)
        self.model = world_model(2, 256)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.s = torch.randn(batch, STATE_DIM, generator=g)
        self.goal = torch.randn(batch, GOAL_DIM, generator=g)
        self.a = torch.randint(0, N_ACTIONS, (batch,), generator=g)
        self.a_onehot = nn.functional.one_hot(self.a, N_ACTIONS).float()
        self.r = torch.rand(batch, generator=g)
        self.notdone = (torch.rand(batch, generator=g) > 0.1).float()
        self.gamma = 0.99

    def __call__(self):
        with torch.no_grad():
            q_sa = self.q(torch.cat([self.s, self.goal], 1))
            target = q_sa.gather(1, self.a[:, None])[:, 0]
        self.opt.zero_grad(set_to_none=True)
        nxt = self.s + self.model(torch.cat([self.s, self.a_onehot], 1))
        v = self.q(torch.cat([nxt, self.goal], 1)).max(1).values
        loss = torch.mean(torch.abs(target - (self.r + self.gamma * self.notdone * v)))
        loss.backward()
        self.opt.step()
        return loss


_steps = {}


def get_step(shape, batch):
    key = (shape, batch)
    if key not in _steps:
        _steps[key] = FitStep(batch) if shape == "fit" else TrainStep(shape, batch)
    return _steps[key]


def blas_info():
    cfg = torch.__config__.show()
    for line in cfg.splitlines():
        if "BLAS_INFO=" in line:
            for part in line.split(","):
                if "BLAS_INFO=" in part:
                    blas = part.split("=", 1)[1].strip()
                    break
            break
    else:
        blas = "unknown"
    # Debian's build says BLAS_INFO=generic: it links libblas.so.3, which the
    # alternatives system points at OpenBLAS (pthread) when that is installed.
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                name = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(name)
                if ("blas" in base or "mkl" in base) and name not in libs:
                    libs.append(name)
    except OSError:
        pass
    return blas, [os.path.realpath(p) for p in libs]


def origin():
    path = torch.__file__
    if path.startswith("/usr/lib/python3/dist-packages"):
        return "Debian python3-torch"
    return "PyPI wheel"


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        if cmd["cmd"] == "info":
            blas, libs = blas_info()
            out = {
                "torch": torch.__version__,
                "origin": origin(),
                "path": os.path.dirname(torch.__file__),
                "python": sys.executable,
                "threads": torch.get_num_threads(),
                "blas": blas,
                "blasLibs": libs,
            }
        elif cmd["cmd"] == "time":
            step = get_step(cmd["shape"], cmd["batch"])
            for _ in range(cmd.get("warmup", 1)):
                step()
            t0 = time.perf_counter()
            for _ in range(cmd["steps"]):
                loss = step()
            float(loss)
            out = {"seconds": time.perf_counter() - t0, "steps": cmd["steps"]}
        else:
            out = {"error": "unknown command " + cmd["cmd"]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
