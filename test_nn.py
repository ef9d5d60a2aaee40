"""Tests for nn_from_scratch.py; each name is a sentence about behaviour.

    python -m pytest -q                                  everything, in under a minute
    python -m pytest -q -k core                          the core math only (cells 1-5)
    NN_MODULE=my_copy.py python -m pytest -q -k core     the same tests on a copy of the file

Data is tiny, synthetic and seeded where it can be, real digits where only they will do (the
shipped train.csv, or its first 300 rows). The command line runs in this process (nn.main),
except where only the real script shows it: the exit status, stderr, signals.
"""
import concurrent.futures
import gzip
import importlib.util
import inspect
import math
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")     # as the script does: small products, busy machines
os.environ["MPLBACKEND"] = "Agg"             # pictures go to files; no window ever opens
import numpy as np                           # noqa: E402 (the settings above come first)
import pytest                                # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# The module under test: nn_from_scratch.py beside this file, or the file NN_MODULE names.
SCRIPT = os.path.abspath(os.environ.get("NN_MODULE") or os.path.join(HERE, "nn_from_scratch.py"))
_spec = importlib.util.spec_from_file_location("nn_from_scratch", SCRIPT)
nn = importlib.util.module_from_spec(_spec)
sys.modules["nn_from_scratch"] = nn          # `import nn_from_scratch` (the README) finds it
_spec.loader.exec_module(nn)

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
GOOD_ROW = "3," + ",".join(["0"] * 784)


def small_float64_net(rng, sizes=(5, 4, 3, 3)):
    """A tiny float64 network (two hidden layers) and 6 random examples, for gradient checks."""
    params = nn.initialize_parameters(list(sizes), rng, dtype=np.float64)
    return params, rng.normal(size=(6, sizes[0])), np.array([0, 2, 1, 2, 0, 1])


def loss_of(X, y):
    """J(params): the network's mean cross-entropy on X, y."""
    return lambda params: nn.cross_entropy(nn.forward_propagation(X, params)[0], y)


def copy_of(params):
    return {key: W.copy() for key, W in params.items()}


