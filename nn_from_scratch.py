"""A neural network from scratch: an MLP that reads handwritten digits, in NumPy.

Run it:   python nn_from_scratch.py            (trains, validates, plots)
          python nn_from_scratch.py --help     (every flag, explained)

The data is a Kaggle-style CSV: a header `label,pixel0,...,pixel783`, then one
image per row: the digit (0-9) and its 28 x 28 = 784 gray levels (0-255), row by row.

The story, in the order the file tells it:
    data -> initialize -> forward -> loss -> backward -> update -> accuracy -> plots
Everything past that story (more activations, optimizers, saving, your own
pictures, ...) is opt-in and comes after the core, one small function each.

Shape convention (used in every docstring and line-end comment):
    one example per ROW, as the CSV arrives and as PyTorch does it.
    N  examples in a batch          D  = 784 input pixels
    H  units in a hidden layer      K  = 10 classes
    X (N, D)   y (N,) integer labels   Y (N, K) one-hot   W (fan_in, fan_out)   b (fan_out,)
Layers are numbered 1..L; parameters are keyed "W1", "b1", ..., "WL", "bL".

Every function takes what it needs as arguments and returns what it makes (no
global state, randomness through an `rng` argument), so you can copy any one
out, with the constants and name tables (ACTIVATIONS, HEADS) it mentions.
Importing this file only defines things.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE   # D = 784
NUM_CLASSES = 10                       # K = 10 digits
# Good starting learning rates differ by optimizer: Adam's steps are about lr
# per weight whatever the gradient's size, plain SGD's are lr * gradient.
DEFAULT_LEARNING_RATES = {"sgd": 0.3, "momentum": 0.05, "adagrad": 0.01, "rmsprop": 0.001,
                          "adam": 0.002}


# %% Data: read the CSV, check it, split it, scale it
class InputError(Exception):
    """A problem with the user's input, worded as one sentence that says how to fix it."""


def load_digits_csv(path, labelled=True, flag="--csv"):
    """Read a Kaggle-style digits CSV; return X (N, 784) uint8 and y (N,) uint8.

    With labelled=False the file is a Kaggle test.csv (pixel columns only): y is
    None, or the unchecked label column if there is one. Raises InputError, naming
    the file and the flag that gave it, on bad input.
    """
    if not os.path.isfile(path):
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        raise InputError(f"{path} {what}; pass a CSV file with {flag} PATH.")
    # Fast path: parse every cell straight into uint8 (1 byte a pixel, 4x less
    # memory than float32). Anything unusual (a float, a blank, 300, 'abc')
    # makes pandas refuse, and the slow path below finds the cell to blame.
    # utf-8-sig drops the byte-order mark Excel puts at the start of a CSV.
    # Reading 10,000 rows at a time keeps pandas' parsing buffers small: one gulp
    # of a 60,000-row file needs about 3x the memory of the finished array.
    try:
        with pd.read_csv(path, dtype=np.uint8, encoding="utf-8-sig", chunksize=10_000) as reader:
            chunks = list(reader)
        columns, data = chunks[0].columns, np.concatenate([c.to_numpy() for c in chunks])
    except Exception:
        frame = _read_csv_carefully(path)
        columns, data = frame.columns, frame.to_numpy()
    return _check_digits(columns, data, path, labelled)


def _read_csv_carefully(path):
    """Read a CSV that failed the fast path and convert it to uint8, or say why not."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True,
                            dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; it needs a header line and one image per row.")
    except OSError as err:
        raise InputError(f"{path} cannot be read ({err.strerror or err}); check its permissions.")
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        reason = str(err).strip().splitlines()[-1].rstrip(".")
        raise InputError(f"{path} is not a readable CSV ({reason}); save it as plain "
                         "comma-separated text.")
    if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
        raise InputError(f"{path} is separated by semicolons; save it with commas "
                         "(in Excel: CSV UTF-8, comma delimited).")
    values = frame.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = values.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        cell = frame.iat[row, col]
        raise InputError(f"{path} row {row + 2}, column {frame.columns[col]!r} holds "
                         f"{cell!r}, not a number; every cell must be a number "
                         "(check for blank cells or a short row).")
    numbers = values.to_numpy(dtype=np.float64)
    if numbers.min() < 0 or numbers.max() > 255:
        row, col = np.argwhere((numbers < 0) | (numbers > 255))[0]
        raise InputError(f"{path} row {row + 2}, column {frame.columns[col]!r} holds "
                         f"{numbers[row, col]:g}; pixels and labels must lie in 0..255.")
    if "label" in frame.columns and np.any(numbers[:, 0] != np.rint(numbers[:, 0])):
        row = int(np.argmax(numbers[:, 0] != np.rint(numbers[:, 0])))
        raise InputError(f"{path} row {row + 2} has label {numbers[row, 0]:g}; labels must be "
                         "the whole digits 0..9.")
    # Float pixels (0.0..255.0) are harmless: round them to the nearest gray level.
    return pd.DataFrame(np.rint(numbers).astype(np.uint8), columns=frame.columns)


def _check_digits(columns, data, path, labelled):
    """Check the header and labels of a parsed CSV (data: (N, columns) uint8); return (X, y)."""
    columns = [str(c).strip() for c in columns]
    has_label = columns[:1] == ["label"]
    pixels = columns[1:] if has_label else columns
    if len(pixels) != NUM_PIXELS:
        raise InputError(f"{path} has {len(pixels)} pixel columns but a 28x28 image needs "
                         f"{NUM_PIXELS}; the header should read label,pixel0,...,pixel783.")
    if labelled and not has_label:
        raise InputError(f"{path} has no 'label' column first; training and testing "
                         "need one (header label,pixel0,...,pixel783).")
    if len(data) == 0:
        raise InputError(f"{path} has a header but no rows; add one image per row.")
    X = np.ascontiguousarray(data[:, 1:] if has_label else data)
    if not labelled:                                  # a label column, if any, is only reported
        return X, (data[:, 0] if has_label else None)
    y = data[:, 0].copy()
    if y.max() >= NUM_CLASSES:
        row = int(np.argmax(y >= NUM_CLASSES))
        raise InputError(f"{path} row {row + 2} has label {y[row]}; labels must be the "
                         "digits 0..9.")
    return X, y


def split_train_val(X, y, val_fraction, rng):
    """Shuffle, then hold out a fraction for validation: (X_train, y_train, X_val, y_val).

    The validation set is never trained on, so its accuracy estimates how the
    network does on digits it has never seen. Shuffling first matters when the
    file is sorted by label: the held-out part must look like the rest.
    """
    order = rng.permutation(len(y))
    n_val = int(round(len(y) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def scale_pixels(X, dtype=np.float32):
    """Map gray levels 0..255 to 0..1: (N, D) uint8 -> (N, D) float.

    Inputs near 0..1 keep the first layer's pre-activations at the scale the
    weight initialisation assumes; raw 0..255 would make them 255x too large.
    """
    scaled = X.astype(dtype)                # one new array; dividing in place avoids a second
    scaled /= dtype(255)
    return scaled


def one_hot(y, num_classes, dtype=np.float32):
    """Labels (N,) -> one-hot Y (N, K): Y[i, y[i]] = 1, every other entry 0.

    num_classes is explicit: a mini-batch without a 9 still needs 10 columns.
    """
    Y = np.zeros((len(y), num_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1.0
    return Y


# %% Building blocks: activations, output layers, losses
# The default network uses relu, softmax and cross_entropy. The others are here so
# that the same forward/backward code can also run the classic alternatives
# (--activation, --head); each comes with its derivative.
def relu(Z):
    """ReLU(z) = max(0, z), elementwise. Cheap, and its gradient does not fade for z > 0."""
    return np.maximum(Z, 0)


def relu_backward(dA, Z):
    """dL/dZ = dL/dA * ReLU'(Z), where ReLU'(z) = 1 if z > 0 else 0."""
    return dA * (Z > 0)


def tanh(Z):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z), in (-1, 1) and centred on 0."""
    return np.tanh(Z)


