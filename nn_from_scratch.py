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
globals, randomness through an `rng` argument), so you can copy any one out.
Importing this file only defines things.
"""
import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE   # D = 784
NUM_CLASSES = 10                       # K = 10 digits
# Good starting learning rates differ by optimizer: Adam's steps are about lr
# per weight whatever the gradient's size, plain SGD's are lr * gradient.
DEFAULT_LEARNING_RATES = {"sgd": 0.3, "momentum": 0.05, "adam": 0.002}


# %% Data: read the CSV, check it, split it, scale it
class InputError(Exception):
    """A problem with the user's input, worded as one sentence that says how to fix it."""


def load_digits_csv(path, labelled=True):
    """Read a Kaggle-style digits CSV; return X (N, 784) uint8 and y (N,) uint8.

    With labelled=False the file is a Kaggle test.csv (pixel columns only) and y is
    None; a `label` column, if present, is dropped. Raises InputError on bad input.
    """
    if not os.path.isfile(path):
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        raise InputError(f"{path} {what}; pass a CSV file with --csv PATH.")
    # Fast path: parse every cell straight into uint8 (1 byte a pixel, 4x less
    # memory than float32). Anything unusual (a float, a blank, 300, 'abc')
    # makes pandas refuse, and the slow path below finds the cell to blame.
    # utf-8-sig drops the byte-order mark Excel puts at the start of a CSV.
    try:
        frame = pd.read_csv(path, dtype=np.uint8, encoding="utf-8-sig", skipinitialspace=True)
    except Exception:
        frame = _read_csv_carefully(path)
    return _check_digit_frame(frame, path, labelled)


def _read_csv_carefully(path):
    """Read a CSV that failed the fast path and convert it to uint8, or say why not."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True,
                            dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; it needs a header line and one image per row.")
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        reason = str(err).strip().splitlines()[-1].rstrip(".")
        raise InputError(f"{path} is not a readable CSV ({reason}); save it as plain "
                         "comma-separated text.")
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
    # Float pixels (0.0..255.0) are harmless: round them to the nearest gray level.
    return pd.DataFrame(np.rint(numbers).astype(np.uint8), columns=frame.columns)


def _check_digit_frame(frame, path, labelled):
    """Check the header and labels of a parsed CSV; return (X, y)."""
    columns = [str(c).strip() for c in frame.columns]
    has_label = columns[:1] == ["label"]
    pixels = columns[1:] if has_label else columns
    if len(pixels) != NUM_PIXELS:
        raise InputError(f"{path} has {len(pixels)} pixel columns but a 28x28 image needs "
                         f"{NUM_PIXELS}; the header should read label,pixel0,...,pixel783.")
    if labelled and not has_label:
        raise InputError(f"{path} has no 'label' column first; training and testing "
                         "need one (header label,pixel0,...,pixel783).")
    if len(frame) == 0:
        raise InputError(f"{path} has a header but no rows; add one image per row.")
    data = frame.to_numpy()                           # (N, 785) or (N, 784), uint8
    X = np.ascontiguousarray(data[:, 1:] if has_label else data)
    if not labelled:
        return X, None
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
    return X.astype(dtype) / dtype(255)


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
    return float(-np.mean(np.log(P[np.arange(len(y)), y] + 1e-12)))


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
        Z = A @ params[f"W{l}"] + params[f"b{l}"]         # (N, n_l)
        A = g(Z) if l < L else output(Z)
        if dropout > 0 and rng is not None and l < L:
            mask = (rng.random(A.shape) >= dropout).astype(A.dtype) / (1 - dropout)
            A = A * mask                                  # (N, n_l); mask kept for backprop
            cache[f"M{l}"] = mask
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return A, cache


def backward_propagation(params, cache, P, y, activation="relu", head="softmax",
                         l1=0.0, l2=0.0):
    """Gradients of the mean loss with respect to every parameter.

    Returns grads with the same keys and shapes as params (grads["W1"] is dL/dW1).
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
    grads = {}
    for l in range(L, 0, -1):
        grads[f"W{l}"] = cache[f"A{l - 1}"].T @ dZ       # (n_{l-1}, n_l)
        grads[f"b{l}"] = dZ.sum(axis=0)                  # (n_l,)
        if l1 or l2:      # d/dW of l1 sum|W| + (l2/2) sum W^2  =  l1 sign(W) + l2 W
            grads[f"W{l}"] += l1 * np.sign(params[f"W{l}"]) + l2 * params[f"W{l}"]
        if l > 1:                                        # no gradient needed for X itself
            dA = dZ @ params[f"W{l}"].T                  # (N, n_{l-1})
            if f"M{l - 1}" in cache:
                dA *= cache[f"M{l - 1}"]                 # dropped units pass no gradient
            dZ = g_backward(dA, cache[f"Z{l - 1}"])
    return grads