def import_copy(path, name):
    """The file at path imported under a new module name, beside the module under test."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def central_differences(f, W, eps=1e-6):
    """dF/dW entry by entry, (f(W + eps) - f(W - eps)) / 2 eps; f() reads W, changed in place."""
    numeric = np.zeros_like(W)
    for i in np.ndindex(W.shape):
        saved = W[i]
        W[i] = saved + eps
        up = f()
        W[i] = saved - eps
        numeric[i] = (up - f()) / (2 * eps)
        W[i] = saved
    return numeric


def gradient_mistake(key, got, right, N):
    """The classic mistake whose signature the gradient d{key} = got shows, right being the true
    gradient of a mean over N rows; None if got is right or no classic mistake fits."""
    got = np.asarray(got)
    if key.startswith("b") and got.shape != right.shape:
        how = {(): ", not over every axis", (N,): ", not along each row (axis=1)",
               (1,) + right.shape: ", without keepdims"}.get(got.shape, "")
        return (f"d{key} has shape {got.shape}, {key} has {right.shape}: sum dZ over the rows "
                f"(axis=0), one number per unit{how}")
    transposed = (f"d{key} is the transpose of the right gradient: dW = A_prev.T @ dZ, "
                  "shaped like W")
    if got.shape == right.shape[::-1] != right.shape:
        return transposed
    if got.shape != right.shape:
        return f"d{key} has shape {got.shape}, {key} has {right.shape}: dW = A_prev.T @ dZ"
    if np.allclose(got, right, rtol=1e-5, atol=1e-9):
        return None
    if got.T.shape == got.shape and np.allclose(got.T, right, rtol=1e-5, atol=1e-9):
        return transposed
    summed = nn.cross_entropy(np.full((2, 2), 0.5), np.array([0, 1])) > 1   # log 2 if a mean
    for factor, words in [
            (N, f"is N = {N} times too large: the loss is a mean over the batch, so dZ_L = "
                "(P - Y) / N"),
            (1 / N, "is N times too small: cross_entropy is a sum, not a mean" if summed else
             f"is N = {N} times too small: divide by N once, in dZ_L = (P - Y) / N, not again"),
            (-1, "has the wrong sign: dZ_L = (P - Y) / N, for J = -(1/N) sum_i log P[i, y_i]")]:
        if np.allclose(got, factor * right, rtol=1e-5, atol=1e-9):
            return f"d{key}: the gradient {words}"
    return None


def assert_each_gradient_right(params, grads, J, N, mistakes):
    """grads against central differences of J(), from the output back, as errors flow; a wrong
    one named by its signature. mistakes: {words: the grads that mistake would give}."""
    for key in reversed(list(params)):
        right = central_differences(J, params[key])
        mistake = gradient_mistake(key, grads[key], right, N)
        assert mistake is None, mistake
        assert np.any(right) or not np.any(grads[key]), (
            f"J does not change with {key}: forward_propagation leaves it out or cancels it "
            "(Z = A @ W + b, and softmax over each row)")
        if not np.allclose(grads[key], right, rtol=1e-5, atol=1e-9):
            for words, wrong in mistakes.items():
                assert not all(np.allclose(grads[k], wrong[k]) for k in params), f"d{key}: {words}"
            raise AssertionError(f"d{key} disagrees with central differences of the loss")


def run_main(argv, folder, monkeypatch, capsys):
    """nn.main(argv) in this process, in folder: (status, stdout, stderr). The SIGTERM and
    SIGHUP handlers that main installs are put back afterwards."""
    monkeypatch.chdir(folder)
    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    handlers = {number: signal.getsignal(number) for number in signals}
    try:
        status = nn.main(argv)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def shipped():
    """The shipped train.csv, read once: X (10000, 784) uint8, y (10000,)."""
    return nn.load_digits_csv(os.path.join(HERE, "train.csv"))


@pytest.fixture(scope="module")
def digits(shipped):
    """The shipped digits split 9:1 with seed 0, scaled to 0..1."""
    X_train, y_train, X_val, y_val = nn.split_train_val(*shipped, 0.1, np.random.default_rng(0))
    return nn.scale_pixels(X_train), y_train, nn.scale_pixels(X_val), y_val


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """The first 300 digits of train.csv: real digits, quick to train on."""
    path = tmp_path_factory.mktemp("data") / "small.csv"
    with open(os.path.join(HERE, "train.csv")) as source:
        path.write_text("".join(source.readline() for _ in range(301)))
    return str(path)


# --- core 1: the data ----------------------------------------------------------------------------
def test_core_loading_the_shipped_csv_gives_ten_thousand_uint8_digits_of_every_class(shipped):
    X, y = shipped
    assert X.shape == (10000, 784) and X.dtype == np.uint8, (
        f"X is {X.shape} {X.dtype}: one row per image, 784 gray levels 0..255 as uint8")
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))


def test_core_split_holds_out_the_rounded_fraction_and_shares_no_row_between_the_parts():
    X, y = np.arange(200).reshape(100, 2), np.arange(100) % 10      # row i: label (x // 2) % 10
    X_train, y_train, X_val, y_val = nn.split_train_val(X, y, 0.2, np.random.default_rng(0))
    assert len(X_val) == 20 and len(X_train) == 80
    rows = np.concatenate([X_train[:, 0], X_val[:, 0]])
    assert sorted(rows.tolist()) == list(range(0, 200, 2)), "a row was lost or used twice"
    assert np.array_equal(y_train, (X_train[:, 0] // 2) % 10) and np.array_equal(
        y_val, (X_val[:, 0] // 2) % 10), ("split_train_val separated images from their labels: "
                                          "index X and y with the same permutation")
    assert not np.array_equal(X_val[:, 0], np.arange(0, 40, 2)), "shuffle before splitting"
    for fraction, expected in [(0.15, 2), (0.14, 1), (0.26, 3)]:
        X_val = nn.split_train_val(X[:10], y[:10], fraction, np.random.default_rng(0))[2]
        assert len(X_val) == expected, f"{fraction} of 10 rows rounds to {expected}"


def test_core_scale_pixels_maps_0_to_0_and_255_to_exactly_1_in_float32_and_leaves_its_input_alone():
    changed = ("scale_pixels changed the caller's X (or failed on uint8): make a float copy "
               "first, X.astype(np.float32), then divide")
    for X in (np.array([[0, 128, 255], [1, 254, 7]], np.uint8),
              np.array([[0, 9, 255]], np.float32)):
        before = X.copy()
        try:
            scaled = nn.scale_pixels(X)
        except TypeError as err:                   # NumPy refuses uint8 /= 255 in place
            raise AssertionError(f"{changed} ({err})") from None
        assert np.array_equal(X, before) and X.dtype == before.dtype, changed
        assert scaled.dtype == np.float32, f"scaled pixels are {scaled.dtype}: train in float32"
        assert scaled[0, 0] == 0.0 and scaled[0, 2] == 1.0, "divide by 255, not 256"
        np.testing.assert_allclose(scaled, before / 255, rtol=1e-6)


def test_core_one_hot_keeps_all_classes_when_a_batch_lacks_some():
    Y = nn.one_hot(np.array([0, 3, 3]), 10)
    assert Y.shape == (3, 10), f"one_hot gave {Y.shape}: a batch with no 9 still needs 10 columns"
    assert Y[:, 9].sum() == 0 and Y[1, 3] == 1 and Y.sum() == 3


# --- core 2: the building blocks -----------------------------------------------------------------
def test_core_relu_is_zero_at_zero_and_for_negatives_and_passes_no_gradient_at_exactly_zero():
    Z = np.array([[-2.0, -1e-30, 0.0, 1e-30, 3.0]])
    assert nn.relu(Z).tolist() == [[0.0, 0.0, 0.0, 1e-30, 3.0]]
    dZ = nn.relu_backward(np.full_like(Z, 7.0), Z)
    assert not (np.allclose(dZ, 7 * np.maximum(Z, 0)) or np.allclose(dZ, 7 * Z)), (
        "relu_backward multiplies dA by relu(Z) (or Z): relu'(z) is a step, 1 for z > 0 and 0 "
        "otherwise: dZ = dA * (Z > 0)")
    assert dZ.tolist() == [[0.0, 0.0, 0.0, 7.0, 7.0]], (
        "relu'(z) is 1 for z > 0 and 0 otherwise, at 0 too: dZ = dA * (Z > 0), not Z >= 0")


def test_core_softmax_is_finite_and_sums_to_one_on_huge_logits():
    with np.errstate(all="ignore"):
        P = nn.softmax(np.array([[1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0]]))
    assert np.all(np.isfinite(P)), ("softmax gives nan for large scores: subtract each row's "
                                    "maximum before exp (it cancels in the ratio)")
    assert not np.allclose(P.sum(axis=0), 1.0), (
        "softmax normalised each column (axis=0), but each ROW is an example: take the max and "
        "the sum over axis=1, keepdims=True")
    np.testing.assert_allclose(P.sum(axis=1), 1.0, err_msg="each row of P must sum to 1")
    np.testing.assert_allclose(P[1], 1 / 3)


def test_core_cross_entropy_is_the_mean_of_minus_log_p_true_and_zero_for_certainty():
    P = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    J, mean = nn.cross_entropy(P[:2], np.array([0, 2])), -(np.log(0.5) + np.log(0.8)) / 2
    assert J != pytest.approx(2 * mean), (
        "cross_entropy is the sum over the batch, N = 2 times the mean: J = -(1/N) sum_i "
        "log P[i, y_i], so that the gradients do not grow with the batch")
    assert J != pytest.approx(-mean), "cross_entropy lost its minus sign: -log P is >= 0"
    assert J == pytest.approx(mean), "J = -(1/N) sum_i log P[i, y_i], P of the TRUE class"
    assert nn.cross_entropy(P[2:], np.array([1])) == 0.0
    assert np.isfinite(nn.cross_entropy(P[2:], np.array([0]))), "log(0) must stay finite"


def test_core_softmax_and_cross_entropy_gradient_is_p_minus_y_over_n_by_central_differences():
    rng = np.random.default_rng(12)
    Z, y = rng.normal(size=(4, 3)), np.array([1, 0, 2, 1])
    numeric = central_differences(lambda: nn.cross_entropy(nn.softmax(Z), y), Z)
    P = nn.softmax(Z)
    dZ = nn.cross_entropy_backward(P, y)
    mistake = gradient_mistake("Z_L", dZ, numeric, len(y))
    assert mistake is None, mistake
    np.testing.assert_allclose(dZ, numeric, atol=1e-8, err_msg="dJ/dZ_L is (P - Y) / N")
    np.testing.assert_allclose(dZ, (P - nn.one_hot(y, 3)) / 4)


# --- core 3 and 5: the model, and its gradient check ---------------------------------------------
@pytest.mark.parametrize("init, std", [("he", math.sqrt(2 / 400)),
                                       ("xavier", math.sqrt(2 / (400 + 100)))])
def test_core_initial_weights_have_the_std_of_their_rule_and_biases_are_zero(init, std):
    params = nn.initialize_parameters([400, 100, 50], np.random.default_rng(8), init=init)
    assert params["W1"].shape == (400, 100) and params["b1"].shape == (100,), (
        "W_l is (n_{l-1}, n_l) and b_l is (n_l,)")
    rules = {"sqrt(2 / n_{l-1}), He's": math.sqrt(2 / 400),
             "sqrt(1 / n_{l-1}), LeCun's: He's has a 2, as ReLU zeroes half of z":
             math.sqrt(1 / 400),
             "sqrt(2 / n_l): the fan-out; the rules count the inputs n_{l-1}": math.sqrt(2 / 100),
             "sqrt(2 / (n_{l-1} + n_l)), Xavier's": math.sqrt(2 / 500), "1: scale the normal": 1}
    measured = float(params["W1"].std())
    named = [rule for rule, value in rules.items() if measured == pytest.approx(value, rel=0.02)]
    assert measured == pytest.approx(std, rel=0.02), (
        f"{init}: W1's std is {measured:.4f}, not {std:.4f}" + "".join(f"; it is {r}"
                                                                       for r in named))
    assert abs(params["W1"].mean()) < 0.05 * std, "weights are centred on 0: standard_normal"
    assert not params["b1"].any() and not params["b2"].any() and params["W2"].shape == (100, 50)


def test_core_forward_propagation_gives_one_probability_row_per_example():
    rng = np.random.default_rng(1)
    params = nn.initialize_parameters([784, 16, 10], rng)
    try:
        P, _ = nn.forward_propagation(rng.random((7, 784), dtype=np.float32), params)
    except ValueError as err:                  # the shapes of a matrix product do not fit
        raise AssertionError(f"forward_propagation fails on a 784-16-10 network ({err}): with W "
                             "of shape (n_{l-1}, n_l), Z = A @ W + b") from None
    assert P.shape == (7, 10), f"P is {P.shape}; 7 examples need (7, 10): X @ W, not W @ X"
    assert P.dtype == np.float32, f"P is {P.dtype}: float32 in, float32 out"
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-5)


def test_core_forward_propagation_is_a_w_plus_b_then_relu_and_softmax_on_square_layers_too():
    rng = np.random.default_rng(5)            # square layers: the shapes cannot tell W from W.T
    params = nn.initialize_parameters([3, 3, 3, 3], rng, dtype=np.float64)
    for l in (1, 2, 3):
        params[f"b{l}"] += rng.uniform(0.1, 0.3, 3)
    X = rng.normal(size=(4, 3))

    def by_hand(transpose=False, bias=True):
        A = X
        for l in (1, 2, 3):
            W = params[f"W{l}"].T if transpose else params[f"W{l}"]
            Z = A @ W + params[f"b{l}"] * bias
            A = np.maximum(Z, 0) if l < 3 else np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        return A
    P, cache = nn.forward_propagation(X, params)
    assert not np.allclose(P, by_hand(transpose=True)), (
        "forward_propagation computes A @ W.T: with W of shape (n_{l-1}, n_l) it is Z = A @ W + b "
        "(square layers hide the transpose)")
    assert not np.allclose(P, by_hand(bias=False)), (
        "forward_propagation leaves out b: Z = A @ W + b")
    np.testing.assert_allclose(P, by_hand(), rtol=1e-10, err_msg=(
        "Z_l = A_{l-1} @ W_l + b_l, then relu for the hidden layers and softmax for the last"))
    np.testing.assert_allclose(cache["Z1"], X @ params["W1"] + params["b1"], rtol=1e-12)


def test_core_backpropagation_passes_the_gradient_check_on_a_net_with_two_hidden_layers():
    params, X, y = small_float64_net(np.random.default_rng(0))
    P, cache = nn.forward_propagation(X, params)
    dZ = nn.cross_entropy_backward(P, y)
    grads = nn.backward_propagation(params, cache, dZ)
    assert_each_gradient_right(params, grads, lambda: loss_of(X, y)(params), len(y), {
        "backward_propagation leaves out relu's slope: dZ = relu_backward(dA, Z), dA * (Z > 0)":
        nn.backward_propagation(params, cache, dZ, lambda dA, Z: dA),
        "relu_backward multiplies dA by relu(Z), not by relu's slope (Z > 0)":
        nn.backward_propagation(params, cache, dZ, lambda dA, Z: dA * np.maximum(Z, 0))})
    errors = nn.gradient_check(loss_of(X, y), params, grads)
    assert set(errors) == set(params)
    assert max(errors.values()) < 1e-6, (
        f"relative errors {errors}: above 1e-6, backward_propagation disagrees with the loss; "
        "look first at the last layer with a large error")


def test_core_backpropagation_passes_nothing_back_through_a_dropped_unit():
    params, X, y = small_float64_net(np.random.default_rng(1))
    for key in ("b1", "b2", "b3"):         # away from relu's kink when a row loses every unit
        params[key] += 0.15

    def forward(params):                   # the same seed each call: the same dropout masks
        return nn.forward_propagation(X, params, dropout=0.5, rng=np.random.default_rng(3))
    P, cache = forward(params)
    dZ = nn.cross_entropy_backward(P, y)
    assert_each_gradient_right(
        params, nn.backward_propagation(params, cache, dZ),
        lambda: nn.cross_entropy(forward(params)[0], y), len(y),
        {"backward_propagation ignores the dropout mask: a dropped unit passes nothing back, "
         "dA_{l-1} = (dZ_l @ W_l.T) * M_{l-1}": nn.backward_propagation(
             params, {k: v for k, v in cache.items() if k[0] != "M"}, dZ)})


def test_core_the_gradient_check_catches_a_missing_1_over_n_and_a_missing_relu_mask():
    params, X, y = small_float64_net(np.random.default_rng(0))
    P, cache = nn.forward_propagation(X, params)
    dZ = nn.cross_entropy_backward(P, y)
    without_the_mean = nn.backward_propagation(params, cache, dZ * len(y))
    without_the_mask = nn.backward_propagation(params, cache, dZ, lambda dA, Z: dA)
    for wrong in (without_the_mean, without_the_mask):
        errors = nn.gradient_check(loss_of(X, y), params, wrong)
        assert max(errors.values()) > 0.1, errors


def test_core_dropout_scales_kept_hidden_units_to_keep_the_mean_and_never_touches_the_output():
    rng = np.random.default_rng(11)
    params = nn.initialize_parameters([20, 400, 40, 3], rng, dtype=np.float64)
    params["b1"] += 1.0                                   # every unit active before dropout
    X = rng.normal(size=(50, 20)) * 0.01
    _, plain = nn.forward_propagation(X, params)
    P, dropped = nn.forward_propagation(X, params, dropout=0.3, rng=rng)
    assert 0.25 < np.mean(dropped["A1"] == 0) < 0.35
    assert set(np.unique(dropped["M1"]).tolist()) == {0.0, 1 / 0.7}
    assert dropped["A1"].mean() == pytest.approx(plain["A1"].mean(), rel=0.05), (
        "inverted dropout: divide the kept units by 1 - dropout")
    assert "M2" in dropped and "M3" not in dropped, "drop hidden units only, never the output"
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_core_l1_and_l2_add_l1_sign_w_plus_l2_w_to_weight_gradients_and_nothing_to_biases():
    rng = np.random.default_rng(10)
    params = nn.initialize_parameters([5, 4, 3], rng, dtype=np.float64)
    params["b1"] += 0.3
    X, y = rng.random((6, 5)), rng.integers(0, 3, 6)
    P, cache = nn.forward_propagation(X, params)
    dZ = nn.cross_entropy_backward(P, y)
    plain = nn.backward_propagation(params, cache, dZ)
    penalised = nn.backward_propagation(params, cache, dZ, l1=0.01, l2=0.2)
    for key, W in params.items():
        extra = 0.01 * np.sign(W) + 0.2 * W if key.startswith("W") else 0 * W
        np.testing.assert_allclose(penalised[key] - plain[key], extra, atol=1e-12, err_msg=(
            f"d{key}: the penalty adds l1 sign(W) + l2 W to each dW and nothing to db"))


def test_core_sgd_steps_each_parameter_by_minus_the_learning_rate_times_its_gradient():
    rng = np.random.default_rng(20)
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=3)}
    grads = {key: rng.normal(size=W.shape) for key, W in params.items()}
    before = copy_of(params)
    nn.update_parameters(params, grads, 0.05)
    for key in params:
        assert not np.array_equal(params[key], before[key]), (
            f"{key} did not move after a step: update every key of params, the biases too, "
            "in place (params[key] -= ...)")
        np.testing.assert_allclose(params[key], before[key] - 0.05 * grads[key], rtol=1e-12,
                                   err_msg=f"{key}: W = W - learning_rate * dW")


def test_core_adam_takes_the_same_steps_as_kingma_and_ba_write_it():
    rng = np.random.default_rng(4)
    W = uncorrected = rng.normal(size=(5, 3))
    params, state = {"W": W.copy()}, {}
    m = v = np.zeros_like(W)
    for t in range(1, 8):
        g = rng.normal(size=W.shape) * 10.0 ** rng.integers(-6, 2)   # tiny to large gradients
        m = 0.9 * m + 0.1 * g                                         # the paper's Algorithm 1
        v = 0.999 * v + 0.001 * g ** 2
        W = W - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        uncorrected = uncorrected - 0.01 * m / (np.sqrt(v) + 1e-8)
        nn.update_parameters_with_adam(params, {"W": g}, 0.01, state)
        assert not np.allclose(params["W"], uncorrected, rtol=1e-9), (
            "Adam without bias correction: m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t), "
            "t counting steps from 1")
        np.testing.assert_allclose(params["W"], W, rtol=1e-12, atol=1e-15, err_msg=(
            f"step {t}: check the bias correction m / (1 - beta1^t), v / (1 - beta2^t), t from 1"))


def assert_updates_in_place(rule):
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([4, 3, 2], rng, dtype=np.float64)
    params["b1"] += 0.5
    arrays, before = dict(params), copy_of(params)
    grads = {key: rng.normal(size=W.shape) for key, W in params.items()}
    state = {}
    for _ in range(2):
        assert rule(params, grads, 0.1, state) is params, "return the params dict it was given"
    for key in params:
        assert params[key] is arrays[key], f"{key} is a new array: update it in place (-=)"
        assert np.all(np.abs(params[key] - before[key]) > 1e-6), (
            f"{key} did not move after a step: update every key of params, the biases too")


def loss_before_and_after_training(optimizer, learning_rate):
    """The loss on 64 random points before and after 20 epochs with an update rule."""
    rng = np.random.default_rng(3)
    X = rng.random((64, 20)).astype(np.float32)
    y = (X[:, 0] > X[:, 1]).astype(int)
    params = nn.initialize_parameters([20, 16, 2], rng)
    before = loss_of(X, y)(params)
    nn.gradient_descent(params, X, y, 20, 16, learning_rate, rng, optimizer=optimizer)
    return before, loss_of(X, y)(params)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_core_sgd_and_adam_change_the_callers_arrays_in_place_and_lower_the_loss(name):
    rule = {"sgd": nn.update_parameters, "adam": nn.update_parameters_with_adam}[name]
    assert_updates_in_place(rule)
    before, after = loss_before_and_after_training(rule, {"sgd": 0.5, "adam": 0.01}[name])
    assert after < 0.7 * before, f"{name}: loss {before:.3f} -> {after:.3f}"


# --- core 4: the training loop -------------------------------------------------------------------
def test_core_network_overfits_twenty_random_examples():
    rng = np.random.default_rng(2)
    X, y = rng.random((20, 30)).astype(np.float32), rng.integers(0, 10, 20)
    params = nn.initialize_parameters([30, 64, 10], rng)
    nn.gradient_descent(params, X, y, num_epochs=300, batch_size=20, learning_rate=0.01, rng=rng)
    assert nn.get_accuracy(nn.get_predictions(params, X), y) == 1.0, (
        "a network this size memorises 20 examples; if it does not, look for a bug")
    assert loss_of(X, y)(params) < 0.05


def test_core_gradient_descent_shows_every_row_once_per_epoch_in_a_new_order_each_epoch(
        monkeypatch):
    N, seen, labels, cross_entropy = 23, {}, [], nn.cross_entropy

    def record(X_batch, epoch, rng):
        seen.setdefault(epoch, []).append(X_batch[:, 0].astype(int).tolist())
        return X_batch
    monkeypatch.setattr(nn, "cross_entropy", lambda P, y: labels.append(y.tolist()) or
                        cross_entropy(P, y))
    params = nn.initialize_parameters([1, 3], np.random.default_rng(0), dtype=np.float64)
    nn.gradient_descent(params, np.arange(N, dtype=np.float64)[:, None], np.arange(N) % 3, 3, 5,
                        0.01, np.random.default_rng(2), options=dict(transform=record))
    assert sorted(seen) == [1, 2, 3]
    for epoch, batches in seen.items():
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3], (
            f"epoch {epoch}: batches of {[len(b) for b in batches]} rows; 23 rows in batches of "
            "5 are 5, 5, 5, 5 and 3: keep the last, smaller batch (range(0, N, batch_size))")
    orders = [sum(seen[epoch], []) for epoch in (1, 2, 3)]
    for order in orders:
        assert sorted(order) == list(range(N)), "every row exactly once per epoch"
    assert [row % 3 for order in orders for row in order] == sum(labels, []), (
        "gradient_descent separated images from their labels: index X and y with the same "
        "permutation, X[batch] and y[batch]")
    assert orders[0] != list(range(N)), "the rows came in their file order: shuffle them"
    assert orders[0] != orders[1] != orders[2], (
        "every epoch saw the rows in the same order: draw a new rng.permutation in each epoch, "
        "not once before the epochs")


def test_core_an_epoch_of_gradient_descent_is_the_same_steps_done_one_by_one():
    rng = np.random.default_rng(7)
    X, y = rng.random((50, 12)).astype(np.float32), rng.integers(0, 3, 50)
    params = nn.initialize_parameters([12, 8, 3], rng)
    by_hand = copy_of(params)
    nn.gradient_descent(params, X, y, 1, 16, 0.1, np.random.default_rng(1),
                        optimizer=nn.update_parameters)
    order = np.random.default_rng(1).permutation(50)
    for start in range(0, 50, 16):                      # batches of 16, 16, 16 and 2
        batch = order[start:start + 16]
        P, cache = nn.forward_propagation(X[batch], by_hand)
        grads = nn.backward_propagation(by_hand, cache, nn.cross_entropy_backward(P, y[batch]))
        by_hand = {key: W - 0.1 * grads[key] for key, W in by_hand.items()}
    for key in params:
        np.testing.assert_allclose(params[key], by_hand[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_core_the_schedule_is_asked_for_each_step_from_0_with_the_total_number_of_steps():
    calls, rng = [], np.random.default_rng(3)
    params = nn.initialize_parameters([3, 2], rng, dtype=np.float64)
    nn.gradient_descent(params, rng.random((10, 3)), np.zeros(10, int), 2, 4, 0.1, rng,
                        options=dict(schedule=lambda step, total: calls.append((step, total)) or 1))
    assert calls == [(step, 6) for step in range(6)], "2 epochs x ceil(10 / 4) = 6 steps"


def test_core_gradient_descent_returns_a_record_per_epoch_that_on_epoch_may_extend_and_stop():
    rng = np.random.default_rng(6)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    seen = []

    def on_epoch(epoch, params, stats):
        stats["val_accuracy"] = 0.5
        seen.append(params["W1"].copy())
        return epoch == 3                               # True stops training
    history = nn.gradient_descent(params, X, y, 10, 8, 0.01, rng, on_epoch=on_epoch)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "loss", "train_accuracy", "val_accuracy"}
    assert not np.array_equal(seen[0], seen[1]), "on_epoch must see the network as trained so far"
    np.testing.assert_array_equal(seen[-1], params["W1"])


def test_core_an_epochs_loss_and_accuracy_are_over_every_training_row():
    rng = np.random.default_rng(31)
    X, y = rng.random((50, 6)), rng.integers(0, 3, 50)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    P, _ = nn.forward_propagation(X, params)
    history = nn.gradient_descent(params, X, y, 1, 16, 0.0, rng)      # lr 0: params fixed
    assert history[0]["loss"] == pytest.approx(nn.cross_entropy(P, y)), (
        "weight each batch's loss by its size: the last batch has 2 rows, not 16")
    assert history[0]["train_accuracy"] == pytest.approx(nn.get_accuracy(P.argmax(axis=1), y))


def test_core_an_unknown_option_is_refused_rather_than_silently_ignored():
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([3, 2], rng, dtype=np.float64)
    with pytest.raises(TypeError, match="schedul"):
        nn.gradient_descent(params, rng.random((4, 3)), np.zeros(4, int), 1, 2, 0.1, rng,
                            options=dict(schedul=lambda step, total: 1.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_core_a_loss_of_nan_or_inf_raises_before_it_spoils_the_parameters(bad, monkeypatch):
    rng = np.random.default_rng(4)
    params = nn.initialize_parameters([3, 4, 2], rng, np.float64)
    before = copy_of(params)
    monkeypatch.setattr(nn, "cross_entropy", lambda P, y: bad)
    with pytest.raises(FloatingPointError, match=str(bad)):
        nn.gradient_descent(params, rng.random((8, 3)), rng.integers(0, 2, 8), 2, 2, 0.1, rng)
    for key in params:
        assert np.array_equal(params[key], before[key]), f"{key} was updated with a {bad} loss"


def test_core_same_seed_gives_identical_parameters_and_another_seed_does_not():
    def trained(seed):
        rng = np.random.default_rng(seed)
        X, y = rng.random((50, 20)).astype(np.float32), rng.integers(0, 10, 50)
        params = nn.initialize_parameters([20, 8, 10], rng)
        nn.gradient_descent(params, X, y, 2, 10, 0.01, rng, options=dict(dropout=0.2))
        return params
    first, again, other = trained(5), trained(5), trained(6)
    assert all(np.array_equal(first[key], again[key]) for key in first), (
        "randomness must come only from the rng passed in")
    assert not np.array_equal(first["W1"], other["W1"])


def test_core_predictions_are_the_most_probable_class_and_accuracy_the_share_right():
    assert nn.get_accuracy(np.array([1, 2, 3]), np.array([1, 2, 3])) == 1.0
    assert nn.get_accuracy(np.array([1, 2, 3]), np.array([1, 0, 0])) == pytest.approx(1 / 3)
    params = {"W1": np.eye(3), "b1": np.zeros(3)}
    predictions = nn.get_predictions(params, np.array([[0.0, 5, 1], [2, 0, 0]]))
    assert len(predictions) == 2, ("get_predictions gave one answer per class, not per row: "
                                   "the argmax runs along each row, P.argmax(axis=1)")
    assert predictions.tolist() == [1, 0]


# --- the classic mistakes, planted one at a time: does the check that fails name it? ------------
# Each mistake: the exact edits that plant it in a copy of the program, the core test that should
# catch it (words of its name; "[x]" gives x to its parameter) and the words it must be named by.
SHUFFLE = "order = rng.permutation(len(X)) if shuffle else np.arange(len(X))"
SGD_STEP = "params[key] -= learning_rate * grads[key]          #"
MISTAKES = {
    "db summed over every axis": ([("dZ.sum(axis=0)", "dZ.sum()")], "two_hidden",
                                  "sum dZ over the rows (axis=0), one number per unit, not over"),
    "db summed along each row": ([("dZ.sum(axis=0)", "dZ.sum(axis=1)")], "two_hidden",
                                 "not along each row (axis=1)"),
    "the 1/N of the mean loss forgotten": ([(") / len(y)", ")")], "p_minus_y",
                                           "times too large: the loss is a mean over the batch"),
    "dZ_L = (Y - P) / N": ([("(P - one_hot(y, P.shape[1], P.dtype))",
                             "(one_hot(y, P.shape[1], P.dtype) - P)")], "p_minus_y",
                           "the gradient has the wrong sign"),
    "softmax without the max subtracted": ([("np.exp(Z - Z.max(axis=1, keepdims=True))",
                                             "np.exp(Z)")], "softmax_is_finite",
                                           "softmax gives nan for large scores: subtract each"),
    "softmax over the columns": ([("Z.max(axis=1, keepdims", "Z.max(axis=0, keepdims"),
                                  ("E.sum(axis=1, keepdims", "E.sum(axis=0, keepdims")],
                                 "softmax_is_finite", "softmax normalised each column (axis=0)"),
    "cross-entropy summed, not averaged": ([("float(-np.mean(", "float(-np.sum(")],
                                           "cross_entropy_is", "is the sum over the batch"),
    "cross-entropy without its minus": ([("float(-np.mean(", "float(np.mean(")],
                                        "cross_entropy_is", "lost its minus sign"),
    "square W used transposed in forward": ([('A @ params[f"W{l}"] +', 'A @ params[f"W{l}"].T +')],
                                            "square_layers", "computes A @ W.T"),
    "b left out of forward": ([(' + params[f"b{l}"]  ', "  ")], "square_layers", "leaves out b"),
    "dW transposed in backward": ([('cache[f"A{l - 1}"].T @ dZ', '(dZ.T @ cache[f"A{l - 1}"])')],
                                  "two_hidden", "is the transpose of the right gradient"),
    "relu's slope left out of backward": ([('dZ = activation_backward(dA, cache[f"Z{l - 1}"])',
                                            "dZ = dA")], "two_hidden", "leaves out relu's slope"),
    "dropout mask left out of backward": ([('dA = dA * cache[f"M{l - 1}"]', "pass")],
                                          "dropped_unit", "ignores the dropout mask"),
    "relu_backward times A": ([("return dA * (Z > 0)", "return dA * relu(Z)")], "relu_is",
                              "relu_backward multiplies dA by relu(Z)"),
    "relu'(0) taken as 1": ([("return dA * (Z > 0)", "return dA * (Z >= 0)")], "relu_is",
                            "not Z >= 0"),
    "He's std without its 2": ([('"he": np.sqrt(2 / fan_in)', '"he": np.sqrt(1 / fan_in)')],
                               "initial_weights", "sqrt(1 / n_{l-1}), LeCun's"),
    "He's std from the fan-out": ([('"he": np.sqrt(2 / fan_in)', '"he": np.sqrt(2 / fan_out)')],
                                  "initial_weights", "sqrt(2 / n_l): the fan-out"),
    "biases skipped by SGD": ([(SGD_STEP, 'if key[0] == "W": ' + SGD_STEP)], "sgd_steps",
                              "did not move after a step: update every key of params"),
    "biases skipped by Adam": ([("params[key] -= learning_rate * m_hat",
                                 'if key[0] == "W": params[key] -= learning_rate * m_hat')],
                               "in_place[adam]", "did not move after a step: update every key"),
    "SGD makes new arrays": ([(SGD_STEP, SGD_STEP.replace("-=", "= params[key] -"))],
                             "in_place[sgd]", "is a new array: update it in place"),
    "Adam without bias correction": ([("m[key] / (1 - beta1 ** t)", "m[key]"),
                                      ("v[key] / (1 - beta2 ** t)", "v[key]")], "adam_takes",
                                     "Adam without bias correction"),
    "labels shuffled apart in split": ([("y[train], X[val], y[val]", "y[rng.permutation(len(y))"
                                         "[n_val:]], X[val], y[val]")], "split_holds",
                                       "split_train_val separated images from their labels"),
    "labels shuffled apart in training": ([(SHUFFLE, SHUFFLE + "; other = rng.permutation(len(y))"),
                                           ("X[batch], y[batch]", "X[batch], y[other[batch]]")],
                                          "every_row", "gradient_descent separated images"),
    "shuffled once, before the epochs": ([(SHUFFLE, SHUFFLE[:8] + "order if epoch > 1 else "
                                           + SHUFFLE[8:])], "every_row", "in the same order"),
    "never shuffled": ([(SHUFFLE, "order = np.arange(len(X))")], "every_row", "file order"),
    "the last, smaller batch dropped": ([("range(0, len(X), batch_size)",
                                          "range(0, len(X) - batch_size + 1, batch_size)")],
                                        "every_row", "keep the last, smaller batch"),
    "uint8 pixels divided in place": ([("scaled = X.astype(dtype)", "scaled = X")],
                                      "scale_pixels", "changed the caller's X (or failed on"),
    "no copy of float32 pixels": ([("X.astype(dtype)", "X.astype(dtype, copy=False)")],
                                  "scale_pixels", "changed the caller's X (or failed on"),
    "pixels divided by 256": ([("scaled /= 255", "scaled /= 256")], "scale_pixels", "not 256"),
    "one_hot as wide as the largest label": ([("(len(y), num_classes)", "(len(y), y.max() + 1)")],
                                             "one_hot", "a batch with no 9 still needs 10"),
    "argmax down the columns": ([("return P.argmax(axis=1)", "return P.argmax(axis=0)")],
                                "most_probable", "one answer per class, not per row"),
    "an epoch's loss weighted by batch_size": ([("batch_loss * len(batch)",
                                                 "batch_loss * batch_size")], "every_training_row",
                                               "weight each batch's loss by its size"),
}


def planted_copy(mistake, folder):
    """The program with one classic mistake planted by exact edits, imported as a new module."""
    source = open(SCRIPT, encoding="utf-8").read()
    for right, wrong in MISTAKES[mistake][0]:
        assert source.count(right) == 1, f"the program no longer reads {right!r}: update MISTAKES"
        source = source.replace(right, wrong)
    (folder / "planted.py").write_text(source, encoding="utf-8")
    return import_copy(folder / "planted.py", f"planted_{list(MISTAKES).index(mistake)}")


def message_of_check(mistake, folder, monkeypatch):
    """The first line of what the mistake's check says with it planted; None if it passes."""
    words, _, value = MISTAKES[mistake][1].rstrip("]").partition("[")
    [check] = [test for name, test in globals().items() if name.startswith("test_core_")
               and words in name]
    given = {"monkeypatch": monkeypatch, "init": "he", "std": math.sqrt(2 / 400), "name": value}
    monkeypatch.setitem(globals(), "nn", planted_copy(mistake, folder))
    try:
        with np.errstate(all="ignore"):
            check(**{name: given[name] for name in inspect.signature(check).parameters})
    except AssertionError as err:
        return str(err).strip().splitlines()[0]
    finally:
        monkeypatch.undo()
    return None


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_planted_classic_mistake_is_named_by_the_check_it_fails(mistake, tmp_path,
                                                                     monkeypatch):
    said = message_of_check(mistake, tmp_path, monkeypatch)
    assert said is not None, f"the check passed with {mistake!r} planted"
    assert MISTAKES[mistake][2] in said, f"{mistake!r}: the check said {said!r}"


