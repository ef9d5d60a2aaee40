"""Tests for nn_from_scratch.py; each name is a sentence about behaviour. Run: python -m pytest -q"""
import argparse
import functools
import gzip
import io
import math
import os
import signal
import subprocess
import sys
import tarfile
import zipfile

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")     # as the script does: small products, busy machines
import numpy as np                           # noqa: E402 (the threads are set before NumPy loads)
import pytest                                # noqa: E402

import nn_from_scratch as nn                 # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "nn_from_scratch.py")
HEADER = "label," + ",".join(f"pixel{i}" for i in range(nn.NUM_PIXELS))


def run_cli(*args, cwd=None):
    """Run the script as a user would; return the finished process (text output)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)    # generous: machines get busy


def write_csv(path, X, y=None):
    """Write images (and labels) in the Kaggle layout; return the path as a string."""
    with open(path, "w") as f:
        f.write((HEADER if y is not None else HEADER[len("label,"):]) + "\n")
        for i, row in enumerate(X):
            cells = ([str(y[i])] if y is not None else []) + [str(v) for v in row]
            f.write(",".join(cells) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """The first 300 rows of the shipped train.csv: real digits, quick to train on."""
    path = tmp_path_factory.mktemp("data") / "small.csv"
    with open(os.path.join(HERE, "train.csv")) as source, open(path, "w") as out:
        for _ in range(301):
            out.write(source.readline())
    return str(path)


def model_of(params, activation="relu", head="softmax"):
    return {"params": params, "activation": activation, "head": head}


def small_float64_net(rng, sizes=(5, 4, 3, 3), init="he"):
    """A tiny float64 network and 6 random examples, for gradient checks."""
    params = nn.initialize_parameters(list(sizes), rng, dtype=np.float64, init=init)
    X, y = rng.normal(size=(6, sizes[0])), np.array([0, 2, 1, 2, 0, 1])
    return params, X, y


# --- the core ----------------------------------------------------------------------------
def test_backpropagation_passes_the_gradient_check_for_every_parameter_of_a_two_hidden_layer_net():
    params, X, y = small_float64_net(np.random.default_rng(0))
    P, cache = nn.forward_propagation(X, params)
    grads = nn.backward_propagation(params, cache, nn.cross_entropy_backward(P, y))
    errors = nn.gradient_check(lambda p: nn.cross_entropy(nn.forward_propagation(X, p)[0], y),
                               params, grads)
    assert set(errors) == set(params)
    assert max(errors.values()) < 1e-6, errors


def test_the_gradient_check_catches_a_backward_pass_with_a_planted_bug():
    params, X, y = small_float64_net(np.random.default_rng(0))
    P, cache = nn.forward_propagation(X, params)
    dZ_without_the_mean = nn.cross_entropy_backward(P, y) * len(y)     # forgot the 1/N
    wrong = nn.backward_propagation(params, cache, dZ_without_the_mean)
    errors = nn.gradient_check(lambda p: nn.cross_entropy(nn.forward_propagation(X, p)[0], y),
                               params, wrong)
    assert min(errors.values()) > 0.1, errors


def test_softmax_and_cross_entropy_gradient_is_p_minus_y_over_n_by_central_differences():
    rng = np.random.default_rng(12)
    Z, y = rng.normal(size=(4, 3)), np.array([1, 0, 2, 1])
    numeric = np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        up, down = Z.copy(), Z.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (nn.cross_entropy(nn.softmax(up), y)
                          - nn.cross_entropy(nn.softmax(down), y)) / 2e-6
    P, Y = nn.softmax(Z), nn.one_hot(y, 3, np.float64)
    np.testing.assert_allclose(nn.cross_entropy_backward(P, y), numeric, atol=1e-8)
    np.testing.assert_allclose(nn.cross_entropy_backward(P, y), (P - Y) / 4)


def test_softmax_is_finite_and_sums_to_one_on_huge_logits():
    P = nn.softmax(np.array([[1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0]]))
    assert np.all(np.isfinite(P))
    assert np.allclose(P.sum(axis=1), 1.0)
    assert np.allclose(P[1], 1 / 3)


def test_one_hot_keeps_all_classes_when_a_batch_lacks_some():
    Y = nn.one_hot(np.array([0, 3, 3]), num_classes=10)
    assert Y.shape == (3, 10)
    assert Y[:, 9].sum() == 0 and Y[1, 3] == 1 and Y.sum() == 3


def test_forward_propagation_gives_one_probability_row_per_example():
    rng = np.random.default_rng(1)
    params = nn.initialize_parameters([784, 16, 10], rng)
    P, _ = nn.forward_propagation(rng.random((7, 784), dtype=np.float32), params)
    assert P.shape == (7, 10) and P.dtype == np.float32
    assert np.allclose(P.sum(axis=1), 1.0, atol=1e-5)


def test_network_overfits_twenty_random_examples():
    rng = np.random.default_rng(2)
    X = rng.random((20, 30)).astype(np.float32)
    y = rng.integers(0, 10, 20)
    params = nn.initialize_parameters([30, 64, 10], rng)
    params = nn.gradient_descent(params, X, y, num_epochs=300, batch_size=20,
                                 learning_rate=0.01, rng=rng)
    P, _ = nn.forward_propagation(X, params)
    assert nn.get_accuracy(nn.get_predictions(params, X), y) == 1.0
    assert nn.cross_entropy(P, y) < 0.05


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adagrad", "adam"])
def test_each_update_rule_lowers_the_loss(optimizer):
    rng = np.random.default_rng(3)
    X = rng.random((64, 20)).astype(np.float32)
    y = (X[:, 0] > X[:, 1]).astype(int)
    params = nn.initialize_parameters([20, 16, 2], rng)
    before = nn.cross_entropy(nn.forward_propagation(X, params)[0], y)
    params = nn.gradient_descent(params, X, y, num_epochs=20, batch_size=16,
                                 learning_rate={"sgd": 0.5, "momentum": 0.5, "rmsprop": 0.01,
                                                "adagrad": 0.1, "adam": 0.01}[optimizer],
                                 rng=rng, optimizer=nn.OPTIMIZERS[optimizer])
    assert nn.cross_entropy(nn.forward_propagation(X, params)[0], y) < 0.7 * before


def textbook_steps(rule, W, gradients, learning_rate):
    """Each update rule written out plainly, as the courses give it, one step per gradient."""
    v, s = np.zeros_like(W), np.zeros_like(W)
    for g in gradients:
        if rule == "sgd":
            W = W - learning_rate * g
        elif rule == "momentum":
            v = 0.9 * v + 0.1 * g
            W = W - learning_rate * v
        elif rule == "adagrad":
            s = s + g ** 2
            W = W - learning_rate * g / (np.sqrt(s) + 1e-8)
        elif rule == "rmsprop":
            s = 0.9 * s + 0.1 * g ** 2
            W = W - learning_rate * g / (np.sqrt(s) + 1e-8)
    return W


@pytest.mark.parametrize("rule", ["sgd", "momentum", "adagrad", "rmsprop"])
def test_each_update_rule_takes_the_steps_its_formula_gives(rule):
    rng = np.random.default_rng(20)
    W = rng.normal(size=(4, 3))
    gradients = [rng.normal(size=W.shape) * 10.0 ** rng.integers(-3, 2) for _ in range(6)]
    params, state = {"W": W.copy()}, {}
    for g in gradients:
        nn.OPTIMIZERS[rule](params, {"W": g}, 0.05, state)
    np.testing.assert_allclose(params["W"], textbook_steps(rule, W, gradients, 0.05), rtol=1e-12)


def test_an_epoch_of_gradient_descent_is_the_same_steps_done_one_by_one():
    rng = np.random.default_rng(7)
    X, y = rng.random((50, 12)).astype(np.float32), rng.integers(0, 3, 50)
    params = nn.initialize_parameters([12, 8, 3], rng)
    by_hand = {key: W.copy() for key, W in params.items()}
    nn.gradient_descent(params, X, y, 1, 16, 0.1, np.random.default_rng(1),
                        optimizer=nn.update_parameters)
    order = np.random.default_rng(1).permutation(50)
    for start in range(0, 50, 16):                      # batches of 16, 16, 16 and 2
        batch = order[start:start + 16]
        P, cache = nn.forward_propagation(X[batch], by_hand)
        grads = nn.backward_propagation(by_hand, cache, nn.cross_entropy_backward(P, y[batch]))
        for key in by_hand:
            by_hand[key] = by_hand[key] - 0.1 * grads[key]
    for key in params:
        np.testing.assert_allclose(params[key], by_hand[key], rtol=1e-5, atol=1e-6)


def test_adam_takes_the_same_steps_as_kingma_and_ba_write_it():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(5, 3))
    params, state = {"W": W.copy()}, {}
    m = v = np.zeros_like(W)
    for t in range(1, 8):
        g = rng.normal(size=W.shape) * 10.0 ** rng.integers(-6, 2)   # tiny to large gradients
        m = 0.9 * m + 0.1 * g                                  # the paper's Algorithm 1
        v = 0.999 * v + 0.001 * g ** 2
        W = W - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        nn.update_parameters_with_adam(params, {"W": g}, 0.01, state)
        np.testing.assert_allclose(params["W"], W, rtol=1e-12, atol=1e-15)

def test_the_in_place_adam_takes_the_same_steps_as_the_textbook_adam():
    rng = np.random.default_rng(9)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    textbook, in_place = {k: W.copy() for k, W in params.items()}, params
    state_a, state_b = {}, {}
    for _ in range(10):
        grads = {k: rng.normal(size=W.shape) * 10.0 ** rng.integers(-5, 2)
                 for k, W in params.items()}
        nn.update_parameters_with_adam(textbook, grads, 0.01, state_a)
        nn.update_parameters_with_adam_in_place(in_place, grads, 0.01, state_b)
    for key in params:
        np.testing.assert_allclose(in_place[key], textbook[key], rtol=1e-12, atol=1e-15)


def test_momentum_is_the_running_mean_of_gradients_as_the_courses_write_it():
    rng = np.random.default_rng(5)
    W = rng.normal(size=(4, 2))
    params, state, v = {"W": W.copy()}, {}, np.zeros_like(W)
    for _ in range(5):
        g = rng.normal(size=W.shape)
        v = 0.9 * v + 0.1 * g
        W = W - 0.3 * v
        nn.update_parameters_with_momentum(params, {"W": g}, 0.3, state)
        np.testing.assert_allclose(params["W"], W, rtol=1e-12)


def test_a_callback_sees_the_network_as_it_is_after_each_epoch():
    rng = np.random.default_rng(6)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    seen = []
    nn.gradient_descent(params, X, y, 3, 8, 0.01, rng,
                        on_epoch=lambda epoch, p, stats: seen.append((stats, p["W1"].copy())))
    assert [stats["epoch"] for stats, _ in seen] == [1, 2, 3]
    assert not np.array_equal(seen[0][1], seen[1][1])           # it changed between epochs
    np.testing.assert_array_equal(seen[-1][1], params["W1"])    # and it is what was returned


def test_same_seed_gives_identical_parameters_and_another_seed_does_not():
    def trained(seed):
        rng = np.random.default_rng(seed)
        X = rng.random((50, 784)).astype(np.float32)
        y = rng.integers(0, 10, 50)
        params = nn.initialize_parameters([784, 8, 10], rng)
        return nn.gradient_descent(params, X, y, 2, 10, 0.01, rng,
                                   transform=nn.augment_first_epochs(2))
    first, again, other = trained(5), trained(5), trained(6)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["W1"], other["W1"])


def test_he_initialisation_keeps_activations_at_unit_scale_through_depth():
    rng = np.random.default_rng(4)
    params = nn.initialize_parameters([784, 256, 256, 256, 10], rng)
    _, cache = nn.forward_propagation(rng.normal(size=(500, 784)).astype(np.float32), params)
    assert 0.5 < np.mean(cache["Z3"] ** 2) < 2.0


def test_random_affine_with_no_range_returns_the_images_unchanged():
    X = np.random.default_rng(5).random((3, 784)).astype(np.float32)
    same = nn.random_affine(X, np.random.default_rng(0), 0.0, 0.0, 0.0)
    assert np.allclose(same, X, atol=1e-5)


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
    transform = nn.augment_first_epochs(9)
    for epoch in range(1, 10):
        out = transform(X, epoch, np.random.default_rng(epoch))
        assert np.array_equal(out, X) == (epoch > 6), epoch


def test_split_rounds_the_held_out_share_to_the_nearest_row():
    X, y = np.zeros((10, 3)), np.zeros(10, int)
    for fraction, expected in [(0.15, 2), (0.14, 1), (0.26, 3), (0.5, 5)]:
        _, _, X_val, _ = nn.split_train_val(X, y, fraction, np.random.default_rng(0))
        assert len(X_val) == expected, fraction


def test_epoch_stats_are_the_loss_and_accuracy_over_every_training_row():
    rng = np.random.default_rng(31)
    X, y = rng.random((50, 6)), rng.integers(0, 3, 50)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    P, _ = nn.forward_propagation(X, params)
    seen = []
    nn.gradient_descent(params, X, y, 1, 16, 0.0, rng, optimizer=nn.update_parameters,
                        on_epoch=lambda epoch, p, stats: seen.append(stats))
    assert seen[0]["loss"] == pytest.approx(nn.cross_entropy(P, y))     # lr 0: params fixed
    assert seen[0]["train_accuracy"] == pytest.approx(nn.get_accuracy(P.argmax(axis=1), y))


def test_split_holds_out_the_fraction_and_shares_no_row_between_the_parts():
    X, y = np.arange(200).reshape(100, 2), np.arange(100) % 10
    X_train, y_train, X_val, y_val = nn.split_train_val(X, y, 0.2, np.random.default_rng(0))
    assert len(X_val) == 20 and len(X_train) == 80
    rows = np.concatenate([X_train[:, 0], X_val[:, 0]])
    assert sorted(rows.tolist()) == list(range(0, 200, 2))          # every row once, none twice
    assert np.array_equal(y_train, (X_train[:, 0] // 2) % 10)       # labels travel with rows
    assert not np.array_equal(X_val[:, 0], np.arange(0, 40, 2))     # shuffled, not the first 20


def test_random_affine_moves_ink_but_keeps_most_of_it():
    X = np.zeros((1, 784), np.float32)
    X[0, 10 * 28 + 10: 10 * 28 + 18] = 1.0               # a short bar
    moved = nn.random_affine(X, np.random.default_rng(7))
    assert not np.allclose(moved, X)
    assert 0.7 < moved.sum() / X.sum() < 1.3


def test_accuracy_of_perfect_predictions_is_one():
    assert nn.get_accuracy(np.array([1, 2, 3]), np.array([1, 2, 3])) == 1.0
    assert nn.get_accuracy(np.array([1, 2, 3]), np.array([1, 0, 0])) == pytest.approx(1 / 3)


def test_loading_the_shipped_csv_gives_ten_thousand_uint8_digits():
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))


def test_importing_the_module_prints_nothing_and_writes_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); "
                             "import nn_from_scratch"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_trains_end_to_end_and_prints_both_closing_lines(small_csv):
    result = run_cli("--csv", small_csv, "--epochs", "3", "--hidden", "32", "--no-plot",
                     "--test-csv", small_csv)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2].startswith("validation accuracy: ") and len(lines[-2].split()[-1]) == 6
    assert lines[-1].startswith("train seconds: ")
    assert any(line.startswith("test accuracy: ") for line in lines)
    assert float(lines[-2].split()[-1]) > 0.3                # far better than 0.1 guessing


def test_cli_saves_both_pictures_on_a_headless_machine(small_csv, tmp_path):
    result = run_cli("--csv", small_csv, "--epochs", "1", "--hidden", "16",
                     "--plot-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("predictions.png", "training_curves.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_same_seed_gives_the_same_cli_output(small_csv):
    runs = [run_cli("--csv", small_csv, "--epochs", "2", "--hidden", "16", "--no-plot")
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    strip_times = [[line.split("  ")[:5] for line in r.stdout.splitlines()
                    if line.startswith("epoch")] for r in runs]
    assert len(strip_times[0]) == 2 and strip_times[0] == strip_times[1]
    assert runs[0].stdout.splitlines()[-2] == runs[1].stdout.splitlines()[-2]


# --- everything the classic projects teach (opt-in) -----------------------------------------
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("head", ["softmax", "sigmoid", "mse", "mae"])
def test_backpropagation_passes_the_gradient_check_for_each_activation_and_head(activation, head):
    errors = nn.check_gradients_of_small_network(activation, head, seed=10)
    assert max(errors.values()) < 1e-6, errors


def test_backpropagation_passes_the_gradient_check_with_l1_l2_and_dropout():
    for seed in range(3):
        errors = nn.check_gradients_of_small_network(dropout=0.3, l1=0.01, l2=0.05, seed=seed)
        assert max(errors.values()) < 1e-6, (seed, errors)


def test_dropout_zeroes_some_units_and_scales_the_rest_to_keep_the_mean():
    rng = np.random.default_rng(11)
    params = nn.initialize_parameters([20, 400, 3], rng, dtype=np.float64)
    params["b1"] += 1.0                                   # every unit active before dropout
    X = rng.normal(size=(50, 20)) * 0.01
    _, plain = nn.forward_propagation(X, params)
    _, dropped = nn.forward_propagation(X, params, dropout=0.3, rng=rng)
    share_dropped = np.mean(dropped["A1"] == 0)
    assert 0.25 < share_dropped < 0.35
    assert dropped["A1"].mean() == pytest.approx(plain["A1"].mean(), rel=0.05)


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


def test_learning_rate_schedules_follow_their_formulas_at_every_step():
    steps = np.arange(100)
    cosine = [nn.cosine_schedule(t, 100) for t in steps]
    np.testing.assert_allclose(cosine, (1 + np.cos(np.pi * steps / 100)) / 2)
    step = [nn.step_schedule(t, 100) for t in steps]
    np.testing.assert_allclose(step, np.where(steps < 50, 1.0, np.where(steps < 75, 0.1, 0.01)))
    inverse = [nn.inverse_schedule(t, 100, decay=0.1) for t in steps]
    np.testing.assert_allclose(inverse, 1 / (1 + 0.1 * steps))


def test_the_network_learns_xor_with_a_sigmoid_output():
    rng = np.random.default_rng(13)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    params = nn.initialize_parameters([2, 8, 1], rng, dtype=np.float64, init="xavier")
    params = nn.gradient_descent(params, X, Y, 500, 4, 0.05, rng,
                                 **nn.network_functions("tanh", "sigmoid"))
    A, _ = nn.forward_propagation(X, params, nn.tanh, nn.sigmoid)
    assert np.array_equal(A > 0.5, Y > 0.5)
    assert nn.binary_cross_entropy(A, Y) < 0.1


def test_the_network_fits_a_sine_curve_with_a_linear_output():
    rng = np.random.default_rng(14)
    X = np.linspace(-np.pi, np.pi, 64)[:, None]
    Y = np.sin(X)
    params = nn.initialize_parameters([1, 32, 32, 1], rng, dtype=np.float64, init="xavier")
    params = nn.gradient_descent(params, X, Y, 600, 16, 0.01, rng, schedule=nn.cosine_schedule,
                                 **nn.network_functions("tanh", "mse"))
    A, _ = nn.forward_propagation(X, params, nn.tanh, nn.identity)
    assert nn.mean_squared_error(A, Y) < 0.005                # sin varies by +-1


def test_xavier_keeps_tanh_activations_away_from_saturation():
    rng = np.random.default_rng(15)
    params = nn.initialize_parameters([784, 256, 256, 10], rng, init="xavier")
    X = rng.normal(size=(200, 784)).astype(np.float32)
    _, cache = nn.forward_propagation(X, params, nn.tanh)
    assert np.mean(np.abs(cache["A2"]) > 0.99) < 0.05


def test_keep_best_remembers_a_copy_of_the_best_epoch():
    best, params = {}, {"W1": np.zeros(2)}
    assert nn.keep_best(best, 1, params, 0.5) == 0
    params["W1"] += 1
    assert nn.keep_best(best, 2, params, 0.4) == 1
    assert best["epoch"] == 1 and np.array_equal(best["params"]["W1"], np.zeros(2))
    assert nn.keep_best(best, 3, params, 0.5) == 2            # a tie is no improvement
    assert best["epoch"] == 1


def test_saved_model_loads_back_with_bit_identical_predictions(tmp_path):
    rng = np.random.default_rng(16)
    params = nn.initialize_parameters([784, 12, 10], rng, init="xavier")
    path = str(tmp_path / "model.npz")
    nn.save_model(path, {"params": params, "activation": "tanh", "head": "softmax"})
    loaded = nn.load_model(path)
    X = rng.random((50, 784), dtype=np.float32)
    assert (loaded["activation"], loaded["head"]) == ("tanh", "softmax")
    assert np.array_equal(nn.forward_propagation(X, params, nn.tanh)[0],
                          nn.predict_probabilities(loaded, X))


def test_confusion_matrix_counts_pairs_and_gives_per_class_accuracy():
    C = nn.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 4)
    assert C[0, 0] == 1 and C[0, 1] == 1 and C.sum() == 4
    accuracy = nn.per_class_accuracy(C)
    assert accuracy[:3].tolist() == [0.5, 1.0, 1.0] and np.isnan(accuracy[3])


@pytest.fixture(scope="module")
def digits():
    """The shipped digits, split and scaled once for the tests that need real data."""
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    X_train, y_train, X_val, y_val = nn.split_train_val(X, y, 0.1, np.random.default_rng(0))
    return nn.scale_pixels(X_train), y_train, nn.scale_pixels(X_val), y_val


def test_accuracy_falls_as_pixel_noise_grows(digits):
    X_train, y_train, X_val, y_val = digits
    rng = np.random.default_rng(17)
    params = nn.initialize_parameters([784, 64, 10], rng)
    params = nn.gradient_descent(params, X_train[:3000], y_train[:3000], 3, 64, 0.002, rng)
    accuracies = nn.accuracy_under_noise(model_of(params), X_val, y_val, [0, 0.2, 0.5], rng)
    assert accuracies[0] > 0.85
    assert accuracies[0] > accuracies[1] > accuracies[2]


def test_noisy_pixels_are_clipped_back_to_0_and_1_as_a_real_image_would_be(monkeypatch):
    ranges = []

    def record(model, X):
        ranges.append((X.min(), X.max()))
        return np.zeros((len(X), 10))
    monkeypatch.setattr(nn, "predict_probabilities", record)
    X = np.full((50, 784), 0.5, dtype=np.float32)
    nn.accuracy_under_noise({}, X, np.zeros(50, int), [0.0, 2.0], np.random.default_rng(0))
    assert ranges == [(0.5, 0.5), (0.0, 1.0)]


def test_cli_early_stopping_keeps_the_best_epoch(small_csv):
    result = run_cli("--csv", small_csv, "--epochs", "30", "--hidden", "8", "--no-plot",
                     "--patience", "1", "--lr", "0.05")
    assert result.returncode == 0, result.stderr
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    val_accuracies = [float(line.split("val acc ")[1].split()[0]) for line in epochs]
    best = int(np.argmax(val_accuracies))                 # the first epoch with the best score
    assert len(epochs) == best + 2                         # patience 1: one epoch past the best
    assert f"using the parameters of epoch {best + 1}, " in result.stdout
    final = float(result.stdout.splitlines()[-2].split()[-1])
    assert final == val_accuracies[best]                   # and those parameters are the ones used


@pytest.mark.parametrize("flag", ["--compare-architectures", "--compare-learning-rates"])
def test_cli_comparisons_print_a_row_per_setting(small_csv, flag):
    result = run_cli("--csv", small_csv, flag, "--epochs", "2", "--no-plot")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.strip().splitlines()[1:]]
    assert len(rows) == 5
    accuracies, seconds = [float(row[1]) for row in rows], [float(row[2]) for row in rows]
    assert all(s >= 0 for s in seconds)
    assert max(accuracies) > 0.5 and len(set(accuracies)) > 1     # they learned, differently


def test_validation_digits_are_never_augmented(small_csv, monkeypatch, capsys):
    distorted_batch_sizes = []
    real = nn.random_affine

    def recording(X, rng, *args):
        distorted_batch_sizes.append(len(X))
        return real(X, rng, *args)
    monkeypatch.setattr(nn, "random_affine", recording)
    with pytest.raises(SystemExit) as exit_status:
        nn.run(["--csv", small_csv, "--epochs", "3", "--batch-size", "1000", "--val-fraction",
                "0.5", "--hidden", "8", "--no-plot"])
    assert exit_status.value.code == 0
    assert distorted_batch_sizes == [150, 150]     # 150 training rows, epochs 1 and 2 of 3
    capsys.readouterr()


def test_cli_gradient_check_prints_relative_errors_and_passes():
    result = run_cli("--check-gradients", "--activation", "tanh", "--dropout", "0.2", "--l2", "0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "relative error" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert "gradient check passed" in result.stdout


def test_cli_gradient_check_fails_with_status_1_when_backpropagation_is_wrong(monkeypatch, capsys):
    right = nn.backward_propagation

    def forgets_the_dropout_mask(params, cache, dZ, *args, **kwargs):
        return right(params, {k: v for k, v in cache.items() if not k.startswith("M")}, dZ,
                     *args, **kwargs)
    monkeypatch.setattr(nn, "backward_propagation", forgets_the_dropout_mask)
    with pytest.raises(SystemExit) as exit_status:
        nn.run(["--check-gradients", "--dropout", "0.5"])
    assert exit_status.value.code == 1
    assert "gradient check FAILED" in capsys.readouterr().out


# --- use it: Kaggle submissions, test sets, your own pictures -------------------------------
@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    """The network `python nn_from_scratch.py` trains with its defaults, saved once (~10 s)."""
    path = str(tmp_path_factory.mktemp("model") / "default.npz")
    result = run_cli("--no-plot", "--save", path)
    assert result.returncode == 0, result.stderr
    return path


def digit_as_photo(digit, rng, canvas=(200, 240)):
    """Write a 28x28 digit (0..255) as a person would: dark on white, 3-5x larger, off-centre."""
    factor = int(rng.integers(3, 6))
    big = np.kron(digit.reshape(28, 28) / 255.0, np.ones((factor, factor)))
    big = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1) + np.roll(big, (1, 1), (0, 1))) / 4
    page = np.ones(canvas)
    top, left = rng.integers(0, canvas[0] - big.shape[0]), rng.integers(0, canvas[1] - big.shape[1])
    page[top:top + big.shape[0], left:left + big.shape[1]] = 1 - big
    return page


def save_gray_png(path, image):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(path, image, cmap="gray", vmin=0, vmax=1)
    return str(path)


def test_default_model_reads_digits_written_out_as_pictures(default_model, tmp_path):
    model = nn.load_model(default_model)
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    _, _, X_val, y_val = nn.split_train_val(X, y, 0.1, np.random.default_rng(0))
    rng, correct, count = np.random.default_rng(20), 0, 200
    for i in range(count):
        path = save_gray_png(tmp_path / f"{i}.png", digit_as_photo(X_val[i], rng))
        digit = nn.preprocess_digit_image(nn.load_image_gray(path), path)
        correct += nn.predict(model, digit) == y_val[i]
    assert correct / count >= 0.95


def test_cli_classifies_pictures_in_order_with_a_probability(default_model, tmp_path):
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    rng = np.random.default_rng(21)
    chosen = [int(np.argmax(y == digit)) for digit in (3, 7)]
    paths = [save_gray_png(tmp_path / f"digit{y[i]}.png", digit_as_photo(X[i], rng)) for i in chosen]
    result = run_cli("--load", default_model, "--image", *paths, "--no-plot")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ": prediction " in line]
    assert lines[0].startswith(f"{paths[0]}: prediction 3 (probability ")
    assert lines[1].startswith(f"{paths[1]}: prediction 7 (probability ")
    assert all(0.5 < float(line.split("probability ")[1].rstrip(")")) <= 1 for line in lines)


def test_preprocessing_puts_the_centre_of_mass_at_the_centre():
    page = np.ones((120, 90))
    page[10:40, 60:63] = 0.0                                   # an L near a corner: its centre
    page[37:40, 60:75] = 0.0                                   # of mass is not its box's centre
    digit = nn.preprocess_digit_image(page).reshape(28, 28)
    rows, cols = np.indices(digit.shape)
    assert abs((rows * digit).sum() / digit.sum() - 13.5) <= 0.5
    assert abs((cols * digit).sum() / digit.sum() - 13.5) <= 0.5
    box_rows, box_cols = np.nonzero(digit > 0.1)
    assert abs((box_rows.min() + box_rows.max()) / 2 - 13.5) > 1     # the box is off-centre
    assert digit.max() == pytest.approx(1.0) and max(np.ptp(np.nonzero(digit), axis=1)) + 1 == 20


@pytest.fixture
def random_model(tmp_path):
    path = str(tmp_path / "random.npz")
    nn.save_model(path, model_of(nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))))
    return path


def test_kaggle_submission_has_a_header_and_numbers_images_from_one(random_model, tmp_path):
    X = np.random.default_rng(22).integers(0, 256, (5, 784))
    test_csv = write_csv(tmp_path / "test.csv", X)
    result = run_cli("--load", random_model, "--predict", test_csv, "--out",
                     str(tmp_path / "submission.csv"), "--no-plot")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 6
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4", "5"]
    expected = nn.predict(nn.load_model(random_model), nn.scale_pixels(X))
    assert [int(line.split(",")[1]) for line in lines[1:]] == expected.tolist()


def test_submission_rows_hold_every_prediction_in_order(tmp_path):
    path = str(tmp_path / "submission.csv")
    nn.write_submission(path, np.array([9, 0, 3, 9, 7]))
    assert (tmp_path / "submission.csv").read_text().splitlines() == [
        "ImageId,Label", "1,9", "2,0", "3,3", "4,9", "5,7"]


def test_colour_pictures_turn_gray_as_the_eye_weighs_red_green_and_blue(tmp_path):
    import matplotlib.pyplot as plt
    image = np.zeros((4, 3, 3))
    image[:, 0, 0], image[:, 1, 1], image[:, 2, 2] = 1.0, 1.0, 1.0     # red, green, blue columns
    plt.imsave(tmp_path / "rgb.png", image)
    gray = nn.load_image_gray(str(tmp_path / "rgb.png"))
    np.testing.assert_allclose(gray[0], [0.299, 0.587, 0.114], atol=0.01)


def test_a_label_column_in_the_kaggle_test_file_is_ignored_and_reported(random_model, tmp_path):
    rng = np.random.default_rng(23)
    X = rng.integers(0, 256, (5, 784))
    plain = write_csv(tmp_path / "plain.csv", X)
    labelled = write_csv(tmp_path / "labelled.csv", X, y=[1, 1, 1, 1, 1])
    outputs = []
    for name, csv in (("a.csv", plain), ("b.csv", labelled)):
        result = run_cli("--load", random_model, "--predict", csv, "--out", str(tmp_path / name),
                         "--no-plot")
        assert result.returncode == 0, result.stderr
        outputs.append((tmp_path / name).read_text())
    assert "'label' column; it is ignored" in result.stdout
    assert outputs[0] == outputs[1]


# --- hard to break: one clear sentence, exit status 2, nothing written -------------------
GOOD_ROW = "3," + ",".join(["0"] * 784)


def bad_csv(*rows, header=HEADER, good_rows=20):
    """A function that writes a CSV: good rows, then the given ones; for the table."""
    def make(folder):
        good = [GOOD_ROW] * good_rows if header == HEADER else []
        (folder / "bad.csv").write_text("\n".join([header, *good, *rows]) + "\n")
        return ["--csv", "bad.csv"]
    return make


def file_with(name, content, *flags):
    """A function that writes one file and returns flags naming it."""
    def make(folder):
        (folder / name).write_bytes(content)
        return [*flags, name]
    return make


def npz_with(**arrays):
    def make(folder):
        np.savez(folder / "model.npz", **arrays)
        return ["--load", "model.npz"]
    return make


def truncated_model(folder):
    nn.save_model(str(folder / "model.npz"),
                  model_of(nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))))
    data = (folder / "model.npz").read_bytes()
    (folder / "model.npz").write_bytes(data[:len(data) // 2])
    return ["--load", "model.npz"]


def flags(*values):
    return lambda folder: list(values)


BAD_INPUTS = {
    "missing csv": flags("--csv", "missing.csv"),
    "csv is a folder": lambda folder: (folder / "data").mkdir() or ["--csv", "data"],
    "empty csv": file_with("empty.csv", b"", "--csv"),
    "header only": bad_csv(good_rows=0),
    "wrong number of columns": bad_csv("3,0,0,0", header="label,pixel0,pixel1,pixel2"),
    "non-numeric cell": bad_csv(GOOD_ROW, GOOD_ROW.replace(",0,", ",abc,", 1)),
    "empty cell": bad_csv(GOOD_ROW, GOOD_ROW.replace(",0,", ",,", 1)),
    "short row": bad_csv(GOOD_ROW, GOOD_ROW[:-4]),
    "long row": bad_csv(GOOD_ROW, GOOD_ROW + ",0"),
    "label outside 0..9": bad_csv(GOOD_ROW, "12" + GOOD_ROW[1:]),
    "fractional label": bad_csv(GOOD_ROW, "2.5" + GOOD_ROW[1:]),
    "pixel above 255": bad_csv(GOOD_ROW, GOOD_ROW.replace(",0,", ",300,", 1)),
    "negative pixel": bad_csv(GOOD_ROW, GOOD_ROW.replace(",0,", ",-1,", 1)),
    "no label column": bad_csv(",".join(["0"] * 784), header=HEADER[len("label,"):]),
    "not a csv at all": file_with("photo.csv", bytes(range(256)) * 40, "--csv"),
    "too few rows to validate": bad_csv(GOOD_ROW, good_rows=0),
    "negative epochs": flags("--epochs", "-1"),
    "zero batch size": flags("--batch-size", "0"),
    "zero learning rate": flags("--lr", "0"),
    "nan learning rate": flags("--lr", "nan"),
    "infinite learning rate": flags("--lr", "inf"),
    "dropout of one": flags("--dropout", "1"),
    "negative dropout": flags("--dropout", "-0.1"),
    "negative validation fraction": flags("--val-fraction", "-0.1"),
    "validation fraction one": flags("--val-fraction", "1"),
    "hidden size zero": flags("--hidden", "0"),
    "hidden size not a number": flags("--hidden", "128,abc"),
    "negative hidden size": flags("--hidden", "128,-5"),
    "unknown optimizer": flags("--optimizer", "adamw"),
    "misspelt flag": flags("--epohcs", "3"),
    "missing model": flags("--load", "missing.npz"),
    "truncated model": truncated_model,
    "model that is not an npz": file_with("model.npz", b"label,pixel0\n1,2\n", "--load"),
    "model for other shapes": npz_with(W1=np.zeros((100, 10)), b1=np.zeros(10),
                                       layer_sizes=np.array([100, 10]), activation="relu",
                                       head="softmax"),
    "model missing a layer": npz_with(W1=np.zeros((784, 10)), layer_sizes=np.array([784, 10]),
                                      activation="relu", head="softmax"),
    "missing image": flags("--image", "missing.png"),
    "unreadable image": file_with("digit.png", b"not really a png", "--image"),
    "blank image": file_with("blank.png", b"", "--image"),        # filled in by the test
    "save into a missing folder": flags("--save", "no/such/folder/model.npz"),
    "submission into a missing folder": flags("--predict", "train.csv", "--out", "no/sub.csv"),
    "missing test csv": flags("--test-csv", "missing.csv"),
    "bad test csv": lambda folder: bad_csv(GOOD_ROW, "x" + GOOD_ROW[1:])(folder)[1:] and
    ["--test-csv", "bad.csv"],
    "missing csv to predict": flags("--predict", "missing.csv"),
    "submission over the training data": flags("--predict", "train.csv", "--out", "train.csv"),
    "output onto an input through a link": lambda folder: os.symlink("train.csv", folder / "link.csv")
    or ["--predict", "train.csv", "--out", "link.csv"],
    "two outputs on one path": flags("--predict", "train.csv", "--out", "old.npz"),
    "output that is a device": flags("--save", os.devnull),
    "output path ending in a slash": flags("--save", "models/"),
    "empty output path": flags("--save", ""),
    "empty model path": flags("--load", ""),
    "file name too long": flags("--save", "m" * 300 + ".npz"),
    "csv without a header line": file_with("plain.csv", (GOOD_ROW + "\n").encode() * 20, "--csv"),
    "one value too many on every row": file_with(
        "long.csv", ("\n".join([HEADER] + [GOOD_ROW + ",0"] * 20) + "\n").encode(), "--csv"),
    "trailing commas": file_with(
        "commas.csv", ("\n".join([HEADER + ","] + [GOOD_ROW + ","] * 20) + "\n").encode(), "--csv"),
    "zip with several files, none train.csv": lambda folder: zip_of(folder / "digits.zip",
                                                                   "a.csv", "b.csv")
    and ["--csv", "digits.zip"],
    "excel workbook": lambda folder: zip_of(folder / "book.csv", "[Content_Types].xml")
    and ["--csv", "book.csv"],
    "truncated gzip": lambda folder: (folder / "data.csv.gz").write_bytes(
        gzip.compress(("\n".join([HEADER] + [GOOD_ROW] * 20)).encode())[:300]) and
    ["--csv", "data.csv.gz"],
    "gzip cut short past its first MB": lambda folder: (folder / "big.csv.gz").write_bytes(
        gzip.compress(("\n".join([HEADER] + [GOOD_ROW] * 1000)).encode())[:-10]) and
    ["--csv", "big.csv.gz"],
    "tar archive": lambda folder: tar_of(folder / "data.csv") and ["--csv", "data.csv"],
    "utf-16 csv": file_with("wide.csv", ("\n".join([HEADER] + [GOOD_ROW] * 20)).encode("utf-16"),
                            "--csv"),
    "pipe as csv": lambda folder: os.mkfifo(folder / "pipe.csv") or ["--csv", "pipe.csv"],
    "folder as model": lambda folder: (folder / "m").mkdir() or ["--load", "m"],
    "folder as image": lambda folder: (folder / "pics").mkdir() or ["--image", "pics"],
    "comparison with outputs it would ignore": flags("--compare-architectures"),
    "negative seed": flags("--seed", "-1"),
    "network too big for memory": flags("--hidden", "100000000"),
    "validation fraction that leaves nothing to train": flags("--val-fraction", "0.99"),
    "validation fraction that rounds to every row": flags("--val-fraction", "0.9999"),
    "a first line of over a megabyte": file_with("long.csv", b"label," * 300_000, "--csv"),
    "label 10": bad_csv(GOOD_ROW, "10" + GOOD_ROW[1:]),
    "model with nan weights": npz_with(W1=np.full((784, 10), np.nan), b1=np.zeros(10),
                                       layer_sizes=np.array([784, 10]), activation="relu",
                                       head="softmax"),
    "kaggle submission as training data": file_with(
        "sample_submission.csv", b"ImageId,Label\n1,0\n2,0\n", "--csv"),
    "kaggle test file given to --test-csv": lambda folder: bad_csv(
        ",".join(["0"] * 784), header=HEADER[len("label,"):])(folder)[1:] and
    ["--load", "old.npz", "--test-csv", "bad.csv"],
    "training flag with --load": flags("--load", "old.npz", "--epochs", "3", "--image", "x.png"),
    "--load with nothing to use it on": flags("--load", "old.npz", "--no-plot"),
    "early stopping with nothing held out": flags("--val-fraction", "0", "--patience", "3"),
    "toy points with a digit picture": flags("--toy", "spiral", "--image", "x.png"),
    "saliency of a loaded model": flags("--load", "old.npz", "--explain", "--test-csv",
                                        "train.csv"),
    "diagnosing a loaded model": flags("--load", "old.npz", "--diagnose", "--test-csv",
                                       "train.csv"),
    "toy points with the learning-rate finder": flags("--toy", "xor", "--find-lr"),
}


def zip_of(path, *names):
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "\n".join([HEADER] + [GOOD_ROW] * 20))
    return True


def tar_of(path):
    data = "\n".join([HEADER] + [GOOD_ROW] * 20).encode()
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("train.csv")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return True


# What each message must mention, so that every case fails for its own reason.
EXPECTED = {
    "missing csv": "does not exist", "csv is a folder": "is a folder", "empty csv": "is empty",
    "header only": "no rows", "wrong number of columns": "3 pixel columns",
    "non-numeric cell": "'abc', not a number", "empty cell": "'', not a number",
    "short row": "not a number", "long row": "Expected 785 fields", "label outside 0..9": "label 12",
    "fractional label": "label 2.5", "pixel above 255": "holds 300", "negative pixel": "holds -1",
    "no label column": "like Kaggle's test.csv", "not a csv at all": "not plain UTF-8 text",
    "too few rows to validate": "too few", "negative epochs": "--epochs",
    "zero batch size": "--batch-size", "zero learning rate": "--lr", "nan learning rate": "--lr",
    "infinite learning rate": "--lr", "dropout of one": "--dropout", "negative dropout": "--dropout",
    "negative validation fraction": "--val-fraction", "validation fraction one": "--val-fraction",
    "hidden size zero": "--hidden", "hidden size not a number": "--hidden",
    "negative hidden size": "--hidden", "unknown optimizer": "adamw", "misspelt flag": "--epohcs",
    "missing model": "does not exist", "truncated model": "truncated",
    "model that is not an npz": "not an .npz", "model for other shapes": "other shapes",
    "model missing a layer": "not a complete model", "missing image": "does not exist",
    "unreadable image": "cannot be read", "blank image": "looks blank",
    "save into a missing folder": "cannot write", "submission into a missing folder": "cannot write",
    "missing test csv": "--test-csv", "bad test csv": "'x', not a number",
    "missing csv to predict": "--predict", "submission over the training data": "also an input",
    "output onto an input through a link": "also an input", "two outputs on one path": "twice",
    "output that is a device": "not a regular file", "output path ending in a slash": "names no file",
    "empty output path": "names no file", "empty model path": "empty path",
    "file name too long": "too long", "csv without a header line": "not a header line",
    "one value too many on every row": "more values than the header",
    "trailing commas": "trailing commas", "zip with several files, none train.csv": "a.csv, b.csv, but no train.csv",
    "excel workbook": "Excel workbook", "truncated gzip": "truncated gzip",
    "gzip cut short past its first MB": "damaged or truncated gzip",
    "tar archive": "tar archive", "utf-16 csv": "UTF-16", "pipe as csv": "not a regular file",
    "folder as model": "is a folder", "folder as image": "is a folder",
    "comparison with outputs it would ignore": "does not use --save",
    "negative seed": "--seed", "network too big for memory": "GiB",
    "validation fraction that leaves nothing to train": "leaving 0 to train",
    "validation fraction that rounds to every row": "choose a fraction from 0.026 to 0.974",
    "a first line of over a megabyte": "no line break in its first MB",
    "label 10": "label 10", "model with nan weights": "nan or inf",
    "kaggle submission as training data": "Kaggle submission",
    "kaggle test file given to --test-csv": "pass it to --predict",
    "training flag with --load": "does not use --epochs",
    "--load with nothing to use it on": "needs something to use the network on",
    "early stopping with nothing held out": "nothing to measure on",
    "toy points with a digit picture": "--toy, which trains on 2-D points, does not use --csv, --image",
    "saliency of a loaded model": "does not use --explain",
    "diagnosing a loaded model": "does not use --diagnose",
    "toy points with the learning-rate finder": "--toy and --find-lr are two different runs",
}


def snapshot(folder):
    return {p.relative_to(folder): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in folder.rglob("*")}


def run_in_process(args, monkeypatch, capsys, folder):
    """nn.run(args) inside the test process (no second Python start-up): (status, out, err)."""
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) as exit_status:
        nn.run(args)
    out, err = capsys.readouterr()
    return exit_status.value.code, out, err


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_sentence_exit_status_2_and_writes_nothing(case, tmp_path,
                                                                       monkeypatch, capsys):
    (tmp_path / "train.csv").write_text("\n".join([HEADER] + [GOOD_ROW] * 20) + "\n")
    (tmp_path / "old.npz").write_bytes(b"the user's earlier work")
    args = BAD_INPUTS[case](tmp_path)
    if case == "blank image":
        save_gray_png(tmp_path / "blank.png", np.ones((60, 60)))
    before = snapshot(tmp_path)
    extra = ["--epochs", "1"] + ([] if "--csv" in args else ["--csv", "train.csv"])
    extra += [] if "--save" in args else ["--save", "old.npz"]    # must not be overwritten
    if "--load" in args:                                         # nothing to train: use it
        uses = {"--test-csv", "--predict", "--image"} & set(args) or "nothing" in case
        extra = [] if uses else ["--test-csv", "train.csv"]
    status, out, err = run_in_process([*args, *extra], monkeypatch, capsys, tmp_path)
    assert status == 2, (out, err)
    message = err.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert EXPECTED[case] in message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["non-numeric cell", "misspelt flag", "truncated model"])
def test_bad_input_from_the_shell_gets_one_line_on_stderr_and_status_2(case, tmp_path):
    (tmp_path / "train.csv").write_text("\n".join([HEADER] + [GOOD_ROW] * 20) + "\n")
    args = BAD_INPUTS[case](tmp_path)
    if "--load" in args:
        extra = ["--test-csv", "train.csv"]
    else:
        extra = ["--epochs", "1", *([] if "--csv" in args else ["--csv", "train.csv"])]
    result = run_cli(*args, *extra, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and EXPECTED[case] in result.stderr


def test_harmless_quirks_are_accepted_bom_crlf_spaces_and_float_pixels(tmp_path):
    clean = "\n".join([HEADER, GOOD_ROW, "5," + ",".join(["255"] * 784)]) + "\n"
    quirky = ("\ufeff" + "\r\n".join([HEADER.replace(",", ", "), GOOD_ROW.replace(",0", ", 0.0"),
                                      "5," + ",".join([" 255.0 "] * 784)]) + "\r\n")
    (tmp_path / "clean.csv").write_text(clean)
    (tmp_path / "quirky.csv").write_bytes(quirky.encode("utf-8"))
    X_clean, y_clean = nn.load_digits_csv(str(tmp_path / "clean.csv"))
    X_quirky, y_quirky = nn.load_digits_csv(str(tmp_path / "quirky.csv"))
    assert np.array_equal(X_clean, X_quirky) and np.array_equal(y_clean, y_quirky)


def test_an_interrupted_save_leaves_the_previous_model_intact(tmp_path, monkeypatch):
    path = str(tmp_path / "model.npz")
    params = nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))
    nn.save_model(path, model_of(params))
    before = (tmp_path / "model.npz").read_bytes()

    def half_written_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")
    monkeypatch.setattr(nn.np, "savez", half_written_then_crash)
    with pytest.raises(nn.InputError, match="disk full.*previous file"):
        nn.save_model(path, model_of(nn.initialize_parameters([784, 8, 10],
                                                              np.random.default_rng(1))))
    assert (tmp_path / "model.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]      # no temporary file left


def test_columns_are_read_by_their_names_and_archives_like_the_plain_file(tmp_path):
    rng = np.random.default_rng(30)
    X, y = rng.integers(0, 256, (5, 784)), rng.integers(0, 10, 5)
    plain = write_csv(tmp_path / "plain.csv", X, y)
    order = rng.permutation(784)
    with open(tmp_path / "shuffled.csv", "w") as f:
        f.write("label," + ",".join(f"pixel{i}" for i in order) + "\n")
        for label, row in zip(y, X):
            f.write(f"{label}," + ",".join(str(v) for v in row[order]) + "\n")
    (tmp_path / "plain.csv.gz").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    with zipfile.ZipFile(tmp_path / "kaggle.zip", "w") as archive:
        archive.write(plain, "train.csv")
    expected_X, expected_y = nn.load_digits_csv(plain)
    assert np.array_equal(expected_X, X) and np.array_equal(expected_y, y)
    for name in ("shuffled.csv", "plain.csv.gz", "kaggle.zip"):
        got_X, got_y = nn.load_digits_csv(str(tmp_path / name))
        assert np.array_equal(got_X, X) and np.array_equal(got_y, y), name


def test_written_files_keep_their_mode_and_new_ones_follow_the_umask(tmp_path):
    old = tmp_path / "shared.csv"
    old.write_text("old")
    os.chmod(old, 0o644)
    nn.write_atomically(str(old), lambda f: f.write(b"new"))
    assert old.read_text() == "new" and (old.stat().st_mode & 0o777) == 0o644
    umask = os.umask(0o022)
    try:
        nn.write_atomically(str(tmp_path / "fresh.csv"), lambda f: f.write(b"x"))
    finally:
        os.umask(umask)
    assert ((tmp_path / "fresh.csv").stat().st_mode & 0o777) == 0o644


def test_a_reader_that_goes_away_does_not_stop_training_or_saving(small_csv, tmp_path):
    model = tmp_path / "model.npz"
    process = subprocess.Popen([sys.executable, SCRIPT, "--csv", small_csv, "--epochs", "5",
                                "--hidden", "8", "--no-plot", "--save", str(model)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.readline()                             # like `| head -1`
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=300) == 0, err
    assert "Traceback" not in err and model.exists()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_sigterm_or_a_closed_terminal_during_training_keeps_the_best_model_and_prints_the_closing_lines(
        small_csv, tmp_path, signal_name):
    import signal
    model = tmp_path / "model.npz"
    process = subprocess.Popen([sys.executable, "-u", SCRIPT, "--csv", small_csv, "--epochs",
                                "100000", "--hidden", "16", "--no-plot", "--save", str(model)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while len(lines) < 4:                                 # a few epochs, then Ctrl-C
        lines.append(process.stdout.readline())
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert out.strip().splitlines()[-2].startswith("validation accuracy: ")
    assert nn.load_model(str(model))["params"]["W1"].shape == (784, 16)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]      # no temporary file left


def test_a_diverging_run_stops_with_advice_and_saves_nothing(small_csv, tmp_path):
    result = run_cli("--csv", small_csv, "--optimizer", "sgd", "--lr", "1e6", "--epochs", "5",
                     "--no-plot", "--save", str(tmp_path / "model.npz"))
    assert result.returncode == 2
    assert "smaller learning rate" in result.stderr and "\n" not in result.stderr.strip()
    assert not (tmp_path / "model.npz").exists()


class Payload:
    """Unpickling this creates a file: proof that code ran."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_in_a_model_file_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    params = nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))
    np.savez(tmp_path / "model.npz", **params, layer_sizes=np.array([784, 8, 10]),
             activation=np.array([Payload(str(marker))], dtype=object), head="softmax")
    test_csv = write_csv(tmp_path / "test.csv", np.zeros((2, 784), int), y=[0, 1])
    result = run_cli("--load", str(tmp_path / "model.npz"), "--test-csv", test_csv, cwd=tmp_path)
    assert result.returncode == 2 and "pickled" in result.stderr
    assert not marker.exists()


