"""Train ICNN and MLP surrogates with JAX + optax on CPU (spec §6 "Training").

MSE on standardised outputs, Adam with plateau decay of the learning rate, mini-batches,
early stop on the validation NMAE. Non-negative ``Wz`` by projection after every step
(``nonneg="clamp"``, the spec's default) or by a softplus reparametrisation
(``nonneg="softplus"``). Training runs in float32; the exported :class:`Net` is float64
with the scalers folded in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from federates.doe.nets import Net


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 300
    batch: int = 512
    lr: float = 1e-3
    patience: int = 30
    plateau: int = 10
    """Epochs without validation improvement before the learning rate is halved."""
    nonneg: Literal["clamp", "softplus"] = "clamp"


def _init(key, n_in: int, widths: list[int], n_out: int, convex: bool, nonneg: str):
    sizes = [*widths, n_out]
    keys = jax.random.split(key, 2 * len(sizes))
    wx, wz, b = [], [], []
    for i, h in enumerate(sizes):
        if i == 0 or convex:
            wx.append(jax.random.normal(keys[2 * i], (h, n_in)) / np.sqrt(n_in))
        else:
            wx.append(jnp.zeros((h, n_in)))
        b.append(jnp.zeros(h))
        if i > 0:
            fan = sizes[i - 1]
            if convex:
                w = jax.random.uniform(keys[2 * i + 1], (h, fan), maxval=1.0 / fan)
                if nonneg == "softplus":
                    w = jnp.log(jnp.expm1(jnp.maximum(w, 1e-6)))  # inverse softplus
            else:
                w = jax.random.normal(keys[2 * i + 1], (h, fan)) * np.sqrt(2.0 / fan)
            wz.append(w)
    return {"wx": wx, "wz": wz, "b": b}


def _effective_wz(params, convex: bool, nonneg: str):
    if convex and nonneg == "softplus":
        return [jax.nn.softplus(w) for w in params["wz"]]
    return params["wz"]


def _forward(params, x, convex: bool, nonneg: str):
    wz = _effective_wz(params, convex, nonneg)
    z = jax.nn.relu(x @ params["wx"][0].T + params["b"][0])
    for i in range(1, len(params["b"])):
        a = z @ wz[i - 1].T + params["b"][i]
        if convex:
            a = a + x @ params["wx"][i].T
        z = a if i == len(params["b"]) - 1 else jax.nn.relu(a)
    return z


def train(x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
          widths: list[int], convex: bool, base: float, seed: int,
          cfg: TrainConfig = TrainConfig()) -> tuple[Net, dict]:
    """Fit one network; returns the float64 :class:`Net` (physical units) and a history."""
    t0 = time.perf_counter()
    mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
    sd_x = np.where(sd_x > 1e-12, sd_x, 1.0)
    mu_y, sd_y = y_tr.mean(0), y_tr.std(0)
    sd_y = np.where(sd_y > 1e-9, sd_y, 1.0)
    xs = jnp.asarray((x_tr - mu_x) / sd_x, jnp.float32)
    ys = jnp.asarray((y_tr - mu_y) / sd_y, jnp.float32)
    xv = jnp.asarray((x_va - mu_x) / sd_x, jnp.float32)
    params = _init(jax.random.PRNGKey(seed), x_tr.shape[1], widths, y_tr.shape[1], convex,
                   cfg.nonneg)
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=cfg.lr)
    state = opt.init(params)
    clamp = convex and cfg.nonneg == "clamp"

    def loss_fn(p, xb, yb):
        return jnp.mean((_forward(p, xb, convex, cfg.nonneg) - yb) ** 2)

    @jax.jit
    def epoch(p, s, perm):
        def step(carry, idx):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p, xs[idx], ys[idx])
            upd, s = opt.update(g, s, p)
            p = optax.apply_updates(p, upd)
            if clamp:
                p = {**p, "wz": [jnp.maximum(w, 0.0) for w in p["wz"]]}
            return (p, s), loss
        (p, s), losses = jax.lax.scan(step, (p, s), perm)
        return p, s, losses.mean()

    predict = jax.jit(lambda p, x: _forward(p, x, convex, cfg.nonneg))
    n = len(xs)
    bs = min(cfg.batch, n)
    nb = n // bs
    rng = np.random.default_rng(seed)
    best, best_p, since, since_lr, hist = np.inf, params, 0, 0, []
    for ep in range(cfg.epochs):
        perm = jnp.asarray(rng.permutation(n)[: nb * bs].reshape(nb, bs))
        params, state, tr_loss = epoch(params, state, perm)
        pred = np.asarray(predict(params, xv), float) * sd_y + mu_y
        nmae = float(np.mean(np.abs(pred - y_va)) / base)
        hist.append((ep, float(tr_loss), nmae))
        if nmae < best:
            best, best_p, since, since_lr = nmae, params, 0, 0
        else:
            since += 1
            since_lr += 1
            if since >= cfg.patience:
                break
            if since_lr >= cfg.plateau:
                state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * 0.5
                since_lr = 0
    wz = _effective_wz(best_p, convex, cfg.nonneg)
    to64 = [np.asarray(w, np.float64) for w in best_p["wx"]]
    net = Net(to64 if convex else [to64[0]] + [np.zeros_like(w) for w in to64[1:]],
              [np.asarray(w, np.float64) for w in wz],
              [np.asarray(b, np.float64) for b in best_p["b"]], convex)
    folded = net.fold_scalers(mu_x, sd_x, mu_y, sd_y)
    return folded, {"epochs": len(hist), "val_nmae": best, "seconds": time.perf_counter() - t0,
                    "history": hist, "raw": net, "scalers": (mu_x, sd_x, mu_y, sd_y)}


def nmae(net: Net, x: np.ndarray, y: np.ndarray, base: float) -> float:
    """Normalised mean absolute error (27) of ``net`` on (x, y)."""
    return float(np.mean(np.abs(net.forward(x) - y)) / base)