# --- update rules and schedules beyond the core --------------------------------------------------
def textbook_steps(rule, W, gradients, learning_rate):
    """Each update rule written out plainly, as the courses give it, one step per gradient."""
    v, s = np.zeros_like(W), np.zeros_like(W)
    for g in gradients:
        if rule == "momentum":              # Ng's course: v is a running MEAN of gradients
            v = 0.9 * v + 0.1 * g
            W = W - learning_rate * v
        elif rule == "adagrad":
            s = s + g ** 2
            W = W - learning_rate * g / (np.sqrt(s) + 1e-8)
        elif rule == "rmsprop":
            s = 0.9 * s + 0.1 * g ** 2
            W = W - learning_rate * g / (np.sqrt(s) + 1e-8)
    return W


@pytest.mark.parametrize("name", ["momentum", "adagrad", "rmsprop"])
def test_each_other_update_rule_takes_the_steps_of_its_formula_in_place_and_lowers_the_loss(name):
    rng = np.random.default_rng(20)
    W = rng.normal(size=(4, 3))
    gradients = [rng.normal(size=W.shape) * 10.0 ** rng.integers(-3, 2) for _ in range(6)]
    params, state = {"W": W.copy()}, {}
    for g in gradients:
        nn.OPTIMIZERS[name](params, {"W": g}, 0.05, state)
    np.testing.assert_allclose(params["W"], textbook_steps(name, W, gradients, 0.05),
                               rtol=1e-12, err_msg=name)
    assert_updates_in_place(nn.OPTIMIZERS[name])
    before, after = loss_before_and_after_training(
        nn.OPTIMIZERS[name], {"momentum": 0.5, "adagrad": 0.1, "rmsprop": 0.01}[name])
    assert after < 0.7 * before, f"{name}: loss {before:.3f} -> {after:.3f}"