def init_optimizer_state(params):
    """Zeroed running averages for the optimizers that keep some (all but plain SGD)."""
    zeros = {key: np.zeros_like(value) for key, value in params.items()}
    return {"step": 0, "m": zeros, "v": {key: z.copy() for key, z in zeros.items()}}


def update_parameters(params, grads, state, learning_rate, optimizer="adam",
                      beta1=0.9, beta2=0.999, eps=1e-8):
    """One optimisation step; updates params and state in place, returns params.

    sgd:      W -= lr * dW                         the plain gradient step
    momentum: m = beta1*m + dW;  W -= lr * m       a heavy ball: steps that agree
                                                   add up, zig-zags cancel out
    adagrad:  v += dW**2;  W -= lr * dW / (sqrt(v) + eps)
                                                   per-weight steps that shrink
                                                   as gradients pile up
    rmsprop:  v = 0.9*v + 0.1*dW**2;  W -= lr * dW / (sqrt(v) + eps)
                                                   the same, forgetting old ones
    adam:     m = beta1*m + (1-beta1)*dW           mean of recent gradients
              v = beta2*v + (1-beta2)*dW**2        mean of their squares
              W -= lr * m_hat / (sqrt(v_hat) + eps)
              with m_hat = m / (1-beta1**t), v_hat = v / (1-beta2**t) undoing
              the pull toward the zeros m and v start from. Each weight gets its
              own step size, about lr whatever the gradient's scale.
    In place (`-=`, `*=`) because a fresh copy of every array per step costs time.
    """
    state["step"] += 1
    t = state["step"]
    for key, W in params.items():
        g, m, v = grads[key], state["m"][key], state["v"][key]
        if optimizer == "sgd":
            W -= learning_rate * g
        elif optimizer == "momentum":
            m *= beta1
            m += g
            W -= learning_rate * m
        elif optimizer in ("adagrad", "rmsprop"):
            if optimizer == "rmsprop":
                v *= 0.9                                  # rho = 0.9, Hinton's choice
                v += 0.1 * (g * g)
            else:
                v += g * g
            W -= learning_rate * g / (np.sqrt(v) + eps)
        elif optimizer == "adam":
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            step = learning_rate * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)
            denominator = np.sqrt(v)                      # both bias corrections are folded
            denominator += eps                            # into the scalar `step`
            W -= step * m / denominator
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}")
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
        rate = base_rate * (0.1 if step >= total_steps / 2 else 1) * (0.1 if step >= 0.75 * total_steps else 1)
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
    around (r_src, c_src), weighted by how close each one is. Outside the image
    counts as black (0). One map serves the whole mini-batch: the index
    arithmetic is then done once per batch instead of once per image, which
    makes this about 5x cheaper in NumPy; every image still sees a fresh map
    each epoch.
    """
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    scale = rng.uniform(1 - max_scale, 1 + max_scale)
    shift_r, shift_c = rng.uniform(-max_shift, max_shift, size=2)
    centre = (IMAGE_SIDE - 1) / 2
    r, c = np.divmod(np.arange(NUM_PIXELS), IMAGE_SIDE)   # output pixel coordinates (D,)
    r, c = r - centre - shift_r, c - centre - shift_c
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    r_src = cos * r + sin * c + centre                      # (D,)
    c_src = -sin * r + cos * c + centre
    r0, c0 = np.floor(r_src).astype(int), np.floor(c_src).astype(int)
    fr, fc = r_src - r0, c_src - c0                         # position between pixels, 0..1
    out = np.zeros_like(X)
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                           (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < IMAGE_SIDE) & (cc >= 0) & (cc < IMAGE_SIDE)
        source = np.clip(rr, 0, IMAGE_SIDE - 1) * IMAGE_SIDE + np.clip(cc, 0, IMAGE_SIDE - 1)
        # np.take copies the chosen columns into a new row-major (N, D) array;
        # X[:, source] would give a column-major one that is slow to add up.
        out += np.take(X, source, axis=1) * (weight * inside).astype(X.dtype)
    return out


def gradient_descent(params, X, y, num_epochs, batch_size, learning_rate, rng,
                     optimizer="adam", augment=False, on_epoch=None, activation="relu",
                     head="softmax", schedule="cosine", decay=1e-3, l1=0.0, l2=0.0,
                     dropout=0.0):
    """Mini-batch gradient descent over X (N, D) and labels y (N,) or targets (N, K).

    Each epoch: shuffle, cut into batches of batch_size, and for each batch do
    forward -> loss -> backward -> update. Small batches give many cheap, noisy
    steps per epoch; the noise even helps to find minima that generalise.
    After each epoch, on_epoch(epoch, params, stats) is called if given (for
    progress lines, validation, early stopping); it may return True to stop.
    Returns the trained params. Raises FloatingPointError if the loss stops being
    a finite number (the learning rate is too large).
    """
    state = init_optimizer_state(params)
    steps_per_epoch = -(-len(y) // batch_size)               # ceil(N / batch_size)
    total_steps = num_epochs * steps_per_epoch
    labels = np.ndim(y) == 1 and head != "mse" and head != "mae"   # classification?
    for epoch in range(1, num_epochs + 1):
        order = rng.permutation(len(y))
        loss_sum = correct = 0.0
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            X_batch, y_batch = X[batch], y[batch]            # (B, D), (B,)
            if augment:
                X_batch = random_affine(X_batch, rng)
            P, cache = forward_propagation(X_batch, params, activation, head, dropout, rng)
            grads = backward_propagation(params, cache, P, y_batch, activation, head, l1, l2)
            rate = learning_rate_at(state["step"], total_steps, learning_rate, schedule, decay)
            update_parameters(params, grads, state, rate, optimizer)
            loss = compute_loss(P, y_batch, head)
            if l1 or l2:
                loss += weight_penalty(params, l1, l2)
            if not np.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} in epoch {epoch}")
            # Running figures on the batches just seen: free, as P is already here.
            loss_sum += loss * len(batch)
            if labels:
                correct += np.sum(np.argmax(P, axis=1) == y_batch)
        stats = {"loss": loss_sum / len(y), "train_accuracy": correct / len(y)}
        if on_epoch is not None and on_epoch(epoch, params, stats):
            break
    return params


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


# %% Pictures: sample predictions and training curves
def plot_sample_predictions(X, y, predictions, path, count=24):
    """Save a grid of digits titled 'pred (true)'; mistakes in red. X (N, D) in 0..1."""
    import matplotlib.pyplot as plt
    columns = 8
    rows = -(-min(count, len(y)) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < min(count, len(y)):
            ax.imshow(X[i].reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r")
            wrong = predictions[i] != y[i]
            ax.set_title(f"{predictions[i]} ({y[i]})", color="red" if wrong else "black")
    fig.suptitle("validation digits: predicted (true); mistakes in red")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig


def plot_training_curves(history, path):
    """Save loss and accuracy per epoch. history: list of dicts from the progress callback."""
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["loss"] for h in history])
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train (augmented batches)")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig


# %% Command line
def parse_args(argv=None):
    """The command-line flags; every one has a default, so no flag is needed."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = OneLineErrorParser(
        description="Train a multilayer perceptron on handwritten digits, from scratch in NumPy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--csv", default=os.path.join(here, "train.csv"),
                   help="labelled training CSV: label,pixel0..pixel783, one image per row")
    p.add_argument("--hidden", type=hidden_sizes, default=[256, 128],
                   help="hidden layer sizes, comma-separated (e.g. 256,128 or 64)")
    p.add_argument("--epochs", type=count_at_least(0), default=40,
                   help="passes over the training data")
    p.add_argument("--batch-size", type=count_at_least(1), default=128,
                   help="examples per gradient step")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate at the start, then a cosine down to 0 "
                        f"(default per optimizer: {DEFAULT_LEARNING_RATES})")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="adam",
                   help="update rule; see update_parameters")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="train on randomly rotated, scaled and shifted copies of each digit")
    p.add_argument("--val-fraction", type=fraction_between_0_and_1, default=0.1,
                   help="share of the CSV held out for validation")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: same seed, same machine, same numbers")
    p.add_argument("--test-csv", default=None,
                   help="a labelled CSV to evaluate after training (prints 'test accuracy')")
    p.add_argument("--no-plot", action="store_true",
                   help="skip the pictures (they are saved as PNG files otherwise)")
    p.add_argument("--plot-dir", default=".",
                   help="folder for the PNG pictures")
    return p.parse_args(argv)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) with exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message[0].upper()}{message[1:]}; see --help.\n")