def tanh_backward(dA, Z):
    """tanh'(z) = 1 - tanh(z)^2: near 0 for large |z|, so deep tanh nets learn slowly."""
    return dA * (1 - np.tanh(Z) ** 2)


def sigmoid(Z):
    """sigmoid(z) = 1 / (1 + e^-z), in (0, 1); written as (1 + tanh(z/2)) / 2, which equals it
    and never overflows (exp(-z) does for z < -710)."""
    return 0.5 * (1 + np.tanh(0.5 * Z))


def sigmoid_backward(dA, Z):
    """sigmoid'(z) = s (1 - s), at most 1/4: gradients shrink 4x per layer at best."""
    S = sigmoid(Z)
    return dA * S * (1 - S)


def identity(Z):
    """The linear output for regression: A = Z."""
    return Z


def softmax(Z):
    """Row-wise probabilities: P[i, k] = exp(Z[i, k]) / sum_j exp(Z[i, j]). (N, K) -> (N, K)."""
    # exp(1000) is inf, and inf / inf is nan. Subtracting each row's maximum
    # cancels in the ratio, so P is unchanged, but every exp() is now <= 1.
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def cross_entropy(P, y):
    """Mean negative log-probability of the true class: L = -(1/N) sum_i log P[i, y_i].

    A network that puts probability 1 on the right digit has loss 0; a uniform
    guess over 10 digits has loss log(10) = 2.30, the value training starts near.
    """
    # The 1e-12 keeps log() finite when a probability underflows to exactly 0.
    return float(-np.log(P[np.arange(len(y)), y] + 1e-12).mean())


def binary_cross_entropy(A, Y):
    """For sigmoid outputs, each an independent yes/no: (N, K) targets Y in {0, 1}.

    L = -(1/N) sum_i sum_k [Y log A + (1 - Y) log(1 - A)]
    """
    A = np.clip(A, 1e-7, 1 - 1e-7)          # log(0) = -inf; float32 rounds 1 - 1e-12 to 1
    return float(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / len(Y))


def mean_squared_error(A, Y):
    """L = (1/2N) sum_i sum_k (A - Y)^2; the 1/2 cancels the 2 of the derivative."""
    return float(0.5 * np.sum((A - Y) ** 2) / len(Y))


def mean_absolute_error(A, Y):
    """L = (1/N) sum_i sum_k |A - Y|: less swayed by outliers than squared error."""
    return float(np.sum(np.abs(A - Y)) / len(Y))


def weight_penalty(params, l1=0.0, l2=0.0):
    """Regularisation added to the loss: l1 * sum |W| + (l2 / 2) * sum W^2 (weights only).

    Both pull weights toward 0 and so toward simpler functions; L1 pushes many to
    exactly 0 (sparse), L2 shrinks all in proportion. Biases are left alone:
    they do not make the function any more wiggly.
    """
    weights = [W for key, W in params.items() if key.startswith("W")]
    return float(sum(l1 * np.sum(np.abs(W)) + 0.5 * l2 * np.sum(W * W) for W in weights))


# Names -> functions, for the command line and for saved models.
ACTIVATIONS = {"relu": (relu, relu_backward), "tanh": (tanh, tanh_backward),
               "sigmoid": (sigmoid, sigmoid_backward)}
# Output layer and its loss. softmax + cross-entropy, sigmoid + binary cross-entropy
# and linear + squared error are "matched": in all three the gradient of the loss
# with respect to the output layer's Z is the same short (A - Y) / N (worked out
# in backward_propagation). Mean absolute error has sign(A - Y) / N instead.
HEADS = {"softmax": (softmax, cross_entropy), "sigmoid": (sigmoid, binary_cross_entropy),
         "mse": (identity, mean_squared_error), "mae": (identity, mean_absolute_error)}


def as_targets(y, num_outputs):
    """Integer labels (N,) -> one-hot (N, K); targets that are already (N, K) pass through."""
    return one_hot(y, num_outputs) if np.ndim(y) == 1 else y


def compute_loss(A, y, head="softmax"):
    """The loss of the head's choice; integer labels are one-hot encoded where needed."""
    if head == "softmax" and np.ndim(y) == 1:
        return cross_entropy(A, y)
    return HEADS[head][1](A, as_targets(y, A.shape[1]))