# --- use it from Python: train() and predict() on any arrays ----------------------------------
def test_train_returns_a_model_and_a_history_that_the_curves_picture_accepts(digits, tmp_path):
    X_train, y_train, X_val, y_val = digits
    model, history = nn.train(X_train[:2000], y_train[:2000], hidden=[32], X_val=X_val,
                              y_val=y_val, epochs=3, rng=np.random.default_rng(0))
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "loss", "train_accuracy", "val_loss", "val_accuracy"}
    assert history[-1]["val_accuracy"] == nn.get_accuracy(nn.predict(model, X_val), y_val)
    assert history[-1]["val_accuracy"] > 0.85 and history[-1]["val_loss"] < history[0]["val_loss"]
    nn.plot_training_curves(history, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_one_sigmoid_output_predicts_with_a_threshold_of_one_half_and_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]])
    model, history = nn.train(X, y, hidden=[8], epochs=500, batch_size=4, learning_rate=0.05,
                              head="sigmoid", activation="tanh")
    assert nn.predict(model, X).tolist() == [0, 1, 1, 0]
    assert history[-1]["train_accuracy"] == 1.0


def test_regression_targets_train_without_accuracy_and_predict_numbers(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.uniform(-3, 3, (400, 1))
    model, history = nn.train(X, np.sin(X[:, 0]), hidden=[32], X_val=X[:50],
                              y_val=np.sin(X[:50, 0]), epochs=200, batch_size=32, learning_rate=0.02, head="mse", rng=rng)
    assert "train_accuracy" not in history[-1] and "val_accuracy" not in history[-1]
    assert np.abs(nn.predict(model, X) - np.sin(X[:, 0])).max() < 0.1
    nn.plot_training_curves(history, str(tmp_path / "curves.png"))


def test_a_loaded_model_predicts_with_the_activation_it_was_trained_with(tmp_path):
    rng = np.random.default_rng(4)
    X, y = rng.random((200, 6)), rng.integers(0, 3, 200)
    model, _ = nn.train(X, y, hidden=[16], epochs=3, activation="tanh", rng=rng)
    nn.save_model(str(tmp_path / "m.npz"), model)
    loaded = nn.load_model(str(tmp_path / "m.npz"))
    assert loaded["activation"] == "tanh"
    np.testing.assert_array_equal(nn.predict_probabilities(loaded, X),
                                  nn.predict_probabilities(model, X))


def test_a_callback_sees_each_epochs_finished_figures_and_can_stop_training():
    rng = np.random.default_rng(8)
    X, y = rng.random((64, 5)), rng.integers(0, 2, 64)
    seen = []
    model, history = nn.train(X, y, hidden=[4], X_val=X, y_val=y, epochs=10, head="sigmoid",
                              on_epoch=lambda epoch, params, stats: seen.append(dict(stats))
                              or epoch == 3)
    assert len(history) == 3 and seen == history and "train_accuracy" in seen[0]


def test_one_example_as_a_flat_array_gets_one_prediction(digits):
    X_train, y_train, X_val, y_val = digits
    model, _ = nn.train(X_train[:500], y_train[:500], hidden=[16], epochs=2)
    assert nn.predict(model, X_val[0]) == nn.predict(model, X_val[:1])[0]
    assert nn.predict_probabilities(model, X_val[0]).shape == (10,)


@pytest.mark.parametrize("case, call, words", [
    ("float labels", lambda X, y: nn.train(X, y.astype(float)), "astype(int)"),
    ("rows differ", lambda X, y: nn.train(X, y[:-1]), "30 rows and y has 29"),
    ("augment on 8x8", lambda X, y: nn.train(X, y, augment=True), "28x28"),
    ("one flat sample", lambda X, y: nn.train(X[0], y[:1]), "reshape(-1, 1)"),
    ("raw pixels", lambda X, y: nn.train((X * 255).astype(np.uint8), y), "scale_pixels"),
    ("sigmoid labels not 0/1", lambda X, y: nn.train(X, y, head="sigmoid"), "only 0 and 1"),
    ("label beyond the classes", lambda X, y: nn.train(X, y, num_classes=3), "label 9"),
    ("validation without labels", lambda X, y: nn.train(X, y, X_val=X), "y_val"),
    ("a misspelt optimizer", lambda X, y: nn.train(X, y, optimizer="Adam"), "'Adam' is not"),
    ("a rule without a rate", lambda X, y: nn.train(X, y, optimizer=nn.update_parameters),
     "needs a learning_rate"),
])
def test_wrong_data_fails_at_the_call_with_one_sentence(case, call, words):
    rng = np.random.default_rng(5)
    X, y = rng.random((30, 64)), np.arange(30) % 10
    with pytest.raises(nn.InputError) as error:
        call(X, y)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_predicting_with_the_wrong_number_of_inputs_says_what_the_network_takes():
    model = model_of(nn.initialize_parameters([64, 8, 10], np.random.default_rng(0)))
    with pytest.raises(nn.InputError, match="takes 64 numbers per example"):
        nn.predict(model, np.zeros((3, 784)))


# --- the file as a notebook ----------------------------------------------------------------------
def test_the_file_runs_cell_by_cell_as_a_notebook_kernel_runs_it(monkeypatch, capsys):
    """What Jupyter does with the jupytext notebook: every cell in order, in one namespace
    named __main__, with no __file__ and the kernel's own argv; nothing may stop it."""
    import re
    cells = re.split(r"^# %%.*$", open(SCRIPT).read(), flags=re.M)
    monkeypatch.chdir(HERE)
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel-1234.json"])
    before = sorted(os.listdir(HERE))
    namespace = {"__name__": "__main__"}
    for cell in cells:
        exec(compile(cell, SCRIPT, "exec"), namespace)
    out = capsys.readouterr().out
    assert "W1 (784, 256)" in out and "A2 (64, 128)" in out and "P (64, 10)" in out
    start = float(out.split("loss before training: ")[1].split()[0])
    assert abs(start - np.log(10)) < 0.3
    assert float(out.split("validation accuracy: ")[1].split()[0]) > 0.95
    assert sorted(os.listdir(HERE)) == before                 # it wrote nothing


def test_every_python_example_in_the_readme_runs_in_order(tmp_path, monkeypatch, capsys):
    import re
    readme = open(os.path.join(HERE, "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)                    # a project folder of its own
    os.symlink(os.path.join(HERE, "train.csv"), tmp_path / "train.csv")
    namespace = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "[0 1 1 0]" in out
    assert namespace["history"][-1]["val_accuracy"] > 0.95
    assert (tmp_path / "curves.png").exists() and (tmp_path / "digits.npz").exists()


def test_help_shows_every_default_examples_and_the_files_a_run_writes(capsys):
    with pytest.raises(SystemExit):
        nn.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "random seed: same seed, same machine, same numbers (default: 0)" in " ".join(
        text.split())
    assert "examples:\n  python nn_from_scratch.py " in text
    assert "--predict digit-recognizer.zip" in text and "files written:" in text
    assert "--check-gradients takes --activation --head --l1 --l2 --dropout --seed\n" in text
    assert max(len(line) for line in text.splitlines()) <= 90


# --- --load stands alone; Kaggle as Kaggle ships it -----------------------------------------------
def test_load_and_image_work_in_a_folder_with_only_the_script_the_model_and_the_picture(
        default_model, tmp_path):
    import shutil
    shutil.copy(SCRIPT, tmp_path)
    shutil.copy(default_model, tmp_path / "model.npz")
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    save_gray_png(tmp_path / "digit.png", digit_as_photo(X[int(np.argmax(y == 4))],
                                                         np.random.default_rng(2)))
    (tmp_path / "predictions.png").write_bytes(b"the training run's picture")
    result = subprocess.run([sys.executable, "nn_from_scratch.py", "--load", "model.npz",
                             "--image", "digit.png"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    assert "digit.png: prediction 4" in result.stdout
    assert "validation" not in result.stdout and "train seconds" not in result.stdout
    assert (tmp_path / "predictions.png").read_bytes() == b"the training run's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "digit.png", "model.npz", "my_digits.png", "nn_from_scratch.py", "predictions.png"]


def test_kaggles_zip_trains_on_its_train_csv_and_predicts_its_test_csv(small_csv, tmp_path,
                                                                       monkeypatch, capsys):
    test_rows = np.random.default_rng(6).integers(0, 256, (7, 784))
    write_csv(tmp_path / "test.csv", test_rows)
    (tmp_path / "sample_submission.csv").write_text("ImageId,Label\n1,0\n")
    with zipfile.ZipFile(tmp_path / "digit-recognizer.zip", "w") as archive:
        archive.write(small_csv, "train.csv")
        archive.write(tmp_path / "test.csv", "test.csv")
        archive.write(tmp_path / "sample_submission.csv", "sample_submission.csv")
    status, out, _ = run_in_process(["--csv", "digit-recognizer.zip", "--val-fraction", "0",
                                     "--epochs", "2", "--hidden", "16", "--no-plot", "--save",
                                     "final.npz"], monkeypatch, capsys, tmp_path)
    assert status == 0 and "on 300 digits, holding none out" in out
    assert out.splitlines()[-1].startswith("train seconds: ") and "validation acc" not in out
    status, out, _ = run_in_process(["--load", "final.npz", "--predict", "digit-recognizer.zip",
                                     "--out", "submission.csv"], monkeypatch, capsys, tmp_path)
    assert status == 0 and "(7 rows, ImageId,Label)" in out
    expected = nn.predict(nn.load_model(str(tmp_path / "final.npz")), nn.scale_pixels(test_rows))
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert [int(line.split(",")[1]) for line in lines[1:]] == expected.tolist()


def test_pictures_without_load_say_that_a_new_network_is_trained_first(small_csv, tmp_path):
    X, y = nn.load_digits_csv(small_csv)
    path = save_gray_png(tmp_path / "d.png", digit_as_photo(X[0], np.random.default_rng(7)))
    result = run_cli("--csv", small_csv, "--epochs", "1", "--hidden", "8", "--image", path,
                     "--no-plot")
    assert result.returncode == 0 and "no --load given, so a new network is trained" in result.stdout


# --- see inside: what the first layer looks for, why it said 7, toy problems in 2-D -------------
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


def test_without_hidden_layers_the_input_gradient_is_the_class_column_of_w1():
    rng = np.random.default_rng(1)
    params = nn.initialize_parameters([7, 4], rng, dtype=np.float64)      # Z = x W1 + b1
    x = rng.random(7)
    for k in range(4):
        np.testing.assert_allclose(nn.input_gradient(params, x, k), params["W1"][:, k])


def test_near_an_input_a_relu_network_scores_exactly_gradient_dot_input_plus_a_constant():
    params, x = tiny_float64_net_and_input(np.random.default_rng(4))
    g = nn.input_gradient(params, x, 2)
    constant = class_score(params, x, 2, nn.relu) - g @ x
    for t in (0.97, 1.03):                                  # 3% less or more ink everywhere
        assert np.isclose(class_score(params, t * x, 2, nn.relu), t * (g @ x) + constant,
                          rtol=0, atol=1e-12)


def test_the_saliency_picture_shows_the_mistakes_first(tmp_path):
    rng = np.random.default_rng(7)
    params = nn.initialize_parameters([nn.NUM_PIXELS, 8, nn.NUM_CLASSES], rng)
    X = rng.random((10, nn.NUM_PIXELS)).astype(np.float32)
    P = nn.forward_propagation(X, params)[0]
    predictions = P.argmax(axis=1)
    y = predictions.copy()
    y[[3, 8]] = (y[[3, 8]] + 1) % 10                       # rows 3 and 8 are now mistakes
    S = nn.saliency_maps(params, X, predictions)
    assert S.shape == X.shape
    shown = nn.plot_saliency(X, y, predictions, P, S, str(tmp_path / "s.png"), count=4)
    assert list(shown) == [3, 8, 0, 1] and (tmp_path / "s.png").exists()


def test_the_first_layer_picture_shows_the_units_with_the_largest_weights_first(tmp_path):
    rng = np.random.default_rng(8)
    sizes = rng.permutation(40) + 1.0                       # unit j's weights: sizes[j] * pattern
    W1 = rng.normal(size=(nn.NUM_PIXELS, 1)) * sizes        # (784, 40)
    units = nn.plot_first_layer_weights(W1, str(tmp_path / "w.png"), count=12, columns=4)
    assert list(sizes[units]) == list(range(40, 28, -1)) and (tmp_path / "w.png").exists()


def test_xor_labels_are_one_where_the_signs_of_x1_and_x2_agree():
    X, y = nn.make_xor(200, np.random.default_rng(0), noise=0.0)
    assert np.array_equal(y, (np.sign(X[:, 0]) == np.sign(X[:, 1])).astype(int))


def test_the_spiral_arms_turn_four_radians_each_as_cs231n_draws_them():
    X, y = nn.make_spiral(50, 3, np.random.default_rng(0), noise=0.0)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r, np.tile(np.linspace(0, 1, 50), 3), atol=1e-6)
    t = np.arctan2(X[:, 0], X[:, 1])                        # X = (r sin t, r cos t)
    wrapped = np.angle(np.exp(1j * (t - (4.0 * y + 4.0 * r))))   # difference in (-pi, pi]
    assert np.abs(wrapped[r > 0.1]).max() < 1e-4


@pytest.mark.parametrize("hidden, low, high", [("256,128", 0.9, 1.0), ("", 0.0, 0.7)])
def test_toy_spiral_is_learned_with_hidden_layers_and_not_without(hidden, low, high, tmp_path,
                                                                   monkeypatch, capsys):
    status, out, _ = run_in_process(["--toy", "spiral", "--hidden", hidden], monkeypatch,
                                    capsys, tmp_path)
    accuracy = float(out.splitlines()[-2].split("validation accuracy: ")[1])
    assert status == 0 and low <= accuracy <= high
    assert out.splitlines()[-1].startswith("train seconds: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decision_boundary.png",
                                                           "training_curves.png"]


# --- draw a digit live: synthetic mouse and key events on a window with no screen ---------------
MIDDLE = nn.CANVAS_SIDE / 2
ONE = [(MIDDLE, 40), (MIDDLE, 110), (MIDDLE, 180), (MIDDLE, 240)]   # a vertical stroke, (x, y)


def make_pad(model):
    import matplotlib
    matplotlib.use("Agg")                    # no window, even on a desktop
    pad = nn.DrawingPad(model)
    pad.fig.canvas.draw()                    # lay the figure out: pixel positions are final
    return pad


def send_mouse(fig, name, x, y, button=1, ax=None):
    """A mouse event at data point (x, y) of ax (the drawing canvas unless given), sent
    through matplotlib's own event dispatch, as a click in a window would be."""
    from matplotlib.backend_bases import MouseEvent
    px, py = (ax or fig.axes[0]).transData.transform((x, y))
    fig.canvas.callbacks.process(name, MouseEvent(name, fig.canvas, px, py, button=button))


def drag(fig, points):
    send_mouse(fig, "button_press_event", *points[0])
    for x, y in points[1:-1]:
        send_mouse(fig, "motion_notify_event", x, y)
    send_mouse(fig, "button_release_event", *points[-1])


def bar_heights(pad):
    return np.array([bar.get_height() for bar in pad.artists["bars"]])


def test_a_pen_stroke_inks_the_segment_a_radius_wide_and_nothing_else():
    canvas = np.zeros((60, 60))
    painted = nn.stroke_to_canvas(canvas, (10, 5), (10, 50), radius=3)   # x = column 10
    assert painted[5:51, 8:13].min() == 1 and painted[5:51, 7].min() == 0.5   # soft edge
    assert painted[:, 15:].max() == 0 and painted[56:].max() == 0 and canvas.max() == 0


def test_a_drawn_stroke_shows_its_28x28_input_and_the_probabilities_of_it(default_model):
    import matplotlib.pyplot as plt
    pad = make_pad(nn.load_model(default_model))
    drag(pad.fig, ONE)
    assert pad.canvas[40:241, int(MIDDLE)].min() == 1 and pad.canvas[:, :100].max() == 0
    digit = nn.preprocess_digit_image(1 - pad.canvas)            # ink on white paper
    assert np.array_equal(pad.artists["input"].get_array(), digit.reshape(28, 28))
    np.testing.assert_allclose(bar_heights(pad), nn.predict_probabilities(pad.model, digit))
    assert np.argmax(bar_heights(pad)) == 1
    assert pad.artists["status"].get_text().startswith("it reads 1")
    plt.close(pad.fig)


@pytest.mark.parametrize("key", ["c", " "])
def test_the_clear_keys_empty_the_canvas_and_reset_the_bars(key):
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import KeyEvent
    pad = make_pad(model_of(nn.initialize_parameters([784, 16, 10], np.random.default_rng(0))))
    drag(pad.fig, ONE)
    pad.fig.canvas.callbacks.process("key_press_event",
                                     KeyEvent("key_press_event", pad.fig.canvas, key))
    assert pad.canvas.max() == 0 and bar_heights(pad).max() == 0
    assert pad.artists["status"].get_text() == "draw a digit"
    plt.close(pad.fig)


def test_a_flat_answer_says_the_drawing_may_not_be_a_digit():
    import matplotlib.pyplot as plt
    params = nn.initialize_parameters([784, 16, 10], np.random.default_rng(0))
    pad = make_pad(model_of({key: np.zeros_like(W) for key, W in params.items()}))   # all 0.1
    drag(pad.fig, ONE)
    assert "may not be a digit" in pad.artists["status"].get_text()
    plt.close(pad.fig)


def test_draw_without_a_screen_says_so_in_one_sentence_before_training(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                             "MPLBACKEND")}
    done = subprocess.run([sys.executable, SCRIPT, "--draw"], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "epoch" not in done.stdout
    assert done.stderr.startswith("error: --draw needs a window") and done.stderr.count("\n") == 1


# --- pictures as phones take them: sideways with an EXIF tag, a lamp, lined paper, shadows ------
@pytest.fixture(scope="module")
def validation_digits():
    """Digits the default network never trained on: (X_val (N, 784) in 0..255, y_val (N,))."""
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    _, _, X_val, y_val = nn.split_train_val(X, y, 0.1, np.random.default_rng(0))
    return X_val, y_val


def photo(digit, rng, light=1.0, rule_every=0, shape=(480, 360)):
    """A gray phone-like photo (rows, cols) in 0..1 of a 28x28 digit (0..255): pen ink
    reflecting 0.25 on paper reflecting 0.9, 40% of the height, at a random place, times
    `light` (a number or an array), with camera noise. rule_every > 0 draws 2-pixel rules
    that far apart, a little tilted, as a page seldom lies square to the phone."""
    from PIL import Image
    rows, cols = np.indices(shape)
    paper = np.full(shape, 0.9)
    if rule_every:
        paper[(rows - 0.02 * cols) % rule_every < 2] = 0.68     # light blue, seen in gray
    size = int(0.4 * shape[0])
    big = Image.fromarray(digit.reshape(28, 28).astype(np.uint8)).resize((size, size),
                                                                        Image.BICUBIC)
    ink = np.asarray(big) / 255
    top, left = (int(rng.integers(10, n - size - 10)) for n in shape)
    window = paper[top:top + size, left:left + size]
    paper[top:top + size, left:left + size] = window * (1 - ink) + 0.25 * ink
    return np.clip(paper * light + rng.normal(0, 0.015, shape), 0, 1)


def save_jpeg(path, gray, orientation=0):
    """Save as a phone does: JPEG, and when held sideways, the pixels turned and an EXIF
    Orientation tag saying how to turn them back (6: a quarter turn clockwise, 8:
    anticlockwise, 3: half a turn). np.rot90(k) turns anticlockwise k times."""
    from PIL import Image
    pixels = np.round(gray * 255).astype(np.uint8)
    pixels = np.rot90(pixels, {0: 0, 6: 1, 8: -1, 3: 2}[orientation])
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, "JPEG", quality=85,
                                                       exif=exif.tobytes())
    return str(path)


def reads(model, path):
    return int(nn.predict(model, nn.preprocess_digit_image(nn.load_image_gray(path), path)))


def test_a_photo_stored_sideways_with_an_exif_tag_is_read_upright(default_model,
                                                                  validation_digits, tmp_path):
    X_val, y_val = validation_digits
    model, rng = nn.load_model(default_model), np.random.default_rng(1)
    for i, orientation in zip(range(3), (6, 8, 3)):
        upright = photo(X_val[i], rng)
        path = save_jpeg(tmp_path / f"sideways{orientation}.jpg", upright, orientation)
        gray = nn.load_image_gray(path)
        assert gray.shape == upright.shape
        assert np.abs(gray - upright).mean() < 0.02            # JPEG changes it only a little
        assert reads(model, path) == y_val[i]


def test_digits_under_a_lamp_gradient_on_lined_paper_are_read(default_model,
                                                              validation_digits, tmp_path):
    X_val, y_val = validation_digits
    model, rng = nn.load_model(default_model), np.random.default_rng(2)
    lamp = np.linspace(1.0, 0.35, 360)[None, :]                # light falls off to the right
    for i in range(3, 8):
        path = save_jpeg(tmp_path / f"lamp{i}.jpg", photo(X_val[i], rng, lamp, rule_every=36))
        assert reads(model, path) == y_val[i]


def test_a_soft_shadow_across_the_digit_changes_what_the_network_sees_very_little(
        validation_digits, tmp_path):
    X_val, _ = validation_digits
    rows, cols = np.indices((480, 360))
    edge = 1 / (1 + np.exp(-(cols + 0.5 * rows - 300) / 8))    # a soft, slanted edge
    shadow = 1 - 0.55 * edge                                  # light x0.45 beyond it
    for i in range(8, 11):
        lit = save_jpeg(tmp_path / f"lit{i}.jpg", photo(X_val[i], np.random.default_rng(i)))
        shaded = save_jpeg(tmp_path / f"shaded{i}.jpg",
                           photo(X_val[i], np.random.default_rng(i), shadow))
        seen_lit, seen_shaded = (nn.preprocess_digit_image(nn.load_image_gray(p))
                                 for p in (lit, shaded))
        assert np.abs(seen_lit - seen_shaded).mean() < 0.02   # of 0..1 per pixel


def test_a_blank_lined_page_under_a_lamp_is_called_blank_not_read_as_a_digit(tmp_path):
    lamp = np.linspace(1.0, 0.35, 480)[:, None]               # light falls off downwards
    path = save_jpeg(tmp_path / "blank.jpg",
                     photo(np.zeros(784), np.random.default_rng(3), lamp, rule_every=40))
    with pytest.raises(nn.InputError, match="looks blank"):
        nn.preprocess_digit_image(nn.load_image_gray(path), path)


def test_an_unsure_reading_says_the_picture_may_not_be_one_clear_digit(tmp_path, monkeypatch,
                                                                       capsys):
    params = nn.initialize_parameters([784, 8, 10], np.random.default_rng(0))
    nn.save_model(str(tmp_path / "flat.npz"),
                  model_of({key: np.zeros_like(W) for key, W in params.items()}))   # all 0.1
    X, _ = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    save_gray_png(tmp_path / "d.png", digit_as_photo(X[0], np.random.default_rng(4)))
    status, out, _ = run_in_process(["--load", "flat.npz", "--image", "d.png"], monkeypatch,
                                    capsys, tmp_path)
    assert status == 0 and "unsure: this may not be one clear digit" in out
    assert (tmp_path / "my_digits.png").exists()


# --- is training healthy? which learning rate? ----------------------------------------------------
def blobs(rng, n=600, d=20, k=4, spread=1.0):
    """n points around k random centres in d dimensions: a small problem a 20-32-16-4
    network learns in a few epochs."""
    centres = rng.normal(0.0, spread, (k, d))
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(0.0, 1.0, (n, d))).astype(np.float32), y


def diagnosed_run(optimizer, learning_rate, num_epochs=5):
    """gradient_descent on blobs with health_monitor measuring every step: the records."""
    rng = np.random.default_rng(0)
    X, y = blobs(rng)
    params = nn.initialize_parameters([20, 32, 16, 4], rng)
    rule, on_epoch, records = nn.health_monitor(optimizer, X[:200], every=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        nn.gradient_descent(params, X, y, num_epochs, 32, learning_rate, rng, rule,
                            on_epoch=on_epoch)
    return records


def test_the_dead_share_counts_only_units_that_are_zero_on_every_probe_row():
    params = {"W1": np.eye(3), "b1": np.array([-10.0, 0.0, 0.0]),   # unit 1: z = x - 10 < 0
              "W2": np.ones((3, 2)), "b2": np.zeros(2)}
    X_probe = np.array([[1.0, -1.0, 1.0],          # unit 2 is 0 here but fires on row 2
                        [2.0, 0.5, 1.0]])
    rule, _, records = nn.health_monitor(nn.update_parameters, X_probe)
    rule(params, {key: np.zeros_like(W) for key, W in params.items()}, 0.1, {})
    assert records[0]["dead_share"] == [1 / 3]     # taken before the first step


def test_the_update_ratio_is_the_step_adam_actually_took_not_the_rate_times_the_gradient():
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([6, 5, 3], rng, dtype=np.float64)
    grads = {key: 1e-3 * rng.normal(size=W.shape) for key, W in params.items()}
    before = {key: W.copy() for key, W in params.items()}
    rule, on_epoch, records = nn.health_monitor(nn.update_parameters_with_adam, np.ones((2, 6)),
                                                every=1)
    rule(params, grads, 0.01, {})
    on_epoch(1, params, {"epoch": 1, "loss": 1.0, "train_accuracy": 0.5})   # one step: median
    for l, key in enumerate(("W1", "W2")):
        taken = np.linalg.norm(params[key] - before[key]) / np.linalg.norm(before[key])
        assert records[1]["update_ratio"][l] == pytest.approx(taken, rel=1e-9)
        assert records[1]["update_ratio"][l] > 100 * 0.01 * np.linalg.norm(grads[key]) / \
            np.linalg.norm(before[key])


def test_a_healthy_run_raises_no_warning():
    records = diagnosed_run(nn.update_parameters_with_adam, 0.01)
    assert [r["epoch"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert records[-1]["train_accuracy"] > 0.9 and nn.health_warnings(records) == []


def test_a_learning_rate_far_too_high_is_diagnosed_with_big_steps_dead_units_and_chance_loss():
    warnings = " ".join(nn.health_warnings(diagnosed_run(nn.update_parameters, 5.0)))
    assert "far above the rule of thumb 1e-3" in warnings and "--lr 0.5" in warnings
    assert "dead ReLU units: 100% in layer 2" in warnings and "did not move at all" in warnings


def test_a_learning_rate_far_too_low_is_diagnosed_as_learning_too_slowly():
    warnings = nn.health_warnings(diagnosed_run(nn.update_parameters, 1e-5))
    assert any("far too slowly" in sentence for sentence in warnings)
    assert not any("dead" in sentence or "far above" in sentence for sentence in warnings)


def test_the_cli_diagnoses_a_stuck_run_and_draws_the_health_picture(small_csv, tmp_path,
                                                                    monkeypatch, capsys):
    status, out, _ = run_in_process(["--csv", small_csv, "--optimizer", "sgd", "--lr", "5",
                                     "--epochs", "3", "--no-augment", "--diagnose"],
                                    monkeypatch, capsys, tmp_path)
    assert status == 0 and "training health: " in out and "warning(s)" in out
    assert "dead ReLU units" in out and (tmp_path / "training_health.png").exists()


def test_the_lr_range_test_grows_the_rate_exponentially_and_leaves_the_weights_alone():
    rng = np.random.default_rng(2)
    X, y = blobs(rng, n=320)
    params = nn.initialize_parameters([20, 32, 16, 4], rng)
    before = {key: W.copy() for key, W in params.items()}
    rates, losses = nn.lr_range_test(params, X, y, 8, rng, max_rate=1e-2,
                                     optimizer=nn.update_parameters)
    assert len(rates) == len(losses) == 40                  # 320 / 8 steps: no blow-up
    assert rates[0] == pytest.approx(1e-6) and rates[-1] == pytest.approx(1e-2)
    assert np.allclose(np.diff(np.log(rates)), np.log(1e4) / 39)   # the same factor each step
    assert all(np.array_equal(params[key], before[key]) for key in params)


def test_the_lr_range_test_stops_once_the_loss_blows_up():
    rng = np.random.default_rng(3)
    X, y = blobs(rng, n=800)
    params = nn.initialize_parameters([20, 32, 16, 4], rng)
    rates, losses = nn.lr_range_test(params, X, y, 8, rng, max_rate=1e3,
                                     optimizer=nn.update_parameters)
    assert len(losses) < 100 and rates[-1] < 1e3            # 800 / 8 steps without stopping
    smoothed = nn.smooth_losses(losses)
    assert smoothed[-1] > 4 * smoothed[nn.lowest_smoothed_loss(smoothed)]


def test_the_lr_finder_suggests_a_rate_that_trains(small_csv, tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(4)
    X, y = blobs(rng, n=800)
    X_train, y_train, X_val, y_val = nn.split_train_val(X, y, 0.25, rng)
    params = nn.initialize_parameters([20, 32, 16, 4], rng)
    suggestion = nn.suggest_learning_rate(*nn.lr_range_test(params, X_train, y_train, 8, rng,
                                                            optimizer=nn.update_parameters))

    def accuracy_after_training(rate):
        trained = {key: W.copy() for key, W in params.items()}
        nn.gradient_descent(trained, X_train, y_train, 5, 32, rate, np.random.default_rng(5),
                            optimizer=nn.update_parameters, schedule=nn.cosine_schedule)
        return nn.get_accuracy(nn.get_predictions(trained, X_val), y_val)
    assert accuracy_after_training(suggestion) > 0.9
    assert accuracy_after_training(1e-4) < 0.5              # the problem needs a good rate
    status, out, _ = run_in_process(["--csv", small_csv, "--find-lr"], monkeypatch, capsys,
                                    tmp_path)
    assert status == 0 and out.splitlines()[-1].startswith("suggested learning rate: ")
    assert (tmp_path / "lr_finder.png").exists()


def test_ruled_lines_neither_hollow_out_a_thick_pen_stroke_nor_stay_in_the_digit():
    rows, cols = np.indices((300, 400))
    seven = (rows >= 60) & (rows < 72) & (cols >= 130) & (cols < 270)        # a bold 7:
    seven |= (np.abs((cols - 270) + (rows - 66) * 0.5) < 7) & (rows > 66) & (rows < 250)
    rule = np.abs((rows % 30) - 15) < 0.5                                     # thin rules
    paper = np.where(rule, 0.54, 0.9)
    lined = nn.preprocess_digit_image(np.where(seven, 0.27 * paper / 0.9, paper))
    plain = nn.preprocess_digit_image(np.where(seven, 0.27, 0.9))
    assert np.abs(lined - plain).mean() < 0.03


# --- one declaration of what each mode takes ------------------------------------------------
MODE_COMMANDS = {"train": [], "load": ["--load", "m.npz"], "toy": ["--toy", "xor"],
                 "find-lr": ["--find-lr"], "compare-architectures": ["--compare-architectures"],
                 "compare-learning-rates": ["--compare-learning-rates"],
                 "check-gradients": ["--check-gradients"]}
# Which of these flags each mode takes; every other one it refuses.
SOME_FLAGS = {"--csv": ["x.csv"], "--epochs": ["3"], "--lr": ["0.1"], "--hidden": ["8"],
              "--save": ["m2.npz"], "--image": ["a.png"], "--augment": [], "--diagnose": [],
              "--head": ["mse"], "--explain": [], "--no-plot": [], "--seed": ["1"]}
TAKES = {
    "train": {"--csv", "--epochs", "--lr", "--hidden", "--save", "--image", "--augment",
              "--diagnose", "--head", "--explain", "--no-plot", "--seed"},
    "load": {"--image", "--no-plot"},
    "toy": {"--epochs", "--lr", "--hidden", "--save", "--diagnose", "--head", "--no-plot",
            "--seed"},
    "find-lr": {"--csv", "--hidden", "--no-plot", "--seed"},
    "compare-architectures": {"--csv", "--epochs", "--lr", "--no-plot", "--seed"},
    "compare-learning-rates": {"--csv", "--epochs", "--lr", "--hidden", "--no-plot", "--seed"},
    "check-gradients": {"--head", "--seed"},
}


@pytest.mark.parametrize("mode", list(MODE_COMMANDS))
def test_each_mode_takes_its_own_flags_and_refuses_the_ones_it_would_ignore(mode):
    for name, values in SOME_FLAGS.items():
        argv = MODE_COMMANDS[mode] + [name, *values]
        if name in TAKES[mode]:
            args = nn.parse_args(argv)
            assert args.mode == mode and name in args.given
        else:
            with pytest.raises(nn.InputError, match=f"does not use {name}"):
                nn.parse_args(argv)


def test_a_mode_sets_its_own_defaults_and_a_typed_value_wins_even_when_it_equals_another_default():
    assert (nn.parse_args(["--toy", "spiral"]).epochs, nn.parse_args([]).epochs) == (100, 40)
    assert nn.parse_args(["--toy", "spiral", "--epochs", "40"]).epochs == 40
    assert nn.parse_args(["--toy", "spiral", "--batch-size", "64"]).batch_size == 64
    assert nn.parse_args(["--compare-architectures"]).epochs == 5


def test_two_modes_at_once_or_a_flag_twice_are_refused_and_a_list_flag_adds_up(capsys):
    with pytest.raises(nn.InputError, match="two different runs"):
        nn.parse_args(["--find-lr", "--compare-architectures"])
    with pytest.raises(SystemExit):
        nn.parse_args(["--epochs", "3", "--epochs", "5"])
    assert "--epochs is given twice" in capsys.readouterr().err
    args = nn.parse_args(["--load", "m.npz", "--image", "a.png", "--image", "b.png", "c.png"])
    assert args.image == ["a.png", "b.png", "c.png"]


def test_a_flag_that_needs_another_is_refused_without_it():
    with pytest.raises(nn.InputError, match="--out only works with --predict"):
        nn.parse_args(["--out", "s.csv"])
    with pytest.raises(nn.InputError, match="--lr-decay only works with --lr-schedule inverse"):
        nn.parse_args(["--lr-decay", "0.01"])
    assert nn.parse_args(["--lr-schedule", "inverse", "--lr-decay", "0.01"]).lr_decay == 0.01


def test_every_picture_the_closing_lines_name_was_written(small_csv, tmp_path, monkeypatch,
                                                           capsys):
    status, out, _ = run_in_process(["--csv", small_csv, "--compare-learning-rates", "--epochs",
                                     "1", "--hidden", "8"], monkeypatch, capsys, tmp_path)
    saved = [line for line in out.splitlines() if line.startswith("plots saved: ")]
    assert status == 0 and saved == ["plots saved: ./compare_learning_rates.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare_learning_rates.png"]


def test_a_model_file_with_wrong_shapes_is_refused_also_under_python_dash_o(tmp_path):
    np.savez(tmp_path / "m.npz", W1=np.zeros((784, 10)), b1=np.zeros(3),
             layer_sizes=np.array([784, 10]), activation="relu", head="softmax")
    result = subprocess.run([sys.executable, "-O", "-c", "import nn_from_scratch as nn; "
                             f"nn.load_model({str(tmp_path / 'm.npz')!r})"], cwd=HERE,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "not a complete model" in result.stderr


def test_a_divergence_with_finite_weights_and_nan_outputs_stops_with_advice(small_csv, tmp_path):
    result = run_cli("--csv", small_csv, "--epochs", "1", "--batch-size", "512", "--lr", "1e30",
                     "--save", str(tmp_path / "m.npz"), "--predict", small_csv, "--out",
                     str(tmp_path / "s.csv"), "--no-plot")
    assert result.returncode == 2 and "smaller learning rate" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- real layouts people download ------------------------------------------------------------
def write_layout(path, X, y, sep=",", label_at=0, names=None, index=False, scale=1):
    """A CSV of digits in some other layout: another delimiter, the label elsewhere, ..."""
    names = names or [f"pixel{i}" for i in range(784)]
    header = names[:label_at] + ["label"] + names[label_at:]
    lines = [sep.join(([""] if index else []) + header)]
    for i, (label, row) in enumerate(zip(y, X)):
        cells = [f"{v * scale:g}" for v in row]
        lines.append(sep.join(([str(i)] if index else []) + cells[:label_at] + [str(label)]
                              + cells[label_at:]))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("layout", [dict(sep="\t"), dict(sep="|"), dict(sep=" "), dict(sep=";"),
                                    dict(label_at=784), dict(index=True),
                                    dict(names=[f"pixel{i + 1}" for i in range(784)]),
                                    dict(names=[f"Pixel{i}" for i in range(784)])])
def test_tab_pipe_space_and_semicolon_files_the_label_last_an_index_column_and_fashion_names_read_right(
        layout, tmp_path):
    rng = np.random.default_rng(40)
    X, y = rng.integers(0, 256, (6, 784)), rng.integers(0, 10, 6)
    got_X, got_y = nn.load_digits_csv(write_layout(tmp_path / "d.csv", X, y, **layout))
    assert np.array_equal(got_X, X) and np.array_equal(got_y, y)


def test_a_header_label_in_capitals_is_the_label(tmp_path):
    X, y = np.zeros((3, 784), int), np.array([1, 2, 3])
    path = write_layout(tmp_path / "d.csv", X, y)
    (tmp_path / "d.csv").write_text((tmp_path / "d.csv").read_text().replace("label", "Label"))
    assert nn.load_digits_csv(path)[1].tolist() == [1, 2, 3]


def test_pixels_already_scaled_to_0_1_are_read_as_gray_levels_and_said_so(tmp_path, capsys):
    rng = np.random.default_rng(41)
    X, y = rng.integers(0, 256, (6, 784)), rng.integers(0, 10, 6)
    got_X, got_y = nn.load_digits_csv(write_layout(tmp_path / "d.csv", X / 255, y))
    assert np.array_equal(got_X, X) and np.array_equal(got_y, y)
    assert "holds pixels from 0 to 1" in capsys.readouterr().out


def test_a_test_csv_scaled_to_0_1_scores_like_the_same_digits_in_0_255(default_model, tmp_path):
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    plain = write_layout(tmp_path / "plain.csv", X[:200], y[:200])
    scaled = write_layout(tmp_path / "scaled.csv", X[:200] / 255, y[:200])
    scores = []
    for path in (plain, scaled):
        result = run_cli("--load", default_model, "--test-csv", path, "--no-plot")
        scores.append([line for line in result.stdout.splitlines()
                       if line.startswith("test accuracy: ")])
    assert scores[0] == scores[1] and float(scores[0][0].split()[-1]) > 0.9


# --- the defining property of each function: a one-edit bug in it fails one of these --------
def test_relu_is_zero_at_zero_and_for_negatives_and_passes_no_gradient_at_exactly_zero():
    Z = np.array([[-2.0, -1e-30, 0.0, 1e-30, 3.0]])
    assert nn.relu(Z).tolist() == [[0.0, 0.0, 0.0, 1e-30, 3.0]]
    assert nn.relu_backward(np.full_like(Z, 7.0), Z).tolist() == [[0.0, 0.0, 0.0, 7.0, 7.0]]


def test_scale_pixels_maps_0_to_0_and_255_to_exactly_1_in_float32_and_leaves_its_input_alone():
    X = np.array([[0, 128, 255], [1, 254, 7]], dtype=np.uint8)
    before = X.copy()
    scaled = nn.scale_pixels(X)
    assert scaled.dtype == np.float32 and scaled.shape == (2, 3)
    assert scaled[0, 0] == 0.0 and scaled[0, 2] == 1.0
    assert scaled[0, 1] == np.float32(128) / np.float32(255)
    np.testing.assert_allclose(scaled, before / 255, rtol=1e-6)
    assert np.array_equal(X, before) and X.dtype == np.uint8
    floats = before.astype(np.float32)
    assert nn.scale_pixels(floats).max() == 1.0 and floats.max() == 255   # not scaled in place


@pytest.mark.parametrize("rule", [nn.update_parameters, nn.update_parameters_with_adam,
                                  nn.update_parameters_with_adam_in_place,
                                  nn.update_parameters_with_momentum,
                                  nn.update_parameters_with_adagrad,
                                  nn.update_parameters_with_rmsprop])
def test_every_update_rule_changes_the_callers_arrays_in_place_and_returns_the_same_dict(rule):
    rng = np.random.default_rng(0)
    params = nn.initialize_parameters([4, 3, 2], rng, dtype=np.float64)
    params["b1"] += 0.5
    arrays, before = dict(params), {k: W.copy() for k, W in params.items()}
    grads = {k: rng.normal(size=W.shape) for k, W in params.items()}
    state = {}
    for _ in range(2):
        assert rule(params, grads, 0.1, state) is params
    for key in params:
        assert params[key] is arrays[key], key                 # the very same array object
        assert np.all(np.abs(params[key] - before[key]) > 1e-6), key   # every entry moved


def test_gradient_descent_trains_the_dict_it_is_given_and_returns_that_dict():
    rng = np.random.default_rng(1)
    X, y = rng.random((20, 4)), rng.integers(0, 3, 20)
    params = nn.initialize_parameters([4, 5, 3], rng, dtype=np.float64)
    arrays, before = dict(params), {k: W.copy() for k, W in params.items()}
    assert nn.gradient_descent(params, X, y, 2, 8, 0.05, rng) is params
    for key in params:
        assert params[key] is arrays[key] and not np.array_equal(params[key], before[key]), key


def test_gradient_descent_shows_every_row_once_per_epoch_in_a_new_order_each_epoch():
    N, seen = 23, {}
    X = np.arange(N, dtype=np.float64)[:, None]

    def record(X_batch, epoch, rng):
        seen.setdefault(epoch, []).append(X_batch[:, 0].astype(int).tolist())
        return X_batch
    params = nn.initialize_parameters([1, 2], np.random.default_rng(0), dtype=np.float64)
    nn.gradient_descent(params, X, np.zeros(N, int), 3, 5, 0.01, np.random.default_rng(2),
                        transform=record)
    assert sorted(seen) == [1, 2, 3]
    orders = [sum(seen[e], []) for e in (1, 2, 3)]
    for epoch, batches in seen.items():
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3], epoch
    for order in orders:
        assert sorted(order) == list(range(N))            # every row exactly once
    assert orders[0] != list(range(N))                     # shuffled
    assert orders[0] != orders[1] and orders[1] != orders[2]   # reshuffled every epoch


def test_the_schedule_is_asked_for_each_step_from_0_with_the_total_number_of_steps():
    calls = []
    rng = np.random.default_rng(3)
    params = nn.initialize_parameters([3, 2], rng, dtype=np.float64)
    nn.gradient_descent(params, rng.random((10, 3)), np.zeros(10, int), 2, 4, 0.1, rng,
                        schedule=lambda step, total: calls.append((step, total)) or 1.0)
    assert calls == [(step, 6) for step in range(6)]      # 2 epochs x ceil(10 / 4) batches


def test_early_stopping_on_a_regression_head_keeps_the_epoch_with_the_lowest_val_loss():
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(96, 3)).astype(np.float32), np.array([1.0, -2.0, 0.5])
    X_val = rng.normal(size=(48, 3)).astype(np.float32)
    y, y_val = X @ w, 0.4 * (X_val @ w)       # val loss falls, then rises past 0.4 X w
    model, history = nn.train(X, y, hidden=(8,), X_val=X_val, y_val=y_val, epochs=30,
                              batch_size=16, head="mse", learning_rate=0.01,
                              schedule="constant", patience=3)
    losses = [stats["val_loss"] for stats in history]
    best = int(np.argmin(losses))
    assert 0 < best < len(losses) - 1 and "val_accuracy" not in history[0]
    assert len(losses) == best + 1 + 3                      # stopped 3 epochs after the best
    got = nn.evaluate(model, X_val, y_val[:, None].astype(np.float32))["loss"]
    assert got == pytest.approx(losses[best], rel=1e-6)


def test_keep_best_works_with_negative_scores_and_a_lower_one_never_replaces_the_best():
    best, params = {}, {"W1": np.ones(3)}
    assert nn.keep_best(best, 1, params, -5.0) == 0 and best["epoch"] == 1   # minus a loss
    assert nn.keep_best(best, 2, params, -3.0) == 0 and best["score"] == -3.0
    params["W1"][:] = 9.0                                   # the caller trains on
    assert nn.keep_best(best, 3, params, -4.0) == 1 and best["epoch"] == 2
    assert best["params"]["W1"].tolist() == [1.0, 1.0, 1.0]   # a copy, not a view
    assert nn.keep_best(best, 4, params, -3.0) == 2 and best["epoch"] == 2   # a tie: no better


@pytest.mark.parametrize("setup", ["nan", "inf"])
def test_a_batch_loss_of_nan_or_inf_raises_before_it_spoils_the_parameters(setup):
    rng = np.random.default_rng(4)
    X, y = rng.random((8, 3)), rng.integers(0, 2, 8)
    kwargs = {}
    if setup == "nan":
        X[5, 0] = np.inf                        # softmax of inf - inf: a nan loss
    else:
        X[5] = 1e200                            # squared error overflows: an inf loss
        y, kwargs = y[:, None].astype(float), nn.network_functions("relu", "mse")
    params = nn.initialize_parameters([3, 4, 2 if setup == "nan" else 1], rng, np.float64)
    params["W1"][:] = np.abs(params["W1"]) + 0.1      # the big row reaches the output
    params["W2"][:] = np.abs(params["W2"]) + 0.1
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=setup):
        nn.gradient_descent(params, X, y, 2, 2, 0.1, rng, optimizer=nn.update_parameters,
                            **kwargs)
    assert nn.all_finite(params)


def test_same_file_sees_one_file_through_symbolic_and_hard_links_and_not_two_equal_files(
        tmp_path):
    a, twin = tmp_path / "a.csv", tmp_path / "twin.csv"
    a.write_text("same")
    twin.write_text("same")
    (tmp_path / "soft").symlink_to(a)
    os.link(a, tmp_path / "hard")
    (tmp_path / "dangling").symlink_to(tmp_path / "not-yet.png")
    assert nn.same_file(str(a), str(a)) and nn.same_file(str(tmp_path / "soft"), str(a))
    assert nn.same_file(str(tmp_path / "hard"), str(a))
    assert nn.same_file(str(tmp_path / "dangling"), str(tmp_path / "not-yet.png"))
    assert not nn.same_file(str(twin), str(a))
    assert not nn.same_file(str(tmp_path / "missing.png"), str(a))   # no error, just False


@pytest.mark.parametrize("umask, new_mode", [(0o022, 0o644), (0o077, 0o600)])
def test_a_rewritten_file_keeps_its_own_mode_and_a_new_one_gets_0666_less_the_umask(
        tmp_path, umask, new_mode):
    old = tmp_path / "old.npz"
    old.write_bytes(b"old")
    os.chmod(old, 0o640)
    saved = os.umask(umask)
    try:
        nn.write_atomically(str(old), lambda f: f.write(b"new"))
        nn.write_atomically(str(tmp_path / "new.npz"), lambda f: f.write(b"x"))
        assert os.umask(umask) == umask                     # the umask was put back
    finally:
        os.umask(saved)
    assert old.read_bytes() == b"new" and (old.stat().st_mode & 0o7777) == 0o640
    assert ((tmp_path / "new.npz").stat().st_mode & 0o7777) == new_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npz", "old.npz"]   # no leftovers


def test_writing_through_a_symbolic_link_writes_its_target_and_the_link_stays_a_link(tmp_path):
    target, link = tmp_path / "real.png", tmp_path / "link.png"
    target.write_bytes(b"old")
    link.symlink_to(target)
    nn.write_atomically(str(link), lambda f: f.write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"


# --- pictures: red is positive, blue negative, white exactly 0 ---------------------------------
def figures_of(monkeypatch):
    figures = []
    monkeypatch.setattr(nn, "save_figure", lambda fig, path: figures.append(fig))
    return figures


def signed_images(fig):
    return [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == "RdBu_r"]


def assert_red_positive_blue_negative_white_zero(im, limit):
    assert im.norm.vmin == -limit and im.norm.vmax == limit, (im.norm.vmin, im.norm.vmax)
    red, blue, white = (im.cmap(im.norm(v)) for v in (limit, -limit, 0.0))
    assert red[0] > 0.3 > red[2] and blue[2] > 0.3 > blue[0]
    assert min(white[:3]) > 0.9


def test_the_saliency_picture_draws_the_digit_and_g_and_g_times_x_with_red_for_positive(
        monkeypatch):
    import matplotlib.pyplot as plt
    figures, rng = figures_of(monkeypatch), np.random.default_rng(5)
    X, g = rng.random((2, 784)), rng.normal(size=(2, 784))
    g[0, 0] = -5.0                             # the largest |value| is negative: limit = |min|
    nn.plot_saliency(X, np.array([1, 2]), np.array([1, 2]), np.full((2, 10), 0.1), g, None,
                     count=2)
    fig = figures[0]
    digits = [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == "gray_r"]
    assert len(digits) == 2 and (digits[0].norm.vmin, digits[0].norm.vmax) == (0, 1)
    np.testing.assert_array_equal(digits[0].get_array(), X[0].reshape(28, 28))
    assert len(signed_images(fig)) == 4
    (gradient_image,), (vote_image,) = fig.axes[2].get_images(), fig.axes[4].get_images()
    gradient, vote = g[0].reshape(28, 28), (g[0] * X[0]).reshape(28, 28)
    np.testing.assert_allclose(gradient_image.get_array(), gradient)
    np.testing.assert_allclose(vote_image.get_array(), vote)
    assert_red_positive_blue_negative_white_zero(gradient_image, np.abs(gradient).max())
    assert_red_positive_blue_negative_white_zero(vote_image, np.abs(vote).max())
    plt.close(fig)


def test_the_picture_predictions_show_the_input_in_gray_and_its_votes_red_for_and_blue_against(
        monkeypatch):
    import matplotlib.pyplot as plt
    figures, rng = figures_of(monkeypatch), np.random.default_rng(6)
    digit, g = rng.random(784), rng.normal(size=784)
    nn.plot_image_predictions([rng.random((40, 30))], [digit], [np.full(10, 0.1)], [g],
                              ["x.png"], None)
    fig = figures[0]
    grays = [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == "gray"]
    assert len(grays) == 2 and all((im.norm.vmin, im.norm.vmax) == (0, 1) for im in grays)
    np.testing.assert_array_equal(grays[1].get_array(), digit.reshape(28, 28))
    (im,) = signed_images(fig)
    vote = (g * digit).reshape(28, 28)
    np.testing.assert_allclose(im.get_array(), vote)
    assert_red_positive_blue_negative_white_zero(im, np.abs(vote).max())
    plt.close(fig)


def test_first_layer_tiles_are_each_scaled_to_minus_1_to_1_with_red_positive(monkeypatch):
    import matplotlib.pyplot as plt
    figures, W1 = figures_of(monkeypatch), np.random.default_rng(7).normal(size=(784, 4))
    W1[:, 2] *= 10                                    # the largest norm: shown first
    units = nn.plot_first_layer_weights(W1, None, count=4, columns=2)
    assert units.tolist()[0] == 2
    (im,) = signed_images(figures[0])
    assert_red_positive_blue_negative_white_zero(im, 1)
    tile = np.asarray(im.get_array())[:28, :28]
    np.testing.assert_allclose(tile, W1[:, 2].reshape(28, 28) / np.abs(W1[:, 2]).max())
    plt.close(figures[0])


# --- toy data --------------------------------------------------------------------------------
def test_the_spiral_has_n_points_of_each_class_as_float32_pairs():
    X, y = nn.make_spiral(7, 4, np.random.default_rng(0))
    assert X.shape == (28, 2) and X.dtype == np.float32 and y.shape == (28,)
    assert np.array_equal(y, np.repeat(np.arange(4), 7))         # arm after arm
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1 + 1e-6)      # radius 0..1


@pytest.mark.parametrize("make", [nn.make_moons, nn.make_xor])
def test_moons_and_xor_give_n_float32_pairs_with_labels_0_and_1(make):
    X, y = make(11, np.random.default_rng(1))
    assert X.shape == (11, 2) and X.dtype == np.float32 and y.shape == (11,)
    assert set(y.tolist()) <= {0, 1} and 0 < y.sum() < 11
    if make is nn.make_moons:
        assert y.tolist() == [0] * 5 + [1] * 6                   # n // 2 zeros, then ones


@pytest.mark.parametrize("name", sorted(nn.TOY_DATASETS))
def test_each_toy_dataset_is_float_2d_data_with_every_class_present(name):
    X, y = nn.TOY_DATASETS[name](np.random.default_rng(2))
    assert X.ndim == 2 and X.shape[1] == 2 and X.dtype.kind == "f" and len(y) == len(X)
    assert np.all(np.isfinite(X)) and np.array_equal(np.unique(y), np.arange(y.max() + 1))
    assert y.max() >= 1


# --- the drawing pad feeds the network the finished stroke, prepared as --image -------------
PAD_MIDDLE = nn.CANVAS_SIDE / 2


def pad_mouse(fig, name, x, y):
    from matplotlib.backend_bases import MouseEvent
    px, py = fig.axes[0].transData.transform((x, y))
    fig.canvas.callbacks.process(name, MouseEvent(name, fig.canvas, px, py, button=1))


def test_the_pad_feeds_the_network_the_finished_stroke_prepared_as_an_image(monkeypatch):
    import matplotlib.pyplot as plt
    params = nn.initialize_parameters([784, 16, 10], np.random.default_rng(0))
    pad = nn.DrawingPad({"params": params, "activation": "relu", "head": "softmax"})
    pad.fig.canvas.draw()
    fed, predict = [], nn.predict_probabilities
    monkeypatch.setattr(nn, "predict_probabilities",
                        lambda model, X: fed.append(np.array(X)) or predict(model, X))
    pad_mouse(pad.fig, "button_press_event", PAD_MIDDLE, 40)
    pad_mouse(pad.fig, "motion_notify_event", PAD_MIDDLE, 120)
    pad_mouse(pad.fig, "button_release_event", PAD_MIDDLE, 240)    # the last stretch
    assert pad.canvas[40:241, int(PAD_MIDDLE)].min() == 1
    x = fed[-1]
    assert x.shape == (784,) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, nn.preprocess_digit_image(1 - pad.canvas))
    ink = x.reshape(28, 28)
    assert ink[:, 11:17].sum() > 0.9 * ink.sum()                   # a vertical bar, centred
    assert np.count_nonzero(ink.sum(axis=1) > 0) >= 18            # 20 rows tall, not 11
    np.testing.assert_array_equal(pad.artists["input"].get_array(), ink)
    np.testing.assert_allclose(pad.probabilities, predict(pad.model, x))
    plt.close(pad.fig)


# --- the core: one-character slips ---------------------------------------------------------------
@pytest.mark.parametrize("init, std", [("he", math.sqrt(2 / 400)),
                                       ("xavier", math.sqrt(2 / (400 + 100)))])
def test_initial_weights_have_the_std_of_their_rule_and_biases_are_zero(init, std):
    params = nn.initialize_parameters([400, 100, 50], np.random.default_rng(8), init=init)
    assert params["W1"].shape == (400, 100) and params["b1"].shape == (100,)
    assert params["W1"].std() == pytest.approx(std, rel=0.02)
    assert abs(params["W1"].mean()) < 0.05 * std
    assert not params["b1"].any() and not params["b2"].any() and params["W2"].shape == (100, 50)


def test_dropout_touches_only_hidden_layers_so_the_output_still_sums_to_one():
    rng = np.random.default_rng(9)
    params = nn.initialize_parameters([6, 50, 40, 3], rng, dtype=np.float64)
    P, cache = nn.forward_propagation(rng.random((30, 6)), params, dropout=0.25, rng=rng)
    assert "M1" in cache and "M2" in cache and "M3" not in cache
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert set(np.unique(cache["M1"]).tolist()) == {0.0, 1 / 0.75}   # kept ones: 1 / (1 - p)


def test_l1_and_l2_add_l1_sign_w_plus_l2_w_to_weight_gradients_and_nothing_to_biases():
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
        np.testing.assert_allclose(penalised[key] - plain[key], extra, atol=1e-12, err_msg=key)
    assert nn.weight_penalty(params, 0.01, 0.2) == pytest.approx(
        sum(0.01 * np.abs(params[k]).sum() + 0.1 * (params[k] ** 2).sum() for k in ("W1", "W2")))


def test_cross_entropy_is_the_mean_of_minus_log_p_true_and_zero_for_certainty():
    P = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    assert nn.cross_entropy(P, np.array([0, 2, 1])) == pytest.approx(
        -(np.log(0.5) + np.log(0.8)) / 3)
    assert nn.cross_entropy(P[2:], np.array([1])) == 0.0
    assert np.isfinite(nn.cross_entropy(P[2:], np.array([0])))      # log(0) kept finite


def test_per_class_accuracy_divides_by_the_true_class_counts_the_rows_of_c():
    C = nn.confusion_matrix(np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 1, 1, 0, 2]), 3)
    assert C.tolist() == [[1, 2, 0], [0, 1, 0], [1, 0, 1]]          # C[true, predicted]
    np.testing.assert_allclose(nn.per_class_accuracy(C), [1 / 3, 1.0, 0.5])


def test_cosine_schedule_starts_at_one_is_half_at_the_middle_and_ends_at_zero():
    assert nn.cosine_schedule(0, 10) == 1.0 and nn.cosine_schedule(5, 10) == pytest.approx(0.5)
    assert nn.cosine_schedule(10, 10) == pytest.approx(0.0, abs=1e-15)


def test_augmentation_boundary_is_the_last_epoch_within_two_thirds():
    X = np.random.default_rng(11).random((2, 784)).astype(np.float32)
    transform = nn.augment_first_epochs(3)                          # 2 of 3 epochs exactly
    changed = [not np.array_equal(transform(X, e, np.random.default_rng(e)), X) for e in (1, 2, 3)]
    assert changed == [True, True, False]


def test_the_default_training_csv_counts_as_an_input_and_is_never_overwritten(tmp_path, monkeypatch,
                                                                             capsys):
    (tmp_path / "train.csv").write_text("\n".join([HEADER] + [GOOD_ROW] * 20) + "\n")
    before = (tmp_path / "train.csv").read_bytes()
    monkeypatch.setattr(nn, "default_csv", lambda: str(tmp_path / "train.csv"))
    status, _, err = run_in_process(["--epochs", "1", "--save", "train.csv"], monkeypatch, capsys,
                                    tmp_path)
    assert status == 2 and "also an input" in err
    assert (tmp_path / "train.csv").read_bytes() == before


@pytest.mark.parametrize("mode", [["--find-lr"], ["--compare-learning-rates"], ["--toy", "xor"]])
def test_every_mode_that_builds_a_network_refuses_one_too_big_for_memory(mode, tmp_path,
                                                                        monkeypatch, capsys):
    status, _, err = run_in_process([*mode, "--hidden", "100000000"], monkeypatch, capsys, tmp_path)
    assert status == 2 and "GiB" in err and list(tmp_path.iterdir()) == []


def test_picture_names_that_are_not_utf8_print_and_draw_on_a_strict_utf8_output(default_model,
                                                                                 tmp_path):
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    name = os.fsdecode(b"digit-\xff.png")                   # a name from an old Windows zip
    save_gray_png(tmp_path / name, digit_as_photo(X[0], np.random.default_rng(8)))
    result = subprocess.run([sys.executable, SCRIPT, "--load", default_model, "--image", name,
                             "--plot-dir", "."], cwd=tmp_path,
                            capture_output=True, env={**os.environ, "MPLBACKEND": "Agg",
                                                      "PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"prediction" in result.stdout and (tmp_path / "my_digits.png").exists()


def test_more_pictures_than_my_digits_png_shows_are_all_read_and_the_first_ones_drawn(
        default_model, tmp_path, monkeypatch, capsys):
    X, y = nn.load_digits_csv(os.path.join(HERE, "train.csv"))
    names = [save_gray_png(tmp_path / f"d{i}.png", digit_as_photo(X[i], np.random.default_rng(i)))
             for i in range(3)]
    drawn = []
    monkeypatch.setattr(nn, "PICTURES_SHOWN", 2)
    monkeypatch.setattr(nn, "plot_image_predictions",
                        lambda *a, path: drawn.append((*a, path)))
    status, out, _ = run_in_process(["--load", default_model, "--image", *names], monkeypatch,
                                    capsys, tmp_path)
    assert status == 0 and out.count(": prediction ") == 3
    assert "shows the first 2 of the 3 pictures" in out
    originals, digits, probabilities, saliencies, shown_names, _ = drawn[0]
    assert len(digits) == len(originals) == len(saliencies) == 2 and shown_names == names[:2]
    assert all(original is not None for original in originals)


# --- the command line and the reader, property by property ----------------------------------
PIXEL_HEADER = "label," + ",".join(f"pixel{i}" for i in range(nn.NUM_PIXELS))


def labelled_csv_file(path, rows=20, seed=0):
    """A small labelled digits CSV in Kaggle's layout; returns its path as a string."""
    rng = np.random.default_rng(seed)
    X, y = rng.integers(0, 256, (rows, nn.NUM_PIXELS)), rng.integers(0, 10, rows)
    lines = [PIXEL_HEADER] + [f"{label}," + ",".join(map(str, row)) for label, row in zip(y, X)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def saved_model_file(path, sizes, activation="relu", head="softmax"):
    params = nn.initialize_parameters(list(sizes), np.random.default_rng(0))
    nn.save_model(str(path), {"params": params, "activation": activation, "head": head})
    return str(path)


# --- parse_args: defaults and the values a flag accepts ---------------------------------------
def test_the_default_learning_rate_is_the_chosen_optimizers_own():
    for optimizer, rate in nn.DEFAULT_LEARNING_RATES.items():
        assert nn.parse_args(["--optimizer", optimizer]).learning_rate == rate
    assert nn.parse_args(["--optimizer", "sgd", "--lr", "0.05"]).learning_rate == 0.05


def test_a_typed_learning_rate_wins_over_the_toy_modes_default():
    assert nn.parse_args(["--toy", "xor"]).learning_rate == 0.01
    assert nn.parse_args(["--toy", "xor", "--lr", "0.3"]).learning_rate == 0.3


def test_an_infinite_or_nan_number_is_refused_by_every_number_flag(capsys):
    for text in ("inf", "nan", "-inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            nn.positive_float(text)
        with pytest.raises(argparse.ArgumentTypeError):
            nn.non_negative_float(text)
    with pytest.raises(SystemExit):
        nn.parse_args(["--lr", "inf"])
    assert "'inf' is not a finite number > 0" in capsys.readouterr().err


def test_a_validation_fraction_of_one_is_refused_at_the_command_line(capsys):
    with pytest.raises(SystemExit):
        nn.parse_args(["--val-fraction", "1"])
    assert "'1' is not a fraction" in capsys.readouterr().err
    assert nn.parse_args(["--val-fraction", "0.99"]).val_fraction == 0.99


def test_hidden_sizes_read_an_empty_string_as_no_hidden_layer_and_skip_empty_parts():
    assert nn.hidden_sizes("") == []
    assert nn.hidden_sizes("64,") == [64]
    assert nn.hidden_sizes("256, 128") == [256, 128]
    assert nn.parse_args(["--toy", "xor", "--hidden", ""]).hidden == []


def test_a_flag_with_its_own_dest_fills_that_attribute():
    dest = {name: row["dest"] for name, row in nn.FLAG_OF.items()}
    assert dest["--lr"] == "learning_rate" and dest["--lr-schedule"] == "schedule"
    assert dest["--batch-size"] == "batch_size" and dest["--no-augment"] == "augment"


# --- what a run reads and writes --------------------------------------------------------------
def test_the_training_csv_is_one_of_the_inputs_a_run_must_not_overwrite():
    assert "x.csv" in nn.input_paths(nn.parse_args(["--csv", "x.csv"]))
    args = nn.parse_args(["--load", "m.npz", "--image", "a.png", "b.png", "--predict", "t.csv"])
    assert sorted(nn.input_paths(args)) == ["a.png", "b.png", "m.npz", "t.csv"]


def test_the_default_submission_path_is_an_output_only_when_predict_is_given():
    assert "submission.csv" not in nn.planned_outputs(nn.parse_args(["--no-plot"]))
    assert nn.planned_outputs(nn.parse_args(["--no-plot", "--predict", "t.csv"])) == [
        "submission.csv"]


# --- split: the validation share -------------------------------------------------------------
def test_a_validation_share_that_holds_out_every_row_is_refused():
    X, y = np.zeros((10, 3)), np.arange(10) % 2
    args = argparse.Namespace(val_fraction=0.96, given=["--val-fraction"])
    with pytest.raises(nn.InputError, match="leaving 0 to train"):
        nn.split(args, X, y, np.random.default_rng(0))
    args.val_fraction = 0.9
    X_train, _, X_val, _ = nn.split(args, X, y, np.random.default_rng(0))
    assert (len(X_train), len(X_val)) == (1, 9)


@pytest.mark.parametrize("name", ["--patience", "--robustness", "--explain",
                                  "--compare-architectures", "--compare-learning-rates"])
def test_with_no_validation_digits_each_flag_that_measures_on_them_is_refused(name):
    X, y = np.zeros((10, 3)), np.arange(10) % 2
    args = argparse.Namespace(val_fraction=0.0, given=[name])
    with pytest.raises(nn.InputError, match=f"so {name} has nothing to measure on"):
        nn.split(args, X, y, np.random.default_rng(0))


# --- the pictures read with --image -----------------------------------------------------------
def test_only_the_first_pictures_shown_are_kept_small_enough_to_show(monkeypatch):
    monkeypatch.setattr(nn, "PICTURES_SHOWN", 2)
    monkeypatch.setattr(nn, "load_image_gray", lambda path: np.ones((5, 5)))
    monkeypatch.setattr(nn, "shrink_for_speed", lambda gray: "shown")
    monkeypatch.setattr(nn, "preprocess_digit_image", lambda gray, path: path)
    args = argparse.Namespace(test_csv=None, predict=None, image=["a", "b", "c", "d"])
    images = nn.read_uses(args)["images"]
    assert images == [("shown", "a"), ("shown", "b"), (None, "c"), (None, "d")]


def test_a_picture_over_4000_pixels_wide_is_averaged_down_by_its_longest_side(tmp_path):
    from PIL import Image
    Image.new("L", (4200, 1000), 255).save(tmp_path / "wide.png")
    assert nn.load_image_gray(str(tmp_path / "wide.png")).shape == (500, 2100)


def test_my_digits_titles_name_each_picture_by_its_file_name_without_its_folder(monkeypatch):
    figures = []
    monkeypatch.setattr(nn, "save_figure", lambda fig, path: figures.append(fig))
    digit = np.zeros(nn.NUM_PIXELS)
    nn.plot_image_predictions([np.ones((30, 30))], [digit], [np.full(10, 0.1)], [digit],
                              [os.path.join("photos", "today", "seven.png")], None)
    assert figures[0].axes[0].get_title() == "your picture: seven.png"
    import matplotlib.pyplot as plt
    plt.close(figures[0])


# --- the modes ---------------------------------------------------------------------------------
def test_predict_without_load_or_save_says_a_new_network_is_trained_first(tmp_path, monkeypatch,
                                                                          capsys):
    path = labelled_csv_file(tmp_path / "d.csv")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop
    monkeypatch.setattr(nn, "train_from_flags", stop)
    with pytest.raises(Stop):
        nn.train_digits(nn.parse_args(["--csv", path, "--predict", path, "--no-plot"]))
    assert "no --load given, so a new network is trained first" in capsys.readouterr().out


def test_a_loaded_network_with_the_wrong_number_of_outputs_is_refused(tmp_path):
    model = saved_model_file(tmp_path / "m.npz", [nn.NUM_PIXELS, 4, 3])
    csv = labelled_csv_file(tmp_path / "t.csv")
    args = nn.parse_args(["--load", model, "--test-csv", csv, "--no-plot"])
    with pytest.raises(nn.InputError, match="built for other shapes"):
        nn.use_saved_network(args)


def test_draw_alone_is_something_to_use_a_loaded_network_on(tmp_path):
    model = saved_model_file(tmp_path / "m.npz", [nn.NUM_PIXELS, 4, nn.NUM_CLASSES])
    closing, loaded = nn.use_saved_network(nn.parse_args(["--load", model, "--draw"]))
    assert closing == [] and nn.network_sizes(loaded["params"]) == [nn.NUM_PIXELS, 4, 10]


def test_one_wrong_gradient_fails_the_gradient_check_even_when_the_others_pass(monkeypatch):
    monkeypatch.setattr(nn, "check_gradients_of_small_network",
                        lambda *args, **kwargs: {"W1": 1e-9, "b1": 1e-2})
    args = nn.parse_args(["--check-gradients"])
    closing, _ = nn.check_gradients(args)
    assert closing[0].startswith(nn.CHECK_FAILED)


def test_find_lr_runs_the_range_test_with_the_chosen_activation(tmp_path, monkeypatch):
    seen = {}

    def fake_range_test(params, X, y, batch_size, rng, **options):
        seen.update(options)
        return [1e-6, 1e-5], [2.3, 2.2]
    monkeypatch.setattr(nn, "lr_range_test", fake_range_test)
    monkeypatch.setattr(nn, "suggest_learning_rate", lambda rates, losses: 1e-3)
    args = nn.parse_args(["--find-lr", "--csv", labelled_csv_file(tmp_path / "d.csv"),
                          "--activation", "tanh", "--hidden", "4", "--no-plot"])
    nn.find_learning_rate(args)
    assert seen["activation"] is nn.tanh and seen["activation_backward"] is nn.tanh_backward


def test_nan_in_the_inputs_is_refused_for_every_head_before_training():
    X, y = np.ones((6, 3), np.float32), np.array([0, 1, 0, 1, 0, 1])
    X[2, 1] = np.nan
    for head in ("softmax", "sigmoid", "mse"):
        with pytest.raises(nn.InputError, match="X holds nan or inf"):
            nn.train(X, y, head=head, hidden=[4], epochs=1)


def test_an_epoch_whose_validation_score_is_nan_is_never_kept_as_the_best():
    best, params = {}, {"W1": np.zeros(2)}
    assert nn.keep_best(best, 1, params, float("nan")) == 0
    assert nn.keep_best(best, 2, params, -0.5) == 0 and best["epoch"] == 2
    assert nn.keep_best(best, 3, params, float("nan")) == 1 and best["epoch"] == 2


def test_ctrl_c_stops_a_comparison_after_the_setting_it_interrupted(tmp_path, monkeypatch,
                                                                     capsys):
    signals, trained, real_train = [], [], nn.train

    def interrupted_train(X, y, **options):        # train() keeps the model so far on Ctrl-C
        trained.append(options["hidden"])
        signals.append(2)
        return real_train(X, y, epochs=1, hidden=[4])
    monkeypatch.setattr(nn, "SIGNALS_RECEIVED", signals)
    monkeypatch.setattr(nn, "train", interrupted_train)
    args = nn.parse_args(["--compare-architectures", "--csv",
                          labelled_csv_file(tmp_path / "d.csv"), "--no-plot"])
    nn.compare_settings(args)
    out = capsys.readouterr().out
    assert trained == [[32]] and "32  " not in out.split("seconds", 1)[1]


def test_the_inverse_schedule_gets_the_typed_decay(monkeypatch):
    seen = {}

    def fake_train(X, y, **options):
        seen.update(options)
        return {"params": {}}, []
    monkeypatch.setattr(nn, "train", fake_train)
    args = nn.parse_args(["--lr-schedule", "inverse", "--lr-decay", "0.5", "--no-plot"])
    X, y = np.zeros((5, nn.NUM_PIXELS), np.float32), np.arange(5)
    nn.train_from_flags(args, X, y, None, None, rng=np.random.default_rng(0), num_classes=10,
                        what="digits")
    assert seen["schedule"](10, 100) == nn.inverse_schedule(10, 100, decay=0.5)


def test_the_toy_mode_checks_memory_for_two_inputs_not_784(monkeypatch):
    seen = []
    monkeypatch.setattr(nn, "check_fits_in_memory", lambda sizes, batch: seen.append(sizes))
    monkeypatch.setitem(nn.MODES["toy"], "run", lambda args: ([], None))
    assert nn.main(nn.parse_args(["--toy", "xor", "--hidden", "8", "--no-plot"])) == 0
    assert seen == [[2, 8, nn.NUM_CLASSES]]


def test_run_stops_like_ctrl_c_on_sigint_sigterm_and_sighup(monkeypatch):
    registered = {}
    monkeypatch.setattr(sys, "stdout", sys.stdout)        # run() wraps it; put it back after
    monkeypatch.setattr(signal, "signal", lambda num, handler: registered.update({num: handler}))

    def refuse(argv):
        raise nn.InputError("stop here")
    monkeypatch.setattr(nn, "parse_args", refuse)
    with pytest.raises(SystemExit) as stopped:
        nn.run([])
    assert stopped.value.code == 2
    wanted = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
              if hasattr(signal, name)]
    assert all(registered.get(num) is nn.stop_like_ctrl_c for num in wanted)


# --- the CSV reader ----------------------------------------------------------------------------
def test_pixels_whose_largest_value_is_exactly_one_are_read_as_0_to_1(tmp_path, capsys):
    rows = [PIXEL_HEADER, "3," + ",".join(["1"] + ["0.5"] + ["0"] * 782),
            "4," + ",".join(["0"] * 784)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    X, y = nn.load_digits_csv(str(tmp_path / "d.csv"))
    assert X[0, :3].tolist() == [255, 128, 0] and y.tolist() == [3, 4]
    assert "pixels from 0 to 1" in capsys.readouterr().out


def test_a_blank_cell_in_a_table_of_fractions_is_named_not_read_as_a_gray_level(tmp_path):
    rows = [PIXEL_HEADER, "3," + ",".join(["0.5"] * 784), "4," + ",".join([""] + ["0"] * 783)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(nn.InputError, match="row 3, column 'pixel0' holds '', not a number"):
        nn.load_digits_csv(str(tmp_path / "d.csv"))


def test_a_label_of_ten_is_refused(tmp_path):
    rows = [PIXEL_HEADER, "10," + ",".join(["0"] * 784)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(nn.InputError, match="row 2 has label 10"):
        nn.load_digits_csv(str(tmp_path / "d.csv"))


def test_an_unnamed_first_column_is_an_index_and_skipped(tmp_path):
    rows = ["," + PIXEL_HEADER, "0,7," + ",".join(["9"] * 784)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    X, y = nn.load_digits_csv(str(tmp_path / "d.csv"))
    assert X.shape == (1, 784) and X.max() == 9 and y.tolist() == [7]


# --- model files -------------------------------------------------------------------------------
def test_a_model_file_with_an_extra_array_is_refused(tmp_path):
    path = saved_model_file(tmp_path / "m.npz", [6, 3])
    with np.load(path) as npz:
        arrays = dict(npz)
    np.savez(tmp_path / "extra.npz", **arrays, W2=np.zeros((3, 3)))
    with pytest.raises(nn.InputError, match="not a complete model"):
        nn.load_model(str(tmp_path / "extra.npz"))


def test_a_model_file_with_integer_weights_is_refused(tmp_path):
    np.savez(tmp_path / "m.npz", W1=np.zeros((6, 3), int), b1=np.zeros(3),
             layer_sizes=np.array([6, 3]), activation="relu", head="softmax")
    with pytest.raises(nn.InputError, match="not a complete model"):
        nn.load_model(str(tmp_path / "m.npz"))


# --- training stops when it diverges ------------------------------------------------------------
def test_train_refuses_finite_weights_whose_outputs_are_nan(monkeypatch):
    def blow_up(params, *args, **kwargs):
        for key in params:
            params[key][...] = 1e30          # finite, but the logits overflow to inf
    monkeypatch.setattr(nn, "gradient_descent", blow_up)
    X, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(FloatingPointError, match="outputs became nan or inf"):
        nn.train(X, y, hidden=[4], epochs=1)


def expected_stop(values, blow_up=4.0, beta=0.9):
    """The batch at which lr_range_test should stop, from smooth_losses and its rule."""
    smoothed, lowest = nn.smooth_losses(values, beta), np.inf
    for t, value in enumerate(smoothed):
        if t + 1 > round(1 / (1 - beta)):
            lowest = min(lowest, value)
        if value > blow_up * lowest:
            return t
    return None


def test_the_range_test_stops_when_the_bias_corrected_smoothed_loss_passes_four_times_its_lowest():
    values = [0.5, 1.5] * 6 + [1.2 ** k for k in range(1, 40)]   # noisy, then climbing
    stop = expected_stop(values)
    assert stop is not None
    calls, n = iter(values), len(values)            # one batch of one row per value
    params = nn.initialize_parameters([2, 2], np.random.default_rng(0))
    _, losses = nn.lr_range_test(params, np.zeros((n, 2), np.float32), np.zeros(n, int), 1,
                                 np.random.default_rng(0), loss=lambda P, y: next(calls))
    assert len(losses) == stop + 1 < n


@pytest.mark.parametrize("head", ["sigmoid", "mse", "mae"])
def test_every_head_trains_scores_and_predicts_digits_and_toys_from_the_command_line(
        head, small_csv, tmp_path, monkeypatch, capsys):
    status, out, _ = run_in_process(["--csv", small_csv, "--head", head, "--epochs", "2",
                                     "--hidden", "8", "--no-plot", "--save", "m.npz",
                                     "--patience", "1"], monkeypatch, capsys, tmp_path)
    assert status == 0 and "validation accuracy: " in out
    status, out, _ = run_in_process(["--load", "m.npz", "--test-csv", small_csv, "--predict",
                                     small_csv, "--no-plot"], monkeypatch, capsys, tmp_path)
    assert status == 0 and "test accuracy: " in out and (tmp_path / "submission.csv").exists()
    status, out, _ = run_in_process(["--toy", "xor", "--head", head, "--epochs", "20",
                                     "--no-plot"], monkeypatch, capsys, tmp_path)
    assert status == 0 and float(out.split("validation accuracy: ")[1].split()[0]) > 0.8


@pytest.mark.parametrize("typed, meant", [("--epo", "--epochs"), ("--epohcs", "--epochs"),
                                          ("--lr-sched", "--lr-schedule")])
def test_a_shortened_or_misspelt_flag_is_refused_with_the_flag_it_is_nearest_to(typed, meant,
                                                                                 capsys):
    with pytest.raises(SystemExit) as status:
        nn.parse_args([typed, "3"])
    assert status.value.code == 2 and f"did you mean {meant}?" in capsys.readouterr().err