def hidden_sizes(text):
    """'256,128' -> [256, 128]; each a positive integer (an empty string: no hidden layer)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = [0]
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"--hidden {text!r} must be positive integers "
                                         "separated by commas, like 256,128")
    return sizes


def count_at_least(low):
    """An argparse type: an integer >= low."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= {low}")
        return value
    return parse


def positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def fraction_between_0_and_1(text):
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction strictly between 0 and 1")
    return value


def main(args):
    """Load, split, train, validate, plot; the closing two lines are a contract for scripts."""
    rng = np.random.default_rng(args.seed)
    learning_rate = args.lr or DEFAULT_LEARNING_RATES[args.optimizer]
    plot_paths = [os.path.join(args.plot_dir, name)
                  for name in ("predictions.png", "training_curves.png")]
    if not args.no_plot:
        check_writable(plot_paths)
    X, y = load_digits_csv(args.csv)                                        # 1. data
    X_test_y = load_digits_csv(args.test_csv) if args.test_csv else None
    if len(y) < 2 or int(round(len(y) * args.val_fraction)) in (0, len(y)):
        raise InputError(f"{args.csv} has {len(y)} rows, too few to hold out "
                         f"--val-fraction {args.val_fraction} for validation; use more rows.")
    X_train, y_train, X_val, y_val = split_train_val(X, y, args.val_fraction, rng)
    X_train, X_val = scale_pixels(X_train), scale_pixels(X_val)
    del X                                                                  # keep memory lean
    sizes = [NUM_PIXELS] + args.hidden + [NUM_CLASSES]
    print(f"training a {'-'.join(map(str, sizes))} network on {len(y_train)} digits, "
          f"validating on {len(y_val)}", flush=True)
    params = initialize_parameters(sizes, rng)                              # 2. init
    history = []
    started = time.perf_counter()

    def report(epoch, params, stats):                                       # 3. watch
        stats["epoch"] = epoch
        stats["val_accuracy"] = get_accuracy(get_predictions(params, X_val), y_val)
        history.append(stats)
        elapsed = time.perf_counter() - started
        left = elapsed / epoch * (args.epochs - epoch)
        print(f"epoch {epoch:3d}/{args.epochs}  loss {stats['loss']:.4f}  "
              f"train acc {stats['train_accuracy']:.4f}  val acc {stats['val_accuracy']:.4f}  "
              f"{elapsed:6.1f}s  ({left:.0f}s left)", flush=True)

    params = gradient_descent(params, X_train, y_train, args.epochs, args.batch_size,  # 4. train
                              learning_rate, rng, args.optimizer, args.augment, report)
    train_seconds = time.perf_counter() - started
    val_predictions = get_predictions(params, X_val)                        # 5. check
    if X_test_y is not None:
        test_acc = get_accuracy(get_predictions(params, scale_pixels(X_test_y[0])), X_test_y[1])
        print(f"test accuracy: {test_acc:.4f}")
    if not args.no_plot:                                                    # 6. look
        plot_sample_predictions(X_val, y_val, val_predictions, plot_paths[0])
        if history:
            plot_training_curves(history, plot_paths[1])
        print("plots saved: " + ", ".join(plot_paths[:1 + bool(history)]))
        show_plots_if_possible()
    print(f"validation accuracy: {get_accuracy(val_predictions, y_val):.4f}")
    print(f"train seconds: {train_seconds:.2f}")


def check_writable(paths):
    """Fail now, not after training, if a file cannot be written where asked."""
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise InputError(f"{path} is a folder; give a file name to write to.")
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise InputError(f"cannot write {path}: the folder {folder} does not exist or is "
                             "not writable; choose another path.")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise InputError(f"cannot overwrite {path}: it is read-only; choose another path.")


def show_plots_if_possible():
    """Open the figures in a window when there is a screen; on a server, just keep the PNGs."""
    import matplotlib.pyplot as plt
    if plt.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        plt.show()


def use_headless_backend_if_no_display():
    """Pick matplotlib's file-only backend on a Linux box with no screen (servers, CI)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MPLBACKEND", "Agg")


def run(argv=None):
    """Entry point: parse flags, run main, and turn input errors into one line + exit 2."""
    use_headless_backend_if_no_display()
    args = parse_args(argv)
    try:
        main(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


# %% Run it (from a shell, or run this cell)
if __name__ == "__main__":
    # A notebook kernel's argv carries its own flags (-f kernel.json): use defaults there.
    run([] if "ipykernel" in sys.modules else None)