# %% The model: initialise, forward, backward, update
def initialize_parameters(layer_sizes, rng, dtype=np.float32, init="he"):
    """Weights and biases for an MLP with layer_sizes = [D, H1, ..., K] (any depth).

    W_l (n_{l-1}, n_l) drawn from N(0, std^2), b_l zeros. Each unit sums n_{l-1}
    inputs, so the variance of Z grows with the fan-in; scaling by it keeps Z
    at unit size, layer after layer. Too small and the signal fades; too large
    and it explodes.
        he:     std = sqrt(2 / n_{l-1})              for ReLU, which zeroes about
                                                     half its inputs: hence the 2
        xavier: std = sqrt(2 / (n_{l-1} + n_l))      for tanh and sigmoid (Glorot)
    Zero biases are fine: the random weights already make every unit different.
    """
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        std = np.sqrt(2.0 / fan_in) if init == "he" else np.sqrt(2.0 / (fan_in + fan_out))
        params[f"W{l}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def forward_propagation(X, params, activation="relu", head="softmax", dropout=0.0, rng=None):
    """Run a batch through the network; return the output A_L (N, K) and a cache for backprop.

    Math, for layers l = 1..L, starting from A0 = X (N, D):
        Z_l = A_{l-1} @ W_l + b_l          (N, n_l); b_l broadcasts over the rows
        A_l = relu(Z_l)                    hidden layers (or tanh, sigmoid)
        P   = softmax(Z_L)                 (N, K), each row sums to 1
    With dropout > 0 (training only, and an rng), each hidden unit is zeroed with
    probability `dropout` and the survivors are scaled by 1 / (1 - dropout), so
    the expected activation is unchanged and evaluation needs no rescaling
    ("inverted" dropout). A unit that cannot count on its neighbours has to be
    useful on its own: a strong regulariser for big layers.
    """
    g = ACTIVATIONS[activation][0]
    output = HEADS[head][0]
    L = len(params) // 2
    A = X                                                 # A0 = X, (N, D)
    cache = {"A0": X}
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"]                           # (N, n_l)
        Z += params[f"b{l}"]                              # in place: one array fewer
        A = g(Z) if l < L else output(Z)
        if dropout > 0 and rng is not None and l < L:
            mask = (rng.random(A.shape) >= dropout).astype(A.dtype) / (1 - dropout)
            A = A * mask                                  # (N, n_l); mask kept for backprop
            cache[f"M{l}"] = mask
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return A, cache


def backward_propagation(params, cache, P, y, activation="relu", head="softmax",
                         l1=0.0, l2=0.0, grads=None):
    """Gradients of the mean loss with respect to every parameter.

    Returns grads with the same keys and shapes as params (grads["W1"] is dL/dW1),
    written into the arrays of `grads` if given (the training loop reuses them:
    fresh memory for a 784 x 256 gradient every step costs more than the product).
    The chain rule, from the output back:
        dZ_L     = (P - Y) / N             output layer + its matched loss (below)
        dW_l     = A_{l-1}.T @ dZ_l        (n_{l-1}, n_l), the shape of W_l
        db_l     = sum over rows of dZ_l   (n_l,)
        dA_{l-1} = dZ_l @ W_l.T            (N, n_{l-1})
        dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})  (times the dropout mask, if any)
    Why (P - Y) / N at the output, for all three matched pairs (per example, z one
    row of Z_L, a = output(z), y one row of Y; the 1/N is from averaging):
        softmax + CE:   L = -sum_k y_k log a_k,  da_j/dz_k = a_j (1[j=k] - a_k)
                        dL/dz_k = -sum_j y_j (1[j=k] - a_k) = a_k sum_j y_j - y_k = a_k - y_k
        sigmoid + BCE:  L = -[y log a + (1-y) log(1-a)],  da/dz = a (1 - a)
                        dL/dz = (a - y) / (a (1 - a)) * a (1 - a) = a - y
        linear + MSE:   L = (a - y)^2 / 2,  a = z:  dL/dz = a - y
    In each, the output's derivative cancels against the loss's: that is why these
    pairs go together. MAE, |a - y|, gives sign(a - y) instead.
    """
    L = len(params) // 2
    N = len(y)
    if head == "softmax" and np.ndim(y) == 1:
        dZ = P.copy()
        dZ[np.arange(N), y] -= 1                          # P - Y without building Y
    else:
        dZ = P - as_targets(y, P.shape[1]).astype(P.dtype)
        if head == "mae":
            dZ = np.sign(dZ)
    dZ /= N                                               # (N, K)
    g_backward = ACTIVATIONS[activation][1]
    if grads is None:
        grads = {key: np.empty_like(value) for key, value in params.items()}
    for l in range(L, 0, -1):
        np.matmul(cache[f"A{l - 1}"].T, dZ, out=grads[f"W{l}"])  # dW_l = A_{l-1}.T @ dZ_l
        dZ.sum(axis=0, out=grads[f"b{l}"])                     # db_l = sum over rows
        if l1 or l2:      # d/dW of l1 sum|W| + (l2/2) sum W^2  =  l1 sign(W) + l2 W
            grads[f"W{l}"] += l1 * np.sign(params[f"W{l}"]) + l2 * params[f"W{l}"]
        if l > 1:                                        # no gradient needed for X itself
            dA = dZ @ params[f"W{l}"].T                  # (N, n_{l-1})
            if f"M{l - 1}" in cache:
                dA *= cache[f"M{l - 1}"]                 # dropped units pass no gradient
            dZ = g_backward(dA, cache[f"Z{l - 1}"])
    return grads


def init_optimizer_state(params):
    """Zeroed running averages for the optimizers that keep some, and a scratch array each."""
    zeros = {key: np.zeros_like(value) for key, value in params.items()}
    return {"step": 0, "m": zeros, "v": {key: z.copy() for key, z in zeros.items()},
            "scratch": {key: np.empty_like(z) for key, z in zeros.items()}}


def update_parameters(params, grads, state, learning_rate, optimizer="adam",
                      beta1=0.9, beta2=0.999, eps=1e-8):
    """One optimisation step; updates params and state in place, returns params.

    sgd:      W -= lr * dW                         the plain gradient step
    momentum: m = beta1*m + dW;  W -= lr * m       a heavy ball: steps that agree
                                                   add up, zig-zags cancel out
    adagrad:  v += dW**2;  W -= lr * dW / (sqrt(v) + eps)   per-weight steps, shrinking
    rmsprop:  v = 0.9*v + 0.1*dW**2;  then as adagrad       ... and forgetting old ones
    adam:     m = beta1*m + dW;  v = beta2*v + dW**2   decayed sums of recent gradients
              W -= lr * m_hat / (sqrt(v_hat) + eps)    and of their squares, where
              m_hat, v_hat are weighted means: each sum over the sum of its weights,
              1 + beta + ... + beta**(t-1) = (1-beta**t) / (1-beta). (Kingma and Ba's m, v
              are (1-beta) times ours: their "bias correction" is this same division.)
              Each weight gets its own step size, about lr whatever the gradient's scale.
    In place (`*=`, `out=s` into a scratch array s): on big arrays, fresh memory
    for every intermediate result costs more than the arithmetic itself.
    """
    state["step"] += 1
    t = state["step"]
    for key, W in params.items():
        g, m, v, s = grads[key], state["m"][key], state["v"][key], state["scratch"][key]
        if optimizer == "sgd":
            np.multiply(g, learning_rate, out=s)                 # s = lr * g
        elif optimizer == "momentum":
            m *= beta1
            m += g
            np.multiply(m, learning_rate, out=s)                 # s = lr * m
        elif optimizer in ("adagrad", "rmsprop"):
            np.multiply(g, g, out=s)
            if optimizer == "rmsprop":
                v *= 0.9                                         # rho = 0.9, Hinton's choice
                s *= 0.1
            v += s                                               # v (+)= g**2
            np.sqrt(v, out=s)
            s += eps
            np.divide(g, s, out=s)
            s *= learning_rate                                   # s = lr * g / (sqrt(v) + eps)
        elif optimizer == "adam":
            m *= beta1
            m += g                                               # m = beta1*m + g
            v *= beta2
            np.multiply(g, g, out=s)
            v += s                                               # v = beta2*v + g**2
            m_weights = (1 - beta1 ** t) / (1 - beta1)
            v_weights = (1 - beta2 ** t) / (1 - beta2)
            # lr * (m / m_weights) / (sqrt(v / v_weights) + eps), with the scalars
            # gathered:  c * m / (sqrt(v) + eps * sqrt(v_weights)),  one pass each.
            np.sqrt(v, out=s)
            s += eps * v_weights ** 0.5
            np.divide(m, s, out=s)
            s *= learning_rate * v_weights ** 0.5 / m_weights   # s = c * m / (...)
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}")
        W -= s
    return params


# %% Training: learning-rate schedule, augmentation, mini-batch gradient descent
def learning_rate_at(step, total_steps, base_rate, schedule="cosine", decay=1e-3):
    """The learning rate for optimisation step `step` of `total_steps`.

    cosine:   base * (1 + cos(pi * t / T)) / 2   from base down to 0 along a half
              cosine: big steps early cover ground, small steps late settle into
              a minimum instead of bouncing around it (the default)
    step:     base, then base / 10 from half-way, base / 100 from 3/4 of the way
    inverse:  base / (1 + decay * t)             the classic books' "decay"
    constant: base
    """
    if schedule == "cosine":
        rate = base_rate * 0.5 * (1.0 + np.cos(np.pi * step / total_steps))
    elif schedule == "step":
        drops = (step >= total_steps / 2) + (step >= 0.75 * total_steps)    # 0, 1 or 2
        rate = base_rate * 0.1 ** drops
    elif schedule == "inverse":
        rate = base_rate / (1.0 + decay * step)
    elif schedule == "constant":
        rate = base_rate
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    # float(): a NumPy float64 scalar would silently turn float32 updates into float64.
    return float(rate)