def test_learning_rate_schedules_follow_their_formulas_at_every_step():
    steps = np.arange(100)
    np.testing.assert_allclose([nn.cosine_schedule(t, 100) for t in steps],
                               (1 + np.cos(np.pi * steps / 100)) / 2)
    np.testing.assert_allclose([nn.step_schedule(t, 100) for t in steps],
                               np.where(steps < 50, 1.0, np.where(steps < 75, 0.1, 0.01)))
    np.testing.assert_allclose([nn.inverse_schedule(t, 100, decay=0.1) for t in steps],
                               1 / (1 + 0.1 * steps))
    assert nn.cosine_schedule(0, 10) == 1.0 and abs(nn.cosine_schedule(10, 10)) < 1e-15


# --- augmentation --------------------------------------------------------------------------------
def test_random_affine_with_no_range_returns_the_images_unchanged():
    X = np.random.default_rng(5).random((3, 784)).astype(np.float32)
    same = nn.random_affine(X, np.random.default_rng(0), 0.0, 0.0, 0.0)
    np.testing.assert_allclose(same, X, atol=1e-5)


def affine_one_pixel_at_a_time(image, degrees, scale, shift):
    """The per-image idea of random_affine, written as slowly and plainly as possible."""
    angle, centre, out = np.deg2rad(degrees), 13.5, np.zeros((28, 28))
    for r in range(28):
        for c in range(28):
            dr, dc = r - centre - shift[0], c - centre - shift[1]
            r_src = centre + (np.cos(angle) * dr + np.sin(angle) * dc) / scale
            c_src = centre + (-np.sin(angle) * dr + np.cos(angle) * dc) / scale
            r0, c0 = int(np.floor(r_src)), int(np.floor(c_src))
            fr, fc = r_src - r0, c_src - c0
            for rr, cc, weight in [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                                   (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]:
                if 0 <= rr < 28 and 0 <= cc < 28:
                    out[r, c] += weight * image[rr, cc]
    return out.ravel()


def test_random_affine_matches_a_pixel_by_pixel_reference():
    X = np.random.default_rng(8).random((3, 784))
    for seed in range(3):
        draws = np.random.default_rng(seed)        # the same draws, in random_affine's order
        degrees, scale = draws.uniform(-10, 10), draws.uniform(0.9, 1.1)
        shift = draws.uniform(-2, 2, size=2)
        batch = nn.random_affine(X, np.random.default_rng(seed))
        for image, result in zip(X, batch):
            expected = affine_one_pixel_at_a_time(image.reshape(28, 28), degrees, scale, shift)
            np.testing.assert_allclose(result, expected, atol=1e-12)


def test_augmentation_distorts_the_first_two_thirds_of_the_epochs_and_then_stops():
    X = np.random.default_rng(9).random((5, 784)).astype(np.float32)
    for num_epochs, last_distorted in [(9, 6), (3, 2), (10, 6)]:
        transform = nn.augment_first_epochs(num_epochs)
        for epoch in range(1, num_epochs + 1):
            changed = not np.array_equal(transform(X, epoch, np.random.default_rng(epoch)), X)
            assert changed == (epoch <= last_distorted), (num_epochs, epoch)


def test_validation_digits_are_never_augmented(small_csv, tmp_path, monkeypatch, capsys):
    distorted_batch_sizes, real = [], nn.random_affine

    def recording(X, rng, *args):
        distorted_batch_sizes.append(len(X))
        return real(X, rng, *args)
    monkeypatch.setattr(nn, "random_affine", recording)
    status, _, err = run_main(["--csv", small_csv, "--epochs", "3", "--batch-size", "1000",
                               "--val-fraction", "0.5", "--hidden", "8", "--no-plot"],
                              tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert distorted_batch_sizes == [150, 150], "150 training rows, epochs 1 and 2 of 3 only"


# --- other activations and heads; saving, early stopping, evaluation -----------------------------
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("head", ["softmax", "sigmoid", "mse", "mae"])
def test_backpropagation_passes_the_gradient_check_for_each_activation_and_head(activation, head):
    errors = nn.check_gradients_of_small_network(activation, head, seed=10)
    assert max(errors.values()) < 1e-6, errors


def test_backpropagation_passes_the_gradient_check_with_l1_l2_and_dropout():
    for seed in range(3):
        errors = nn.check_gradients_of_small_network(dropout=0.3, l1=0.01, l2=0.05, seed=seed)
        assert max(errors.values()) < 1e-6, (seed, errors)


def test_matched_output_layers_give_a_minus_y_over_n_by_central_differences():
    rng = np.random.default_rng(12)
    Z, y = rng.normal(size=(4, 3)), np.array([1, 0, 2, 1])
    for head in ["softmax", "sigmoid", "mse", "mae"]:
        output, loss, loss_backward = nn.HEADS[head]
        numeric = np.zeros_like(Z)
        for index in np.ndindex(Z.shape):
            up, down = Z.copy(), Z.copy()
            up[index] += 1e-6
            down[index] -= 1e-6
            numeric[index] = (loss(output(up), y) - loss(output(down), y)) / 2e-6
        np.testing.assert_allclose(loss_backward(output(Z), y), numeric, atol=1e-7, err_msg=head)
        if head in ("sigmoid", "mse"):
            A = output(Z)
            np.testing.assert_allclose(loss_backward(A, y), (A - nn.one_hot(y, 3)) / 4)


def test_keep_best_keeps_a_copy_of_the_best_epoch_and_counts_the_epochs_since():
    best, params = {}, {"W1": np.ones(3)}
    assert nn.keep_best(best, 1, params, -5.0) == 0 and best["epoch"] == 1   # minus a loss works
    assert nn.keep_best(best, 2, params, -3.0) == 0 and best["score"] == -3.0
    params["W1"][:] = 9.0                                   # the caller trains on
    assert nn.keep_best(best, 3, params, -4.0) == 1 and best["epoch"] == 2
    assert best["params"]["W1"].tolist() == [1.0, 1.0, 1.0], "keep a copy, not the live array"
    assert nn.keep_best(best, 4, params, -3.0) == 2, "a tie is no improvement"
    assert nn.keep_best(best, 5, params, math.nan) == 3, "a nan score is never the best"


def test_a_saved_network_loads_back_with_its_activation_and_bit_identical_predictions(tmp_path):
    rng = np.random.default_rng(16)
    params = nn.initialize_parameters([784, 12, 10], rng, init="xavier")
    nn.save_model(str(tmp_path / "model.npz"), params, "tanh")
    loaded, activation = nn.load_model(str(tmp_path / "model.npz"))
    X = rng.random((50, 784), dtype=np.float32)
    assert activation == "tanh" and sorted(loaded) == sorted(params)
    assert np.array_equal(nn.forward_propagation(X, params, nn.tanh)[0],
                          nn.forward_propagation(X, loaded, nn.tanh)[0])


class Payload:
    """Unpickling this creates a file: proof that code ran."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def save_pickled_model(path, marker):
    params = nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))
    np.savez(path, **params, activation=np.array([Payload(str(marker))], dtype=object))


def test_a_pickle_planted_in_a_model_file_is_refused_not_run(tmp_path):
    save_pickled_model(tmp_path / "model.npz", tmp_path / "pwned")
    with pytest.raises(nn.InputError):
        nn.load_model(str(tmp_path / "model.npz"))
    assert not (tmp_path / "pwned").exists(), "np.load must keep allow_pickle=False"


def test_a_save_that_fails_midway_leaves_the_previous_model_intact_and_no_temporary_file(
        tmp_path, monkeypatch):
    path = str(tmp_path / "model.npz")
    nn.save_model(path, nn.initialize_parameters([784, 8, 10], np.random.default_rng(0)))
    before = (tmp_path / "model.npz").read_bytes()

    def half_written_then_disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(nn.np, "savez", half_written_then_disk_full)
    with pytest.raises(OSError):
        nn.save_model(path, nn.initialize_parameters([784, 8, 10], np.random.default_rng(1)))
    assert (tmp_path / "model.npz").read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"], "the temporary file must be removed"


def test_the_confusion_matrix_counts_true_predicted_pairs_and_gives_each_digits_accuracy():
    C = nn.confusion_matrix(np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 1, 1, 0, 2]), 3)
    assert C.tolist() == [[1, 2, 0], [0, 1, 0], [1, 0, 1]], "C[true, predicted]"
    assert nn.per_class_text(C) == "0:0.333  1:1.000  2:0.500", "divide by each ROW's sum"


# --- seeing inside: the input gradient; toy problems in 2-D --------------------------------------
def tiny_float64_net_and_input(rng, sizes=(6, 5, 4, 3)):
    """A tiny float64 network (two hidden layers), biases away from 0, and one input row."""
    params = nn.initialize_parameters(list(sizes), rng, dtype=np.float64)
    for key in params:
        if key.startswith("b"):
            params[key] += rng.uniform(0.1, 0.2, params[key].shape)
    return params, rng.random(sizes[0])


def class_score(params, x, k, activation):
    """Z_L[k] for one example: the forward pass with a linear output (no softmax)."""
    Z, _ = nn.forward_propagation(x[None, :], params, activation, nn.identity)
    return Z[0, k]


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_the_input_gradient_matches_central_differences(name):
    activation, activation_backward = nn.ACTIVATIONS[name]
    params, x = tiny_float64_net_and_input(np.random.default_rng(3))
    eps = 1e-6
    for k in range(3):
        gradient = nn.input_gradient(params, x, k, activation, activation_backward)
        numeric = np.array([(class_score(params, x + eps * e, k, activation)
                             - class_score(params, x - eps * e, k, activation)) / (2 * eps)
                            for e in np.eye(len(x))])
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-9)


def test_near_an_input_a_relu_network_gives_exactly_gradient_dot_input_plus_a_constant():
    params, x = tiny_float64_net_and_input(np.random.default_rng(4))
    g = nn.input_gradient(params, x, 2)
    constant = class_score(params, x, 2, nn.relu) - g @ x
    for t in (0.97, 1.03):                                  # 3% less or more ink everywhere
        assert np.isclose(class_score(params, t * x, 2, nn.relu), t * (g @ x) + constant,
                          rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["moons", "spiral", "xor"])
def test_each_toy_dataset_is_float32_points_in_2d_with_every_class_present(name):
    X, y = nn.TOY_DATASETS[name](np.random.default_rng(0))
    assert X.dtype == np.float32 and X.ndim == 2 and X.shape[1] == 2 and len(y) == len(X)
    assert set(np.unique(y)) == set(range(int(y.max()) + 1)) and y.max() >= 1


def test_xor_is_one_where_the_signs_agree_and_the_spiral_arms_turn_four_radians_each():
    X, y = nn.make_xor(200, np.random.default_rng(0), noise=0.0)
    assert np.array_equal(y, (np.sign(X[:, 0]) == np.sign(X[:, 1])).astype(int))
    X, y = nn.make_spiral(50, 3, np.random.default_rng(0), noise=0.0)
    assert X.shape == (150, 2) and np.bincount(y).tolist() == [50, 50, 50]
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r, np.tile(np.linspace(0, 1, 50), 3), atol=1e-6)
    t = np.arctan2(X[:, 0], X[:, 1])                        # X = (r sin t, r cos t), as CS231n
    wrapped = np.angle(np.exp(1j * (t - (4.0 * y + 4.0 * r))))   # difference in (-pi, pi]
    assert np.abs(wrapped[r > 0.1]).max() < 1e-4


def test_the_toy_mode_learns_xor_and_draws_its_decision_boundary(tmp_path, monkeypatch, capsys):
    status, out, err = run_main(["--toy", "xor", "--hidden", "16", "--epochs", "30"], tmp_path,
                                monkeypatch, capsys)
    assert status == 0, err
    assert float(out.split("validation accuracy: ")[1].split()[0]) > 0.9
    assert sorted(os.listdir(tmp_path)) == ["decision_boundary.png", "training_curves.png"]


# --- one step by hand (--worked-example), broken runs (--break), homework (--exercise) -----------
def printed_blocks(text):
    """--worked-example's text -> {title: rows of floats}; a title reads `NAME   shape (..)`."""
    blocks = {}
    for line in text.splitlines():
        if "   shape " in line:
            title, shape = line.split("   shape ")
            blocks[title] = []
        else:
            blocks[title].append([float(v) for v in line.split()])
    return blocks


def step_by_hand(X, y, W1, b1, W2, b2, rate):
    """One SGD step of the 2-layer ReLU network, scalar by scalar (lists of floats, math only):
    written from the formulas, not from the file's functions. {quantity: rows}."""
    N, D, H, K = len(X), len(W1), len(b1), len(b2)

    def forward(W1, b1, W2, b2):
        Z1 = [[b1[j] + sum(X[i][d] * W1[d][j] for d in range(D)) for j in range(H)]
              for i in range(N)]
        A1 = [[max(z, 0.0) for z in row] for row in Z1]
        Z2 = [[b2[k] + sum(A1[i][j] * W2[j][k] for j in range(H)) for k in range(K)]
              for i in range(N)]
        P = []
        for row in Z2:
            top = max(row)
            e = [math.exp(z - top) for z in row]
            P.append([v / sum(e) for v in e])
        J = -sum(math.log(P[i][y[i]]) for i in range(N)) / N
        return Z1, A1, Z2, P, J
    Z1, A1, Z2, P, J = forward(W1, b1, W2, b2)
    dZ2 = [[(P[i][k] - (k == y[i])) / N for k in range(K)] for i in range(N)]
    dW2 = [[sum(A1[i][j] * dZ2[i][k] for i in range(N)) for k in range(K)] for j in range(H)]
    db2 = [sum(dZ2[i][k] for i in range(N)) for k in range(K)]
    dA1 = [[sum(dZ2[i][k] * W2[j][k] for k in range(K)) for j in range(H)] for i in range(N)]
    dZ1 = [[dA1[i][j] if Z1[i][j] > 0 else 0.0 for j in range(H)] for i in range(N)]
    dW1 = [[sum(X[i][d] * dZ1[i][j] for i in range(N)) for j in range(H)] for d in range(D)]
    db1 = [sum(dZ1[i][j] for i in range(N)) for j in range(H)]
    step = {"W1": [[w - rate * g for w, g in zip(*rows)] for rows in zip(W1, dW1)],
            "b1": [w - rate * g for w, g in zip(b1, db1)],
            "W2": [[w - rate * g for w, g in zip(*rows)] for rows in zip(W2, dW2)],
            "b2": [w - rate * g for w, g in zip(b2, db2)]}
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "P": P, "J": [[J]], "dZ2": dZ2, "dW2": dW2,
            "db2": [db2], "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": [db1],
            **{f"{key} - {rate:g} d{key}": value if key[0] == "W" else [value]
               for key, value in step.items()},
            "J after the step": [[forward(*step.values())[4]]]}


def test_every_number_of_the_worked_example_is_recomputed_by_hand_to_4_decimals():
    blocks = printed_blocks(nn.worked_example())
    printed = {title if re.fullmatch(r"\w+ - \S+ d\w+|J after the step", title) else
               title.split()[0]: rows for title, rows in blocks.items()}
    rate = float(re.search(r"W1 - (\S+) dW1", "\n".join(blocks)).group(1))
    X, W1, W2 = printed["X"], printed["W1"], printed["W2"]
    y, b1, b2 = [int(v) for v in printed["y"][0]], printed["b1"][0], printed["b2"][0]
    expected = step_by_hand(X, y, W1, b1, W2, b2, rate)
    assert set(expected) <= set(printed), f"missing from the text: {set(expected) - set(printed)}"
    for name, rows in expected.items():
        shown = printed[name]
        assert [len(r) for r in shown] == [len(r) for r in rows], f"{name} has the wrong shape"
        for i, j in ((i, j) for i in range(len(rows)) for j in range(len(rows[i]))):
            where = f"[{i}, {j}]" if len(rows) > 1 else f"[{j}]" if len(rows[0]) > 1 else ""
            assert abs(shown[i][j] - rows[i][j]) < 6e-5, (
                f"{name}{where} is printed as {shown[i][j]:.4f}; by hand it is "
                f"{rows[i][j]:.6f}")
    assert expected["J after the step"][0][0] < expected["J"][0][0], "one step lowers J"


def test_the_worked_example_flag_prints_that_text_in_well_under_a_few_seconds():
    started = time.perf_counter()
    result = run_script("--worked-example", timeout=60)
    seconds = time.perf_counter() - started
    assert result.returncode == 0 and result.stdout == nn.worked_example() + "\n", result.stderr
    assert seconds < 5, f"--worked-example took {seconds:.1f} s: it trains nothing"


def epoch_lines(out):
    """The per-epoch lines of a run: [{"loss": .., "train accuracy": .., "val accuracy": ..}]."""
    return [{key: float(value) for key, value in re.findall(r"([a-z][a-z ]*?) (\d+\.\d+)", line)}
            for line in out.splitlines() if line.startswith("epoch ")]


CHANCE = math.log(10)
# Each break: the key phrase of the warning that names its cause, its symptom in the epoch
# lines (epochs, the normal run's validation accuracy -> True) and that symptom in words.
BREAK_SIGNS = {
    "raw-pixels": ("inputs reach", lambda e, normal: e[0]["loss"] > 3 * CHANCE,
                   "the first loss should be far above log 10 = 2.30"),
    "zero-init": ("are all 0", lambda e, normal: all(
        abs(h["loss"] - CHANCE) < 0.05 and h["val accuracy"] < 0.15 for h in e),
        "every epoch should sit at loss ~2.30 and accuracy ~0.1"),
    "lr-too-high": ("too high", lambda e, normal: e[-1]["val accuracy"] < 0.25 and
                    e[-1]["train accuracy"] < 0.25, "the accuracy should end near chance"),
    "saturated": ("saturated units", lambda e, normal: e[-1]["val accuracy"] < normal - 0.05,
                  "validation accuracy should end well below the normal run's"),
    "shuffled-labels": ("memorises labels", lambda e, normal: e[-1]["val accuracy"] < 0.2 and
                        e[-1]["loss"] < 0.8 * e[0]["loss"],
                        "the training loss should fall while validation stays at chance"),
    "sorted": ("follows the order of the rows", lambda e, normal: e[-1]["val accuracy"] < 0.5,
               "validation accuracy should end low"),
}


def normal_counterpart(X, y, seed=0):
    """What --break trains, without a break, from the core functions: 1,600 of the first 2,000
    digits, scaled, He's initialisation, Adam at 0.002, shuffled, 10 epochs; the records as
    the command line's --diagnose makes them."""
    rng, ratios = np.random.default_rng(seed), []
    X_train, y_train, X_val, y_val = nn.split_train_val(X[:2000], y[:2000], 0.2, rng)
    X_train, X_val = nn.scale_pixels(X_train), nn.scale_pixels(X_val)
    params = nn.initialize_parameters([784, 256, 128, 10], rng)

    def on_epoch(epoch, params, stats):
        stats["val_accuracy"] = nn.get_accuracy(nn.get_predictions(params, X_val), y_val)
        stats.update(nn.health_record(params, X_train[:1000], ratios, nn.relu, nn.relu_backward))
        ratios.clear()
    return nn.gradient_descent(params, X_train, y_train, 10, 64, 0.002, rng,
                               nn.measuring_steps(nn.update_parameters_with_adam, ratios),
                               on_epoch)


@pytest.fixture(scope="module")
def normal_run(shipped):
    return normal_counterpart(*shipped)


def test_the_same_seed_without_a_break_trains_well_and_raises_no_health_warning(normal_run):
    assert normal_run[-1]["val_accuracy"] > 0.85, [h["val_accuracy"] for h in normal_run]
    assert nn.health_warnings(normal_run) == [], "a healthy run must not be called sick"


@pytest.mark.parametrize("what", list(BREAK_SIGNS))
def test_each_break_shows_its_symptom_and_the_health_lines_name_its_cause_and_no_other(
        what, normal_run, shipped, tmp_path, monkeypatch, capsys):
    assert set(BREAK_SIGNS) == set(nn.BREAKS)
    csv = os.path.join(HERE, "train.csv")                 # read once, by the shipped fixture
    monkeypatch.setattr(nn, "load_digits_csv", lambda path: {csv: shipped}[path])
    started = time.perf_counter()
    status, out, err = run_main(["--break", what, "--csv", csv], tmp_path, monkeypatch, capsys)
    seconds = time.perf_counter() - started
    phrase, symptom, words = BREAK_SIGNS[what]
    epochs = epoch_lines(out)
    assert status == 0 and len(epochs) == 10, err
    assert symptom(epochs, normal_run[-1]["val_accuracy"]), f"--break {what}: {words}\n{out}"
    health = "\n".join(line for line in out.splitlines() if line.startswith("training health"))
    assert phrase in health, f"--break {what} should be diagnosed by {phrase!r}:\n{health}"
    # lr-too-high's loss "falls" from a huge first epoch to chance, which reads as memorising
    others = {p for p, _, _ in BREAK_SIGNS.values()} - {phrase} - (
        {"memorises labels"} if what == "lr-too-high" else set())
    assert not [p for p in others if p in health], f"--break {what}: a wrong cause:\n{health}"
    assert "what went wrong: " + nn.BREAKS[what] in " ".join(out.split()), (
        f"--break {what} should end with its paragraph (the text may be wrapped)")
    assert seconds < 15, f"--break {what} took {seconds:.1f} s; it should take a few"


def test_the_exercise_keeps_the_docstrings_and_each_body_of_cells_1_to_4_raises_not_implemented(
        tmp_path, monkeypatch, capsys):
    status, out, err = run_main(["--exercise", "homework.py"], tmp_path, monkeypatch, capsys)
    assert status == 0, err
    names = out.split("to write: ")[1].rstrip(")\n").split(", ")
    homework = import_copy(tmp_path / "homework.py", "homework")
    assert {"softmax", "backward_propagation", "gradient_descent"} <= set(names), out
    for name in names:
        function = getattr(homework, name)
        assert function.__doc__ == getattr(nn, name).__doc__, f"{name} lost its docstring"
        assert "raise NotImplementedError" in inspect.getsource(function), name
    # This test's name holds no "core": -k core must not select it, or it would run itself.
    result = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-k", "core",
                             "-p", "no:cacheprovider"], capture_output=True, text=True,
                            cwd=tmp_path, env=dict(os.environ, NN_MODULE="homework.py"),
                            timeout=300)
    assert result.returncode == 1 and "NotImplementedError" in result.stdout, result.stdout[-3000:]


