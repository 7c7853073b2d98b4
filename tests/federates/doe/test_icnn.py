"""ICNN surrogates trained from scratch: non-negativity, convexity, exact folding, accuracy."""

import numpy as np

from federates.doe import surrogates as S
from federates.doe.case import IEEE13
from federates.doe.train import TrainConfig, nmae, train


def test_hidden_weights_are_non_negative(trained):
    for net in trained.icnn.nets.values():
        assert net.min_wz() >= 0.0
        assert net.convex


def test_softplus_reparametrisation_also_gives_non_negative_weights(trained):
    tr, va, _ = trained.data.split(1)
    cfg = TrainConfig(epochs=5, batch=256, nonneg="softplus")
    net, _ = train(tr.x, tr.y["P"], va.x, va.y["P"], [8, 4], True, 5000.0, 0, cfg)
    assert net.min_wz() >= 0.0


def test_every_output_is_convex_on_random_pairs(trained):
    rng = np.random.default_rng(0)
    x = trained.data.x
    i, j = rng.integers(0, len(x), size=(2, 10_000))
    lam = rng.uniform(size=(10_000, 1))
    x1, x2 = x[i], x[j]
    for net in trained.icnn.nets.values():
        mid = net.forward(lam * x1 + (1 - lam) * x2)
        chord = lam * net.forward(x1) + (1 - lam) * net.forward(x2)
        assert np.all(mid <= chord + 1e-9 * np.maximum(1.0, np.abs(chord)))


def test_folded_scalers_reproduce_the_trained_network_in_float64(trained):
    x = trained.data.x[:1000]
    for m, net in trained.icnn.nets.items():
        raw, (mu_x, sd_x, mu_y, sd_y) = trained.raw[m]["raw"], trained.raw[m]["scalers"]
        own = raw.forward((x - mu_x) / sd_x) * sd_y + mu_y
        assert np.allclose(net.forward(x), own, rtol=1e-10, atol=1e-8)


def test_test_nmae_is_within_three_times_the_seeds_table_ii(trained):
    te = S.targets(trained.test.y)
    bases = S.nmae_bases(IEEE13.limits, IEEE13.s_base_kva)
    goal = {"L": 1e-3, "V": 1e-3, "I": 5e-3, "P": 1e-3}
    for m, net in trained.icnn.nets.items():
        assert nmae(net, trained.test.x, te[m], bases[m]) <= goal[m], m


def test_artefact_round_trip_keeps_weights_and_hash(trained):
    loaded = S.SurrogateSet.load(trained.path)
    meta = loaded.meta
    assert meta["weights_sha256"] == S.file_hash(trained.path.with_suffix(".npz"))
    assert meta["data_sha256"] == trained.data.digest()
    x = trained.data.x[:50]
    for m in S.KEYS:
        assert np.array_equal(loaded.nets[m].forward(x), trained.icnn.nets[m].forward(x))