def random_affine(X, rng, max_degrees=10.0, max_scale=0.1, max_shift=2.0):
    """Rotate, scale and shift a batch of images by one random affine map. (N, D) -> (N, D).

    An MLP has no idea that a digit moved one pixel to the left is the same
    digit: every pixel is a separate input. Showing it slightly moved, turned and
    resized copies teaches it that, and is the biggest single gain on 10,000 digits.

    For each output pixel (r, c) we ask where it comes from in the input (the
    inverse map), measured from the image centre (13.5, 13.5):
        [r_src, c_src] = R(-angle) @ ([r, c] - shift) / scale
    and read the input there by bilinear interpolation: a mix of the 4 pixels
    around (r_src, c_src), each weighted by how close it is. Outside the image
    counts as black (0). One map serves the whole mini-batch, so this index
    arithmetic runs once per batch, not once per image (4x cheaper in NumPy);
    every image still sees a fresh map each epoch.
    """
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    scale = rng.uniform(1 - max_scale, 1 + max_scale)
    shift = rng.uniform(-max_shift, max_shift, size=(2, 1))
    centre = (IMAGE_SIDE - 1) / 2
    cos, sin = np.cos(angle), np.sin(angle)
    rotate_back = np.array([[cos, sin], [-sin, cos]]) / scale           # R(-angle) / scale
    pixel = np.indices((IMAGE_SIDE, IMAGE_SIDE)).reshape(2, NUM_PIXELS)  # rows: r, c  (2, D)
    src = rotate_back @ (pixel - centre - shift) + centre               # (2, D): r_src, c_src
    top_left = np.floor(src)
    frac = src - top_left                                # how far past it, 0..1   (2, D)
    # Along each axis (row, column) the two neighbours are top_left + 0 and + 1,
    # weighted 1 - frac and frac: the nearer one counts more.
    near = top_left.astype(int)[:, None, :] + np.array([[0], [1]])        # (2, 2, D)
    near_weight = np.stack([1 - frac, frac], axis=1)                      # (2, 2, D)
    near_weight *= (near >= 0) & (near < IMAGE_SIDE)     # outside the image: black
    # The 4 neighbours in 2-D: each row neighbour with each column neighbour.
    source = (near[0][:, None] * IMAGE_SIDE + near[1][None, :]).reshape(4, NUM_PIXELS)
    weight = (near_weight[0][:, None] * near_weight[1][None, :]).reshape(4, NUM_PIXELS)
    # Gather from X.T (D, N): copying whole rows of it is faster than picking
    # scattered columns of X. neighbours[j, p, n] = X[n, source[j, p]]. An index
    # off the image reads some edge pixel (mode="clip"), but its weight is 0.
    neighbours = np.take(X.T, source, axis=0, mode="clip")                # (4, D, N)
    # out[p, n] = sum_j weight[j, p] * neighbours[j, p, n]: for each pixel p a
    # (1, 4) @ (4, N) product, and one matmul call does all D of them.
    out = weight.T[:, None, :].astype(X.dtype) @ neighbours.transpose(1, 0, 2)  # (D, 1, N)
    return out[:, 0, :].T                               # (N, D), stored column by column