def test_an_exercise_written_over_the_program_itself_is_refused(tmp_path):
    program = tmp_path / "nn_from_scratch.py"           # a copy: a failure must cost nothing
    program.write_bytes(open(SCRIPT, "rb").read())
    result = subprocess.run([sys.executable, str(program), "--exercise", "nn_from_scratch.py"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
    assert program.read_bytes() == open(SCRIPT, "rb").read() and os.listdir(tmp_path) == [
        "nn_from_scratch.py"]


# --- is training healthy? ------------------------------------------------------------------------
def health_records(csv, optimizer, learning_rate, num_epochs=4):
    """What --diagnose records, training a 784-32-16-10 network on the digits of csv: one dict
    per epoch, gradient_descent's figures merged with health_record's, as fit makes them."""
    X, y = nn.load_digits_csv(csv)
    X, rng, ratios = nn.scale_pixels(X), np.random.default_rng(0), []
    params = nn.initialize_parameters([784, 32, 16, 10], rng)

    def on_epoch(epoch, params, stats):
        stats.update(nn.health_record(params, X[:200], ratios, nn.relu, nn.relu_backward))
        ratios.clear()
    with np.errstate(all="ignore"):
        return nn.gradient_descent(params, X, y, num_epochs, 64, learning_rate, rng,
                                   nn.measuring_steps(optimizer, ratios), on_epoch)


def test_the_dead_share_counts_only_units_that_are_zero_on_every_probe_row():
    params = {"W1": np.eye(3), "b1": np.array([-10.0, 0.0, 0.0]),   # unit 0: z = x - 10 < 0
              "W2": np.ones((3, 2)), "b2": np.zeros(2)}
    X_probe = np.array([[1.0, -1.0, 1.0],          # unit 1 is 0 here but fires on row 2
                        [2.0, 0.5, 1.0]])
    assert nn.dead_relu_share(params, X_probe) == [1 / 3]


def test_measuring_steps_records_the_step_adam_actually_took_not_the_rate_times_the_gradient():
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    grads = {key: 1e-3 * rng.normal(size=W.shape) for key, W in params.items()}
    before, ratios = copy_of(params), []
    nn.measuring_steps(nn.update_parameters_with_adam, ratios)(params, grads, 0.01, {})
    assert len(ratios) == 1 and len(ratios[0]) == 2, "one list per step, one ratio per W"
    for l, key in enumerate(("W1", "W2")):
        taken = np.linalg.norm(params[key] - before[key]) / np.linalg.norm(before[key])
        assert ratios[0][l] == pytest.approx(taken, rel=1e-9)
        naive = 0.01 * np.linalg.norm(grads[key]) / np.linalg.norm(before[key])
        assert ratios[0][l] > 100 * naive, "Adam's step is about lr per weight, not lr * dW"


def test_health_warnings_say_too_high_or_too_low_for_such_learning_rates_and_nothing_when_healthy(
        small_csv):
    healthy = health_records(small_csv, nn.update_parameters_with_adam, 0.002, num_epochs=10)
    assert healthy[-1]["train_accuracy"] > 0.85 and nn.health_warnings(healthy) == [], (
        "Adam at its default rate 0.002 is healthy")
    warnings = " ".join(nn.health_warnings(health_records(small_csv, nn.update_parameters, 5.0)))
    assert "too high" in warnings, warnings
    warnings = " ".join(nn.health_warnings(health_records(small_csv, nn.update_parameters, 1e-6)))
    assert "too low" in warnings and "too high" not in warnings, warnings


# --- reading tables as people save them ----------------------------------------------------------
def write_table(path, X, y, sep=",", label="label", label_last=False, order=None):
    """Digits in a layout of our choosing: the delimiter, the label column's name and place,
    and the order of the pixel columns (named by number)."""
    order = np.arange(784) if order is None else order
    names = [f"pixel{i}" for i in order]
    rows = [[f"{v:g}" for v in x[order]] for x in X]
    rows = [r + [str(k)] if label_last else [str(k)] + r for r, k in zip(rows, y)]
    header = names + [label] if label_last else [label] + names
    path.write_text("\n".join(sep.join(cells) for cells in [header, *rows]) + "\n")
    return str(path)


def random_digits(seed, n=6):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784)), rng.integers(0, 10, n)


@pytest.mark.parametrize("layout", [
    dict(sep="\t"), dict(sep=";"), dict(sep="|"), dict(sep=" "), dict(label_last=True),
    dict(label="LABEL"), dict(order=np.random.default_rng(0).permutation(784))],
    ids=["tab", "semicolon", "pipe", "space", "label-last", "LABEL", "shuffled-pixel-columns"])
def test_other_delimiters_the_label_last_or_in_capitals_and_shuffled_pixel_columns_read_right(
        layout, tmp_path):
    X, y = random_digits(40)
    got_X, got_y = nn.load_digits_csv(write_table(tmp_path / "d.csv", X, y, **layout))
    assert np.array_equal(got_X, X) and np.array_equal(got_y, y)


def test_a_gz_file_reads_like_the_plain_one_and_kaggles_zip_gives_train_csv_or_test_csv(tmp_path):
    X, y = random_digits(42)
    X_test = random_digits(43, n=4)[0]
    write_table(tmp_path / "train.csv", X, y)
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress((tmp_path / "train.csv").read_bytes()))
    (tmp_path / "test.csv").write_text("\n".join(
        [HEADER[len("label,"):]] + [",".join(map(str, x)) for x in X_test]) + "\n")
    with zipfile.ZipFile(tmp_path / "digit-recognizer.zip", "w") as archive:
        for name in ("train.csv", "test.csv"):
            archive.write(tmp_path / name, name)
        archive.writestr("sample_submission.csv", "ImageId,Label\n1,0\n")
    for name in ("train.csv.gz", "digit-recognizer.zip"):
        got_X, got_y = nn.load_digits_csv(str(tmp_path / name))
        assert np.array_equal(got_X, X) and np.array_equal(got_y, y), name
    got_X, got_y = nn.load_digits_csv(str(tmp_path / "digit-recognizer.zip"), labelled=False)
    assert np.array_equal(got_X, X_test) and got_y is None, "labelled=False reads test.csv"