def gradient_descent(params, X, y, num_epochs, batch_size, learning_rate, rng,
                     optimizer="adam", augment=False, on_epoch=None, activation="relu",
                     head="softmax", schedule="cosine", decay=1e-3, l1=0.0, l2=0.0,
                     dropout=0.0, augment_until=2 / 3):
    """Mini-batch gradient descent over X (N, D) and labels y (N,) or targets (N, K).

    Each epoch: shuffle, cut into batches of batch_size, and for each batch do
    forward -> loss -> backward -> update. Small batches give many cheap, noisy steps
    per epoch; the noise even helps to find minima that generalise. With augment,
    batches are randomly distorted (random_affine) in the first `augment_until` of
    the epochs; the rest settle on the real images. After each epoch, on_epoch(epoch,
    params, stats) is called if given (progress, validation, early stopping); it may
    return True to stop. Trains params in place and returns them. Raises
    FloatingPointError if the loss stops being a finite number (lr too large).
    """
    # Speed: the parameters are copied into one long vector theta; `net` holds views
    # into it shaped like W1, b1, ... and the gradients land the same way in flat_grads,
    # so the optimizer updates one big array instead of 2L small ones. Gradients and
    # batches go into arrays reused every step (fresh ones cost 1/5 of the time at
    # batch 256). At the end, even on Ctrl-C, the values go back to params.
    theta = np.concatenate([W.ravel() for W in params.values()])
    net = views_into(theta, params)
    flat_grads = np.empty_like(theta)
    grads = views_into(flat_grads, params)
    batch_rows = np.empty((min(batch_size, len(X)),) + X.shape[1:], X.dtype)
    state = init_optimizer_state({"theta": theta})
    total_steps = num_epochs * -(-len(y) // batch_size)      # ceil(N / batch_size) per epoch
    labels = np.ndim(y) == 1 and head not in ("mse", "mae")  # classification?
    try:
        for epoch in range(1, num_epochs + 1):
            order = rng.permutation(len(y))
            loss_sum = correct = 0.0
            for start in range(0, len(y), batch_size):
                batch = order[start:start + batch_size]
                # X[batch] into batch_rows; mode="clip" writes there without a temporary
                X_batch = np.take(X, batch, axis=0, out=batch_rows[:len(batch)], mode="clip")
                y_batch = y[batch]                               # X_batch (B, D), y_batch (B,)
                if augment and epoch <= augment_until * num_epochs:
                    X_batch = random_affine(X_batch, rng)
                P, cache = forward_propagation(X_batch, net, activation, head, dropout, rng)
                backward_propagation(net, cache, P, y_batch, activation, head, l1, l2, grads)
                rate = learning_rate_at(state["step"], total_steps, learning_rate, schedule, decay)
                update_parameters({"theta": theta}, {"theta": flat_grads}, state, rate, optimizer)
                loss = compute_loss(P, y_batch, head)
                if l1 or l2:
                    loss += weight_penalty(net, l1, l2)
                if not np.isfinite(loss):
                    raise FloatingPointError(f"the loss became {loss} in epoch {epoch}")
                # Running figures on the batches just seen: free, as P is already here.
                loss_sum += loss * len(batch)
                correct += np.count_nonzero(P.argmax(axis=1) == y_batch) if labels else 0
            stats = {"loss": loss_sum / len(y), "train_accuracy": correct / len(y)}
            if on_epoch is not None and on_epoch(epoch, net, stats):
                break
    finally:
        for key, W in params.items():
            W[...] = net[key]
    return params


def views_into(theta, params):
    """Arrays shaped like params' that share theta's memory: writing one writes the other."""
    views, start = {}, 0
    for key, W in params.items():
        views[key] = theta[start:start + W.size].reshape(W.shape)
        start += W.size
    return views


def predict_probabilities(params, X, activation="relu", head="softmax", batch_size=4096):
    """The network's outputs for X (N, D): (N, K). Batched, so 60,000 rows need little memory."""
    return np.concatenate([forward_propagation(X[i:i + batch_size], params, activation, head)[0]
                           for i in range(0, len(X), batch_size)])


def get_predictions(params, X, activation="relu", head="softmax"):
    """Most probable class for each row of X (N, D): (N,) ints."""
    return np.argmax(predict_probabilities(params, X, activation, head), axis=1)


def get_accuracy(predictions, y):
    """Fraction of predictions equal to the labels, 0..1."""
    return float(np.mean(predictions == y))


# %% Beyond the core: early stopping, saving and loading a model
def keep_best(best, epoch, params, val_accuracy):
    """Remember a copy of params whenever validation accuracy improves (early stopping).

    best is a dict that starts as {} and holds "accuracy", "epoch" and "params".
    Returns how many epochs have passed since the best one. Stopping once that
    reaches a "patience" limit, and going back to the best copy, avoids training
    on past the point where the network starts to memorise its training data.
    """
    if val_accuracy > best.get("accuracy", -1.0):
        best.update(accuracy=val_accuracy, epoch=epoch,
                    params={key: W.copy() for key, W in params.items()})
    return epoch - best["epoch"]


def write_atomically(path, write):
    """Call write(file) on a temporary file beside path, then rename it onto path.

    A rename within one folder is atomic: anyone looking sees the old file or
    the new one, never half of one, even if the power fails mid-write.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_model(path, params, activation="relu", head="softmax"):
    """Save weights, biases and what rebuilds the network (layer sizes, activation, head).

    .npz is NumPy's zip of plain arrays: no pickle, so loading one cannot run code.
    """
    if not all(np.all(np.isfinite(W)) for W in params.values()):
        raise FloatingPointError("the parameters contain nan or inf; refusing to save them")
    L = len(params) // 2
    sizes = [params["W1"].shape[0]] + [params[f"W{l}"].shape[1] for l in range(1, L + 1)]
    arrays = dict(params, layer_sizes=np.array(sizes), activation=np.array(activation),
                  head=np.array(head))
    write_atomically(path, lambda f: np.savez(f, **arrays))


def load_model(path):
    """Load a model written by save_model: returns (params, activation, head).

    allow_pickle=False makes NumPy refuse pickled objects instead of running them.
    Raises InputError, in one sentence, for anything that is not such a model.
    """
    if not os.path.isfile(path):
        raise InputError(f"model file {path} does not exist; train one with --save {path}.")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":                 # every .npz is a zip file
            raise InputError(f"{path} is not an .npz model file; use one saved by --save.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise InputError(f"{path} contains pickled Python objects, which are refused "
                             "because loading them could run code; use a model saved by --save.")
        raise InputError(f"{path} is not a model saved by this script ({err}); "
                         "train one with --save.")
    except Exception as err:
        raise InputError(f"{path} is not a readable .npz model (it may be truncated: "
                         f"{type(err).__name__}); train one again with --save.")
    return _check_model_arrays(arrays, path)


def _check_model_arrays(arrays, path):
    """Check that loaded arrays describe a whole, finite network; return it."""
    try:
        sizes = [int(n) for n in arrays.pop("layer_sizes")]
        activation, head = str(arrays.pop("activation")), str(arrays.pop("head"))
        params = {}
        for l in range(1, len(sizes)):
            params[f"W{l}"], params[f"b{l}"] = arrays.pop(f"W{l}"), arrays.pop(f"b{l}")
            assert params[f"W{l}"].shape == (sizes[l - 1], sizes[l])
            assert params[f"b{l}"].shape == (sizes[l],)
            assert params[f"W{l}"].dtype.kind == "f" and params[f"b{l}"].dtype.kind == "f"
        assert not arrays and activation in ACTIVATIONS and head in HEADS and len(sizes) >= 2
    except (KeyError, AssertionError, ValueError, TypeError):
        raise InputError(f"{path} is not a complete model saved by this script (its arrays "
                         "do not fit together); train one again with --save.")
    if not all(np.all(np.isfinite(W)) for W in params.values()):
        raise InputError(f"{path} holds nan or inf weights; train the model again.")
    return params, activation, head


# %% Beyond the core: evaluation (confusion matrix, per-class accuracy, noise)
def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """C[i, j] = how many examples of class i were predicted as j. The diagonal is right."""
    C = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(C, (y_true, y_pred), 1)                  # += 1 at every (true, predicted) pair
    return C


def per_class_accuracy(C):
    """Share of each class predicted correctly: C[k, k] / sum_j C[k, j] (nan if no examples)."""
    totals = C.sum(axis=1)
    return np.divide(np.diag(C), totals, out=np.full(len(C), np.nan), where=totals > 0)


def per_class_text(C):
    """Per-class accuracy as one line: '0:0.990  1:0.995  ...'."""
    return "  ".join(f"{k}:{a:.3f}" for k, a in enumerate(per_class_accuracy(C)))


def accuracy_under_noise(params, X, y, sigmas, rng, activation="relu", head="softmax"):
    """Accuracy on X (N, D) in 0..1 after adding Gaussian noise N(0, sigma^2) to every pixel.

    A network that learned strokes degrades slowly; one that learned single
    pixels falls apart. Pixels are clipped back to 0..1, as a real image would be.
    """
    accuracies = []
    for sigma in sigmas:
        noisy = np.clip(X + rng.normal(0.0, sigma, X.shape).astype(X.dtype), 0, 1)
        accuracies.append(get_accuracy(get_predictions(params, noisy, activation, head), y))
    return accuracies


def train_and_score(X_train, y_train, X_val, y_val, hidden, learning_rate, num_epochs,
                    batch_size, seed, optimizer="adam"):
    """Train one setting from scratch; return (validation accuracy, seconds). For experiments."""
    rng = np.random.default_rng(seed)
    params = initialize_parameters([X_train.shape[1]] + list(hidden) + [NUM_CLASSES], rng)
    started = time.perf_counter()
    params = gradient_descent(params, X_train, y_train, num_epochs, batch_size,
                              learning_rate, rng, optimizer)
    seconds = time.perf_counter() - started
    return get_accuracy(get_predictions(params, X_val), y_val), seconds


# %% Beyond the core: Kaggle submissions and your own pictures
def write_submission(path, predictions):
    """Kaggle Digit Recognizer format: header ImageId,Label; ImageId counts from 1."""
    frame = pd.DataFrame({"ImageId": np.arange(1, len(predictions) + 1),
                          "Label": np.asarray(predictions, dtype=int)})
    write_atomically(path, lambda f: f.write(frame.to_csv(index=False).encode()))


def load_image_gray(path):
    """Read a PNG or JPEG as gray levels (H, W) in 0..1, transparent parts as white paper."""
    import matplotlib.image
    if not os.path.isfile(path):
        raise InputError(f"image {path} does not exist; check the path given to --image.")
    try:
        image = np.asarray(matplotlib.image.imread(path))
    except Exception as err:
        raise InputError(f"image {path} cannot be read ({type(err).__name__}); "
                         "save it as PNG or JPEG.")
    image = image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
    if image.ndim == 3 and image.shape[2] == 4:         # RGBA: lay it on white paper
        alpha = image[:, :, 3:]
        image = image[:, :, :3] * alpha + (1 - alpha)
    if image.ndim == 3:                                 # RGB -> gray, weighted as the eye sees
        image = image[:, :, :3] @ np.array([0.299, 0.587, 0.114])
    if image.ndim != 2 or min(image.shape) < 1:
        raise InputError(f"image {path} is not a 2-D picture; save it as PNG or JPEG.")
    return image


def resize_matrix(n_in, n_out):
    """R (n_out, n_in) that resizes a line of n_in pixels to n_out by area averaging.

    Output pixel i covers input span [i * s, (i + 1) * s) with s = n_in / n_out;
    R[i, j] is the share of that span that input pixel j covers. Shrinking thus
    averages (no jagged edges); growing repeats. An image resizes as R_rows @ I @ R_cols.T.
    """
    s = n_in / n_out
    lo = np.arange(n_out)[:, None] * s                  # span of each output pixel
    j = np.arange(n_in)[None, :]                        # input pixel j covers [j, j + 1)
    overlap = np.clip(np.minimum(lo + s, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / s


def preprocess_digit_image(gray, path="image"):
    """Make a photo or drawing look like an MNIST digit: (H, W) in 0..1 -> (784,) float32.

    The steps MNIST's makers took, in order:
    1. Ink must be light on dark: if the border is mostly light (paper), invert.
    2. Stretch contrast: the background's level becomes 0 and the strongest ink 1.
    3. Crop to the ink's bounding box.
    4. Scale so the longer side is 20 pixels, keeping the aspect ratio.
    5. Paste into a 28 x 28 black square so the ink's centre of mass sits at the
       centre: the 4-pixel margin leaves room, as in MNIST.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1 - gray if np.median(border) > 0.5 else gray
    background, strongest = np.median(ink), ink.max()
    if strongest - background < 0.15:
        raise InputError(f"image {path} looks blank (no ink stands out from the background); "
                         "give a picture of one digit, dark on light or light on dark.")
    ink = np.clip((ink - background) / (strongest - background), 0, 1)
    rows, cols = np.nonzero(ink > 0.2)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(ink.shape)
    height, width = (max(1, round(n * scale)) for n in ink.shape)
    box = resize_matrix(ink.shape[0], height) @ ink @ resize_matrix(ink.shape[1], width).T
    box /= box.max()
    weights_r, weights_c = box.sum(axis=1), box.sum(axis=0)
    centre_r = weights_r @ np.arange(height) / weights_r.sum()   # centre of mass
    centre_c = weights_c @ np.arange(width) / weights_c.sum()
    middle = (IMAGE_SIDE - 1) / 2
    top = int(np.clip(round(middle - centre_r), 0, IMAGE_SIDE - height))
    left = int(np.clip(round(middle - centre_c), 0, IMAGE_SIDE - width))
    digit = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    digit[top:top + height, left:left + width] = box
    return digit.ravel()


# %% Pictures
FILE_ONLY_BACKENDS = ("agg", "pdf", "svg", "ps", "cairo", "template")   # no window to show
# matplotlib is imported inside these functions: importing it costs half a second,
# and a run with --no-plot never needs it.
def save_figure(fig, path):
    """Write a figure as PNG, atomically, and free it unless it is to be shown on screen."""
    import matplotlib.pyplot as plt
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))
    if plt.get_backend().lower() in FILE_ONLY_BACKENDS:
        plt.close(fig)