def test_pixels_already_scaled_to_0_1_are_read_as_gray_levels_and_a_note_says_so(tmp_path,
                                                                                  capsys):
    X, y = random_digits(44)
    got_X, got_y = nn.load_digits_csv(write_table(tmp_path / "d.csv", X / 255, y))
    assert np.array_equal(got_X, X) and np.array_equal(got_y, y)
    assert capsys.readouterr().out.startswith("note: ")


def test_a_byte_order_mark_crlf_line_ends_and_spaces_after_commas_are_accepted(tmp_path):
    rows = [HEADER, GOOD_ROW, "5," + ",".join(["255"] * 784)]
    (tmp_path / "clean.csv").write_text("\n".join(rows) + "\n")
    quirky = "\ufeff" + "\r\n".join(row.replace(",", ", ") for row in rows) + "\r\n"
    (tmp_path / "quirky.csv").write_bytes(quirky.encode("utf-8"))
    X_clean, y_clean = nn.load_digits_csv(str(tmp_path / "clean.csv"))
    X_quirky, y_quirky = nn.load_digits_csv(str(tmp_path / "quirky.csv"))
    assert np.array_equal(X_clean, X_quirky) and np.array_equal(y_clean, y_quirky)


# --- the command line: bad input, flags, signals, pictures ---------------------------------------
def run_script(*args, cwd=None, timeout=300):
    """Run the script as a user would, headless: the finished process (text output)."""
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, MPLBACKEND="Agg"), timeout=timeout)


def bad_csv(*rows, header=HEADER):
    """Makes bad.csv: the header, 20 good rows (if the header is the usual one), the rows."""
    def make(folder):
        good = [GOOD_ROW] * 20 if header == HEADER else []
        (folder / "bad.csv").write_text("\n".join([header, *good, *rows]) + "\n")
        return ["--csv", "bad.csv"]
    return make


def bad_model(write):
    """Makes model.npz with write(path), then loads it to score train.csv."""
    def make(folder):
        write(folder / "model.npz")
        return ["--load", "model.npz", "--test-csv", "train.csv"]
    return make


def truncated_model(path):
    nn.save_model(str(path), nn.initialize_parameters([784, 8, 10], np.random.default_rng(0)))
    path.write_bytes(path.read_bytes()[:2000])


def new_file(name, content=b"", *, folder=False):
    """Makes a file (or a folder) of that name; it is passed to --csv."""
    def make(directory):
        (directory / name).mkdir() if folder else (directory / name).write_bytes(content)
        return ["--csv", name]
    return make


# case: (the flags, or what makes the folder's bad file and returns them; what the error names)
BAD_INPUTS = {
    "missing csv": (["--csv", "missing.csv"], "missing.csv"),
    "folder as csv": (new_file("data", folder=True), "data"),
    "no label column": (bad_csv(*[GOOD_ROW[2:]] * 3, header=HEADER[len("label,"):]), "label"),
    "783 pixel columns": (bad_csv(GOOD_ROW[:-2], header=HEADER.rsplit(",", 1)[0]), "783"),
    "a cell abc": (bad_csv(GOOD_ROW.replace(",0,", ",abc,", 1)), "abc"),
    "a blank cell": (bad_csv(GOOD_ROW.replace(",0,", ",,", 1)), "row 22"),
    "a pixel 300": (bad_csv(GOOD_ROW.replace(",0,", ",300,", 1)), "300"),
    "a label 10": (bad_csv("10" + GOOD_ROW[1:]), "10"),
    "a label 2.5": (bad_csv("2.5" + GOOD_ROW[1:]), "2.5"),
    "a row too long": (bad_csv(GOOD_ROW + ",0"), "bad.csv"),
    "garbage bytes": (new_file("x.csv", bytes(range(256)) * 40), "x.csv"),
    "an empty file": (new_file("empty.csv"), "empty.csv"),
    "load a csv as model": (bad_model(lambda path: path.write_text(GOOD_ROW)), "model.npz"),
    "load a pickle": (bad_model(lambda path: save_pickled_model(path, path.parent / "pwned")),
                      "model.npz"),
    "load a truncated model": (bad_model(truncated_model), "model.npz"),
    "save into a missing folder": (["--save", "no/such/model.npz"], "no/such/model.npz"),
    "save onto the training csv": (["--save", "train.csv"], "train.csv"),
    "predict a csv named submission.csv": (
        lambda d: [(d / "submission.csv").write_text(HEADER[6:] + "\n"), "--predict",
                   "submission.csv"][1:], "submission.csv"),
    "save as a folder": (lambda d: (d / "models").mkdir() or ["--save", "models"], "models"),
    "epochs -1": (["--epochs", "-1"], "argument --epochs"),
    "lr nan": (["--lr", "nan"], "argument --lr"),
    "dropout 1": (["--dropout", "1"], "argument --dropout"),
    "hidden 0": (["--hidden", "0"], "argument --hidden"),
}


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else "folder"
            for p in folder.rglob("*")}


def run_bad_input(case, folder):
    """Write the folder's files, run the script on the case: (result, before, after)."""
    (folder / "train.csv").write_text("\n".join([HEADER] + [GOOD_ROW] * 20) + "\n")
    make = BAD_INPUTS[case][0]
    args = make(folder) if callable(make) else list(make)
    args += [] if "--csv" in args else ["--csv", "train.csv"]
    before = snapshot(folder)
    result = run_script(*args, "--epochs", "1", cwd=folder, timeout=120)
    return result, before, snapshot(folder)


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every BAD_INPUTS case, run by the real script 4 at a time (each is a Python start-up)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        yield {case: pool.submit(run_bad_input, case, tmp_path_factory.mktemp("bad"))
               for case in BAD_INPUTS}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_error_line_exit_status_2_and_writes_nothing(case, bad_input_runs):
    result, before, after = bad_input_runs[case].result()
    lines, words = result.stderr.strip().splitlines(), BAD_INPUTS[case][1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    if words.startswith("argument "):                     # argparse: the usage, then the error
        assert f"error: {words}" in lines[-1], result.stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert words in lines[0], f"the error should name {words!r}: {lines[0]}"
    assert after == before, "a refused run must leave the folder as it was"


def test_two_modes_at_once_are_refused_and_image_adds_up_and_another_flag_twice_takes_the_last(
        capsys):
    with pytest.raises(SystemExit) as refused:
        nn.parse_args(["--toy", "xor", "--check-gradients"])
    assert refused.value.code == 2 and "not allowed with" in capsys.readouterr().err
    args = nn.parse_args(["--image", "a.png", "--image", "b.png", "c.png", "--epochs", "3",
                          "--epochs", "5"])
    assert args.image == ["a.png", "b.png", "c.png"] and args.epochs == 5


def test_a_diverging_run_exits_2_with_advice_in_one_line_and_saves_nothing(small_csv, tmp_path):
    result = run_script("--csv", small_csv, "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3",
                        "--no-plot", "--save", "model.npz", cwd=tmp_path)
    assert result.returncode == 2 and "smaller learning rate" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, (
        "one line, with no RuntimeWarnings before it (np.errstate around the training?):\n"
        + result.stderr)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_in_training_keeps_the_best_model_prints_the_closing_lines_exits_130(
        small_csv, tmp_path, signal_name):
    # A child inherits an ignored SIGINT (a shell's background job) and would ignore Ctrl-C.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    process = subprocess.Popen([sys.executable, "-u", SCRIPT, "--csv", small_csv, "--epochs",
                                "100000", "--hidden", "16", "--no-plot", "--save", "model.npz"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    if ignored is not None:
        signal.signal(signal.SIGINT, ignored)
    epoch_lines = 0
    while epoch_lines < 2 and process.poll() is None:       # epoch 1 is surely kept by now
        epoch_lines += process.stdout.readline().startswith("epoch")
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    lines = out.strip().splitlines()
    assert lines[-2].startswith("validation accuracy: ") and lines[-1].startswith("train seconds")
    assert "using the network of epoch" in out, out
    assert nn.load_model(str(tmp_path / "model.npz"))[0]["W1"].shape == (784, 16)
    assert os.listdir(tmp_path) == ["model.npz"], "no temporary file left behind"


@pytest.mark.parametrize("extra, pictures", [
    ([], ["confusion_matrix.png", "first_layer_weights.png", "predictions.png",
          "training_curves.png"]),
    (["--diagnose", "--robustness", "--explain"],
     ["confusion_matrix.png", "first_layer_weights.png", "predictions.png", "robustness.png",
      "saliency.png", "training_curves.png", "training_health.png"])], ids=["default", "extras"])
def test_a_short_run_on_a_headless_machine_writes_its_pictures_each_named_by_a_line(
        extra, pictures, small_csv, tmp_path, monkeypatch, capsys):
    status, out, err = run_main(["--csv", small_csv, "--epochs", "1", "--hidden", "16", *extra],
                                tmp_path, monkeypatch, capsys)
    assert status == 0, err
    named = [line.split(": ", 1)[1] for line in out.splitlines()
             if line.startswith("picture saved: ")]
    assert sorted(named) == pictures and sorted(os.listdir(tmp_path)) == pictures
    for name in pictures:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    lines = out.strip().splitlines()
    assert lines[-2].startswith("validation accuracy: ") and lines[-1].startswith("train seconds")
    assert ("training health: " in out) == ("--diagnose" in extra)


def test_a_network_saved_by_one_run_gives_the_same_test_accuracy_when_loaded_by_another(
        small_csv, tmp_path, monkeypatch, capsys):
    status, trained, err = run_main(["--csv", small_csv, "--epochs", "2", "--hidden", "16",
                                     "--no-plot", "--save", "m.npz", "--test-csv", small_csv],
                                    tmp_path, monkeypatch, capsys)
    assert status == 0, err
    status, loaded, err = run_main(["--load", "m.npz", "--test-csv", small_csv, "--no-plot",
                                    "--predict", small_csv],
                                   tmp_path, monkeypatch, capsys)
    assert status == 0, err
    test_accuracy = [[line for line in out.splitlines() if line.startswith("test accuracy: ")]
                     for out in (trained, loaded)]
    assert test_accuracy[0] == test_accuracy[1] != []
    params, _ = nn.load_model(str(tmp_path / "m.npz"))
    expected = nn.get_predictions(params, nn.scale_pixels(nn.load_digits_csv(small_csv)[0]))
    assert (tmp_path / "submission.csv").read_text().splitlines() == ["ImageId,Label"] + [
        f"{i},{k}" for i, k in enumerate(expected, 1)], "a Kaggle submission numbers from 1"


def test_check_gradients_exits_0_and_says_the_check_passed(tmp_path, monkeypatch, capsys):
    status, out, _ = run_main(["--check-gradients", "--no-plot"], tmp_path, monkeypatch, capsys)
    assert status == 0 and "gradient check passed" in out, out


def test_check_gradients_returns_1_when_backpropagation_is_wrong(tmp_path, monkeypatch, capsys):
    right = nn.backward_propagation

    def forgets_the_dropout_mask(params, cache, dZ, *args, **kwargs):
        return right(params, {k: v for k, v in cache.items() if not k.startswith("M")}, dZ,
                     *args, **kwargs)
    monkeypatch.setattr(nn, "backward_propagation", forgets_the_dropout_mask)
    status, out, _ = run_main(["--check-gradients", "--no-plot"], tmp_path, monkeypatch, capsys)
    assert status == 1 and "gradient check FAILED" in out, out


@pytest.mark.parametrize("what", ["architectures", "learning-rates"])
def test_the_comparisons_print_a_row_per_setting(what, small_csv, tmp_path, monkeypatch, capsys):
    status, out, err = run_main(["--csv", small_csv, "--compare", what, "--epochs", "1",
                                 "--no-plot"],
                                tmp_path, monkeypatch, capsys)
    assert status == 0, err
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert len(rows) == 5, out
    assert all(0 <= float(row[-2]) <= 1 or math.isnan(float(row[-2])) for row in rows), out


# --- your own pictures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_model(digits, tmp_path_factory):
    """A 784-128-10 network trained for 4 epochs (augmented, so it forgives a pixel's shift)
    on the shipped digits, saved: (path, params)."""
    X_train, y_train, _, _ = digits
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([784, 128, 10], rng)
    nn.gradient_descent(params, X_train, y_train, 4, 64, 0.002, rng,
                        options=dict(transform=nn.augment_first_epochs(4)))
    path = str(tmp_path_factory.mktemp("model") / "digits.npz")
    nn.save_model(path, params, "relu")
    return path, params


def save_png(path, gray):
    """gray (H, W) in 0..1 (1 = white paper), written as an 8-bit grayscale PNG."""
    from PIL import Image
    Image.fromarray(np.rint(255 * gray).astype(np.uint8), mode="L").save(path)
    return str(path)


def test_load_with_image_reads_validation_digits_drawn_dark_on_white_and_enlarged_8x(
        trained_model, digits, tmp_path, monkeypatch, capsys):
    path, params = trained_model
    _, _, X_val, y_val = digits
    P, _ = nn.forward_propagation(X_val, params)
    sure = (P.max(axis=1) > 0.99) & (P.argmax(axis=1) == y_val)
    chosen = [int(np.flatnonzero(sure & (y_val == k))[0]) for k in range(10)]
    pictures = [save_png(tmp_path / f"digit{k}.png", 1 - np.kron(
        X_val[i].reshape(28, 28), np.ones((8, 8)))) for k, i in enumerate(chosen)]
    status, out, err = run_main(["--load", path, "--image", *pictures], tmp_path, monkeypatch,
                                capsys)
    assert status == 0, err
    read = [int(line.split(": prediction ")[1].split()[0]) for line in out.splitlines()
            if ": prediction " in line]
    assert read == list(range(10)), (
        f"digits 0..9 read as {read}: preprocess_digit_image should give white ink on black, "
        "the digit in a 20 x 20 box, centred by mass in 28 x 28, values 0..1")
    assert "picture saved: my_digits.png" in out


def test_preprocessing_puts_the_centre_of_mass_of_the_ink_near_the_centre(tmp_path):
    page = np.ones((120, 90))
    page[10:40, 60:63] = 0.0                                   # an L near a corner: its centre
    page[37:40, 60:75] = 0.0                                   # of mass is not its box's centre
    digit = nn.preprocess_digit_image(save_png(tmp_path / "L.png", page))
    assert digit.shape == (784,) and digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() <= 1 and digit.max() > 0.5, "ink is near 1"
    rows, cols = np.indices((28, 28))
    image = digit.reshape(28, 28)
    centre = ((rows * image).sum() / image.sum(), (cols * image).sum() / image.sum())
    assert np.allclose(centre, 13.5, atol=1.0), f"centre of mass at {centre}, not (13.5, 13.5)"


# --- the file as a module, as a notebook, and in the README --------------------------------------
def test_importing_the_module_prints_nothing_and_writes_nothing(tmp_path):
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location("
            "'nn_from_scratch', sys.argv[1]); spec.loader.exec_module("
            "importlib.util.module_from_spec(spec))")
    result = subprocess.run([sys.executable, "-c", code, SCRIPT], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result
    assert os.listdir(tmp_path) == []


def test_the_file_runs_cell_by_cell_as_a_notebook_kernel_runs_it(tmp_path, monkeypatch, capsys):
    """What Jupyter does with the file's cells: every cell in order, in one namespace named
    __main__, with no __file__ and the kernel's own argv. train.csv: its first 2000 digits."""
    with open(os.path.join(HERE, "train.csv")) as source:
        (tmp_path / "train.csv").write_text("".join(source.readline() for _ in range(2001)))
    cells = re.split(r"^# %%.*$", open(SCRIPT, encoding="utf-8").read(), flags=re.M)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel-1234.json"])
    namespace = {"__name__": "__main__"}
    for cell in cells:
        exec(compile(cell, SCRIPT, "exec"), namespace)
    out = capsys.readouterr().out
    assert "W1 (784, 256)" in out and "A2 (64, 128)" in out and "P (64, 10)" in out
    assert abs(float(out.split("loss before training: ")[1].split()[0]) - np.log(10)) < 0.3
    assert float(out.split("validation accuracy: ")[1].split()[0]) > 0.85
    assert os.listdir(tmp_path) == ["train.csv"], "the notebook cells wrote a file"


def test_the_readmes_python_blocks_run_in_order(tmp_path, monkeypatch, capsys):
    readme = open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)                            # a project folder of its own
    os.symlink(os.path.join(HERE, "train.csv"), tmp_path / "train.csv")
    monkeypatch.setitem(sys.modules, "nn_from_scratch", nn)
    namespace = {"__name__": "readme"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md, python block {number}", "exec"), namespace)