def plot_sample_predictions(X, y, predictions, path, count=24):
    """A grid of digits titled 'pred (true)': up to half of it mistakes (in red), then
    correct ones, since the mistakes teach the most. X (N, D) in 0..1."""
    import matplotlib.pyplot as plt
    count, columns = min(count, len(y)), 8
    wrong = np.flatnonzero(predictions != y)[:count // 2]
    shown = np.concatenate([wrong, np.flatnonzero(predictions == y)[:count - len(wrong)]])
    rows = -(-count // columns)                          # ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(10.4, 1.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown):
        ax.imshow(X[i].reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r")
        ax.set_title(f"{predictions[i]} ({y[i]})",
                     color="red" if predictions[i] != y[i] else "black")
    fig.suptitle("validation digits: predicted (true); mistakes first, in red")
    fig.tight_layout()
    save_figure(fig, path)


def plot_training_curves(history, path):
    """Loss and accuracy per epoch; history holds one dict per epoch."""
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["loss"] for h in history])
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train (running, on batches)")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion_matrix(C, path, title="confusion matrix"):
    """Counts of (true, predicted) pairs as a heat map; off-diagonal cells are mistakes."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(C, cmap="Blues")
    for (i, j), count in np.ndenumerate(C):
        ax.text(j, i, count, ha="center", va="center", fontsize=8,
                color="white" if count > C.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title,
           xticks=range(len(C)), yticks=range(len(C)))
    fig.tight_layout()
    save_figure(fig, path)


def plot_lines(xs, ys, path, xlabel, ylabel, title, log_x=False):
    """One line of points; for the noise and learning-rate experiments."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_image_predictions(digits, probabilities, names, path):
    """Each processed 28 x 28 input beside a bar chart of its top-3 probabilities."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(digits), 2, figsize=(6, 2 * len(digits)), squeeze=False)
    for (ax_img, ax_bar), digit, p, name in zip(axes, digits, probabilities, names):
        ax_img.imshow(digit.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray")
        ax_img.set_title(os.path.basename(name), fontsize=9)
        ax_img.axis("off")
        top = np.argsort(p)[::-1][:3]
        ax_bar.barh([str(k) for k in top[::-1]], p[top[::-1]])
        ax_bar.set(xlim=(0, 1), xlabel="probability", ylabel="digit")
    fig.tight_layout()
    save_figure(fig, path)


def show_plots_if_possible():
    """Open the figures in windows when there is a screen; on a server the PNGs are enough."""
    import matplotlib.pyplot as plt
    if plt.get_backend().lower() not in FILE_ONLY_BACKENDS:
        plt.show()


# %% Command line
class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump), exit status 2."""

    class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
        """Show '(default: X)' only where there is a default worth showing."""
        def _get_help_string(self, action):
            if action.default in (None, False, argparse.SUPPRESS):
                return action.help
            return super()._get_help_string(action)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see --help.\n")


def _number(text, kind=float):
    """Parse text as a number, or None: argparse types below add the range check."""
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if kind is int or np.isfinite(value) else None


def _typed(check, wanted, kind=float):
    """Build an argparse type that accepts a number when check(value) holds."""
    def parse(text):
        value = _number(text, kind)
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value
    return parse


def count_at_least(low):
    return _typed(lambda v: v >= low, f"a whole number >= {low}", int)


positive_float = _typed(lambda v: v > 0, "a finite number > 0")
non_negative_float = _typed(lambda v: v >= 0, "a finite number >= 0")
dropout_rate = _typed(lambda v: 0 <= v < 1, "a probability in [0, 1)")
fraction_between_0_and_1 = _typed(lambda v: 0 < v < 1, "a fraction strictly between 0 and 1")


def hidden_sizes(text):
    """'256,128' -> [256, 128]: positive whole numbers (an empty string: no hidden layer)."""
    sizes = [_number(part, int) for part in text.split(",") if part.strip()]
    if any(size is None or size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r} is not positive whole numbers separated "
                                         "by commas, like 256,128")
    return sizes


def parse_args(argv=None):
    """The command-line flags; each has a default, so `python nn_from_scratch.py` just works."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = OneLineErrorParser(
        description="Train a multilayer perceptron on handwritten digits, from scratch in NumPy.",
        formatter_class=OneLineErrorParser.HelpWithDefaults)
    data = p.add_argument_group("data")
    data.add_argument("--csv", default=os.path.join(here, "train.csv"),
                      help="labelled training CSV: label,pixel0..pixel783, one image per row")
    data.add_argument("--val-fraction", type=fraction_between_0_and_1, default=0.1,
                      help="share of the CSV held out for validation")
    data.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                      help="train on randomly rotated, scaled and shifted copies of the digits "
                           "(for the first 2/3 of the epochs; the last third sees the real images)")
    net = p.add_argument_group("network")
    net.add_argument("--hidden", type=hidden_sizes, default=[256, 128],
                     help="hidden layer sizes, comma-separated (e.g. 256,128 or 64)")
    net.add_argument("--activation", choices=list(ACTIVATIONS), default="relu",
                     help="hidden-layer activation")
    net.add_argument("--init", choices=["auto", "he", "xavier"], default="auto",
                     help="weight initialisation; auto: he for relu, xavier for tanh/sigmoid")
    net.add_argument("--head", choices=list(HEADS), default="softmax",
                     help="output layer + loss: softmax+cross-entropy, sigmoid+binary "
                          "cross-entropy, linear+mean squared error, linear+mean absolute error")
    add_training_flags(p.add_argument_group("training"))
    add_usage_flags(p.add_argument_group("saving and using the network"),
                    p.add_argument_group("experiments and pictures"))
    return p.parse_args(argv)


def add_training_flags(fit):
    """The flags of gradient_descent: epochs, batches, optimizer, schedule, regularisation."""
    fit.add_argument("--epochs", type=count_at_least(0), default=40,
                     help="passes over the training data")
    fit.add_argument("--batch-size", type=count_at_least(1), default=64,
                     help="examples per gradient step")
    fit.add_argument("--optimizer", choices=list(DEFAULT_LEARNING_RATES), default="adam",
                     help="update rule; see update_parameters")
    fit.add_argument("--lr", type=positive_float, default=None,
                     help="starting learning rate; default per optimizer: " + ", ".join(
                         f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATES.items()))
    fit.add_argument("--lr-schedule", choices=["cosine", "step", "inverse", "constant"],
                     default="cosine", help="how the learning rate changes during training")
    fit.add_argument("--lr-decay", type=non_negative_float, default=1e-3,
                     help="decay for --lr-schedule inverse: lr / (1 + decay * step)")
    fit.add_argument("--l1", type=non_negative_float, default=0.0, help="L1 weight penalty")
    fit.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 weight penalty")
    fit.add_argument("--dropout", type=dropout_rate, default=0.0,
                     help="probability of dropping a hidden unit while training, in [0, 1)")
    fit.add_argument("--patience", type=count_at_least(1), default=None,
                     help="early stopping: stop after this many epochs without a better "
                          "validation accuracy, and keep the best parameters")
    fit.add_argument("--seed", type=int, default=0,
                     help="random seed: same seed, same machine, same numbers")


def add_usage_flags(use, extra):
    """The flags for saving, loading and using a network, and for the experiments."""
    use.add_argument("--save", metavar="MODEL.npz", help="save the trained network here")
    use.add_argument("--load", metavar="MODEL.npz",
                     help="load a saved network instead of training one")
    use.add_argument("--test-csv", metavar="PATH",
                     help="labelled CSV to score after training: prints 'test accuracy'")
    use.add_argument("--predict", metavar="TEST.csv",
                     help="unlabelled Kaggle test CSV (pixel0..pixel783) to predict")
    use.add_argument("--out", metavar="PATH", default="submission.csv",
                     help="where --predict writes the Kaggle submission (ImageId,Label)")
    use.add_argument("--image", metavar="PATH", nargs="+",
                     help="your own digit pictures (PNG, JPEG) to classify")
    extra.add_argument("--robustness", action="store_true",
                       help="validation accuracy under Gaussian pixel noise, table and plot")
    extra.add_argument("--compare-architectures", action="store_true",
                       help="train a few network sizes briefly and compare them")
    extra.add_argument("--compare-learning-rates", action="store_true",
                       help="train with a few learning rates briefly and compare them")
    extra.add_argument("--no-plot", action="store_true",
                       help="no pictures (otherwise saved as PNG files, and shown on a screen)")
    extra.add_argument("--plot-dir", default=".", help="folder for the PNG pictures")


def check_writable(paths, inputs=()):
    """Fail now, not after training, if a file cannot be written where asked,
    or if writing it would overwrite one of the inputs (the user's data)."""
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if any(os.path.abspath(path) == os.path.abspath(given) for given in inputs if given):
            raise InputError(f"{path} is also an input of this run; writing it would destroy "
                             "it, so choose another output path.")
        if os.path.isdir(path):
            raise InputError(f"{path} is a folder; give a file name to write to.")
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise InputError(f"cannot write {path}: the folder {folder} does not exist or is "
                             "not writable; choose another path.")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise InputError(f"cannot overwrite {path}: it is read-only; choose another path.")


def planned_pictures(args):
    """File names of the pictures this run will save (checked before training)."""
    if args.no_plot:
        return []
    if args.compare_architectures or args.compare_learning_rates:
        return (["compare_architectures.png"] * args.compare_architectures
                + ["compare_learning_rates.png"] * args.compare_learning_rates)
    names = ["predictions.png", "confusion_matrix.png"]
    names += [] if args.load else ["training_curves.png"]
    names += ["test_confusion_matrix.png"] if args.test_csv else []
    names += ["robustness.png"] if args.robustness else []
    names += ["my_digits.png"] if args.image else []
    return names


def describe(params):
    """Layer sizes as text, e.g. '784-256-128-10'."""
    L = len(params) // 2
    return "-".join(str(n) for n in [params["W1"].shape[0]]
                    + [params[f"W{l}"].shape[1] for l in range(1, L + 1)])


def train_network(args, X_train, y_train, X_val, y_val, rng):
    """Initialise and train with the chosen flags, printing one line per epoch.

    Returns (params, activation, head, history, seconds, interrupted). Ctrl-C stops
    training and keeps the best parameters so far; a loss that is no longer a
    number stops it with advice instead of a traceback.
    """
    activation, head = args.activation, args.head
    init = args.init if args.init != "auto" else ("he" if activation == "relu" else "xavier")
    learning_rate = args.lr or DEFAULT_LEARNING_RATES[args.optimizer]
    sizes = [NUM_PIXELS] + args.hidden + [NUM_CLASSES]
    print(f"training a {'-'.join(map(str, sizes))} network on {len(y_train)} digits, "
          f"validating on {len(y_val)}", flush=True)
    params = initialize_parameters(sizes, rng, init=init)
    history, best, started = [], {}, time.perf_counter()

    def on_epoch(epoch, params, stats):
        stats["epoch"] = epoch
        stats["val_accuracy"] = get_accuracy(get_predictions(params, X_val, activation, head),
                                             y_val)
        history.append(stats)
        waited = keep_best(best, epoch, params, stats["val_accuracy"])
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch:3d}/{args.epochs}  loss {stats['loss']:.4f}  "
              f"train acc {stats['train_accuracy']:.4f}  val acc {stats['val_accuracy']:.4f}  "
              f"{elapsed:6.1f}s  ({elapsed / epoch * (args.epochs - epoch):.0f}s left)",
              flush=True)
        return args.patience is not None and waited >= args.patience

    interrupted = False
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            gradient_descent(params, X_train, y_train, args.epochs, args.batch_size,
                             learning_rate, rng, args.optimizer, args.augment, on_epoch,
                             activation, head, args.lr_schedule, args.lr_decay, args.l1,
                             args.l2, args.dropout)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: keeping the best parameters so far (Ctrl-C again aborts)",
              flush=True)
    except FloatingPointError as err:
        raise InputError(f"training diverged ({err}); try a smaller learning rate, "
                         f"e.g. --lr {learning_rate / 10:g}.")
    seconds = time.perf_counter() - started
    if best and (interrupted or args.patience):
        params = best["params"]
        print(f"using the parameters of epoch {best['epoch']} "
              f"(validation accuracy {best['accuracy']:.4f})")
    return params, activation, head, history, seconds, interrupted


def use_network(args, params, activation, head, test, to_predict, images, X_val, y_val,
                picture):
    """The opt-in uses: a test CSV, noise robustness, a Kaggle submission, your pictures."""
    if test is not None:
        predictions = get_predictions(params, scale_pixels(test[0]), activation, head)
        C = confusion_matrix(test[1], predictions)
        print("test accuracy per digit: " + per_class_text(C))
        print(f"test accuracy: {get_accuracy(predictions, test[1]):.4f}")
        if not args.no_plot:
            plot_confusion_matrix(C, picture("test_confusion_matrix.png"), "test confusion matrix")
    if args.robustness:
        sigmas = [0.0, 0.1, 0.2, 0.3, 0.5]
        accuracies = accuracy_under_noise(params, X_val, y_val, sigmas,
                                          np.random.default_rng(args.seed), activation, head)
        print("noise sigma  validation accuracy")
        for sigma, accuracy in zip(sigmas, accuracies):
            print(f"{sigma:11.1f}  {accuracy:.4f}")
        if not args.no_plot:
            plot_lines(sigmas, accuracies, picture("robustness.png"),
                       "noise sigma (pixels in 0..1)", "validation accuracy",
                       "accuracy under Gaussian pixel noise")
    if to_predict is not None:
        X_test, labels = to_predict
        if labels is not None:
            print(f"note: {args.predict} has a 'label' column; it is ignored for predicting.")
        predictions = get_predictions(params, scale_pixels(X_test), activation, head)
        write_submission(args.out, predictions)
        print(f"submission written: {args.out} ({len(predictions)} rows, ImageId,Label)")
    if images:
        probabilities = predict_probabilities(params, np.stack(images), activation, head)
        for path, p in zip(args.image, probabilities):
            print(f"{path}: prediction {np.argmax(p)} (probability {p.max():.2f})")
        if not args.no_plot:
            plot_image_predictions(images, probabilities, args.image, picture("my_digits.png"))


def run_comparisons(args, X_train, y_train, X_val, y_val, picture):
    """Train a few settings briefly (at most 5 epochs, no augmentation); print a table."""
    epochs = min(args.epochs, 5)
    base_rate = args.lr or DEFAULT_LEARNING_RATES[args.optimizer]
    experiments = []
    if args.compare_architectures:
        experiments.append(("hidden layers", [[32], [128], [256, 128], [512, 256], [256, 128, 64]],
                            "compare_architectures.png"))
    if args.compare_learning_rates:
        experiments.append(("learning rate", [base_rate * f for f in (0.1, 0.3, 1, 3, 10)],
                            "compare_learning_rates.png"))
    for name, settings, filename in experiments:
        print(f"{name:>16}  validation accuracy  seconds   ({epochs} epochs, {args.optimizer})")
        accuracies = []
        for setting in settings:
            by_size = name == "hidden layers"
            hidden, rate = (setting, base_rate) if by_size else (args.hidden, setting)
            accuracy, seconds = train_and_score(X_train, y_train, X_val, y_val, hidden, rate,
                                                epochs, args.batch_size, args.seed, args.optimizer)
            label = ",".join(map(str, setting)) if name == "hidden layers" else f"{setting:g}"
            print(f"{label:>16}  {accuracy:19.4f}  {seconds:7.2f}", flush=True)
            accuracies.append(accuracy)
        if not args.no_plot:
            xs = [",".join(map(str, s)) for s in settings] if name == "hidden layers" else settings
            plot_lines(xs, accuracies, picture(filename), name, "validation accuracy",
                       f"{name} after {epochs} epochs", log_x=name == "learning rate")
    if not args.no_plot:
        print("plots saved: " + ", ".join(picture(n) for n in planned_pictures(args)))


def main(args):
    """Read everything, then train (or load), check, use and plot the network."""
    picture = lambda name: os.path.join(args.plot_dir, name)               # noqa: E731
    pictures = planned_pictures(args)
    check_writable([p for p in (args.save, args.predict and args.out) if p]
                   + [picture(name) for name in pictures],
                   [args.csv, args.test_csv, args.predict, args.load, *(args.image or [])])
    # 1. Data. Every input is read and checked before training, so a typo in the
    #    last flag fails in a second, not after a minute of training.
    X, y = load_digits_csv(args.csv)
    n_val = int(round(len(y) * args.val_fraction))
    if n_val < 1 or len(y) - n_val < 1:
        raise InputError(f"{args.csv} has only {len(y)} row(s), too few to hold out --val-fraction "
                         f"{args.val_fraction:g} for validation and still train; use more rows.")
    test = load_digits_csv(args.test_csv, flag="--test-csv") if args.test_csv else None
    to_predict = (load_digits_csv(args.predict, labelled=False, flag="--predict")
                  if args.predict else None)
    images = [preprocess_digit_image(load_image_gray(path), path) for path in args.image or []]
    model = load_model(args.load) if args.load else None
    sizes = describe(model[0]).split("-") if model else [str(NUM_PIXELS), str(NUM_CLASSES)]
    if (sizes[0], sizes[-1]) != (str(NUM_PIXELS), str(NUM_CLASSES)):
        raise InputError(f"{args.load} was built for other shapes ({describe(model[0])}); "
                         "digits need 784 pixel inputs and 10 outputs.")
    rng = np.random.default_rng(args.seed)
    X_train, y_train, X_val, y_val = split_train_val(X, y, args.val_fraction, rng)
    X_train, X_val = scale_pixels(X_train), scale_pixels(X_val)           # convert once
    del X
    if args.compare_architectures or args.compare_learning_rates:
        return run_comparisons(args, X_train, y_train, X_val, y_val, picture)
    # 2. Train, or load.
    if model:
        (params, activation, head), history, seconds, interrupted = model, [], 0.0, False
        print(f"loaded {args.load}: a {describe(params)} network ({activation}, {head})")
    else:
        params, activation, head, history, seconds, interrupted = train_network(
            args, X_train, y_train, X_val, y_val, rng)
    # 3. Check, use, save, look.
    val_predictions = get_predictions(params, X_val, activation, head)
    C = confusion_matrix(y_val, val_predictions)
    print("validation accuracy per digit: " + per_class_text(C))
    use_network(args, params, activation, head, test, to_predict, images, X_val, y_val, picture)
    if args.save:
        save_model(args.save, params, activation, head)
        print(f"model saved: {args.save}")
    if not args.no_plot:
        plot_sample_predictions(X_val, y_val, val_predictions, picture("predictions.png"))
        plot_confusion_matrix(C, picture("confusion_matrix.png"), "validation confusion matrix")
        if not model:
            plot_training_curves(history, picture("training_curves.png"))
        print("plots saved: " + ", ".join(picture(name) for name in pictures))
        show_plots_if_possible()
    print(f"validation accuracy: {get_accuracy(val_predictions, y_val):.4f}")
    print(f"train seconds: {seconds:.2f}")
    return 130 if interrupted else 0                 # 130: the usual status after Ctrl-C


def use_headless_backend_if_no_display():
    """Pick matplotlib's file-only backend on a Linux box with no screen (servers, CI)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MPLBACKEND", "Agg")


def run(argv=None):
    """Entry point: flags -> main; input errors become one line on stderr and exit status 2."""
    use_headless_backend_if_no_display()
    args = parse_args(argv)
    try:
        status = main(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("aborted.", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


# %% Run it (from a shell, or run this cell)
if __name__ == "__main__":
    # A notebook kernel's argv carries its own flags (-f kernel.json): use defaults there.
    run([] if "ipykernel" in sys.modules else None)
