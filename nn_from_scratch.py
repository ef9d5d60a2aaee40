"""A neural network from scratch: an MLP that reads handwritten digits, in NumPy.

Run it:   python nn_from_scratch.py  (trains, validates, plots; --help lists every flag)

The data is a Kaggle-style CSV: a header `label,pixel0,...,pixel783`, then one
image per row: the digit (0-9) and its 28 x 28 = 784 gray levels (0-255), row by row.

FIRST READING. The story is  data -> initialise -> forward -> loss -> backward ->
update -> accuracy, and the first five cells tell it, in under 400 lines:
    1. split_train_val, scale_pixels, one_hot          the data, as arrays
    2. relu, relu_backward, softmax, cross_entropy,    the building blocks
       cross_entropy_backward
    3. initialize_parameters, forward_propagation,     the model
       backward_propagation, update_parameters, update_parameters_with_adam
    4. gradient_descent, get_predictions, get_accuracy the training loop
    5. gradient_check                                  is the gradient right?
Put together, in Python (rng = np.random.default_rng(0); train() does it in one call):
    X, y = load_digits_csv("train.csv")                        # X (N, 784), y (N,)
    X_train, y_train, X_val, y_val = split_train_val(X, y, 0.1, rng)
    params = initialize_parameters([784, 256, 128, 10], rng)
    gradient_descent(params, scale_pixels(X_train), y_train, 10, 64, 0.002, rng)
    print(get_accuracy(get_predictions(params, scale_pixels(X_val)), y_val))   # ~0.97
Cells marked "Beyond the core" are opt-in: skip them at first. `train_digits`, near the
end, tells the same story with the extras; in a notebook, the last cells tell it step by step.

LEFT OUT, on purpose (as Nielsen and makemore leave things out): convolutions (an MLP is
the smallest network that learns digits well, every line of it the textbook's), automatic
differentiation (the point is to write each gradient by hand), batch norm and GPUs.

NOTATION, in every docstring and line-end comment; one example per ROW, as the CSV has it:
    N   rows of X (a mini-batch, or all the data: whatever is passed in)
    D = 784 input pixels     K = 10 classes     n_l units in layer l (n_0 = D, n_L = K)
    L   the number of layers, numbered 1..L     J   the loss, a mean over the N rows
    X (N, D)  y (N,) integer labels  Y (N, K) one-hot  W_l (n_{l-1}, n_l)  b_l (n_l,)
    dW_l means dJ/dW_l, shaped like W_l. params and grads are keyed "W1", "b1", ..., "bL".

CONVENTIONS, to map this file onto the notes in your other hand:
  Andrew Ng (deeplearning.ai): one example per COLUMN, Z = W A + b with W (n_l, n_{l-1}).
      Ours is the transpose: Z = A W + b with W (n_{l-1}, n_l). He writes the loss J (so
      do we) and m for the number of examples (our N). His dZ has no 1/m; he puts it into
      dW = (1/m) dZ A.T. Ours puts the 1/N into dZ_L once, in cross_entropy_backward, so
      dW = A.T dZ. His keep_prob is our 1 - dropout; his L2 cost (lambda / 2m) sum W^2 is
      our (l2 / 2) sum W^2 with l2 = lambda / m, m being the examples the cost averages
      over (the mini-batch, when training on mini-batches). ..._with_momentum and _adam
      are his names; his Adam calls its running means v and s, ours m and v.
  CS231n: our layout (X (N, D), W1 (D, H) for H hidden units, scores = X W + b); L = our J.
  PyTorch: data is batch-first like ours, but nn.Linear stores its weight as
      (out, in) = our W.T and computes x @ weight.T + bias. Its CrossEntropyLoss
      takes the scores Z_L and applies softmax itself; our cross_entropy takes P.
  Kingma and Ba (Adam): m, v, m_hat, v_hat and t exactly as in their Algorithm 1.

Every function takes what it needs as arguments and returns what it makes (no globals;
randomness comes through an `rng`), so you can copy any one out; options are functions with
the default in the signature (activation=relu): a copy brings only what it uses.
"""
import argparse
import functools
import inspect
import math
import os
import signal
import sys
import tempfile
import time
import warnings

# Jupyter and VS Code's "Run Cell" run the file as __main__ too, in a kernel (no __file__,
# or the kernel's own argv): then the story cells at the end run, not the command line.
# (`%run nn_from_scratch.py --epochs 5` in Jupyter is the command line, argv and all.)
IN_NOTEBOOK = __name__ == "__main__" and ("__file__" not in globals() or
                                          os.path.basename(sys.argv[0]).startswith("ipykernel"))
if __name__ == "__main__" and not (IN_NOTEBOOK or "ipykernel" in sys.modules):   # a shell:
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")     # one BLAS thread: see "Making it fast"
    early_signals = []        # a Ctrl-C while NumPy and pandas load would be lost: see run()
    signal.signal(signal.SIGINT, lambda signum, frame: early_signals.append(signum))

import numpy as np
import pandas as pd

IMAGE_SIDE = 28                        # the images are 28 x 28 pixels
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE   # D = 784
NUM_CLASSES = 10                       # K = 10 digits


# %% [markdown]
# ## 1. Data: split, scale, one-hot
# %%
# load_digits_csv (far below) gives X (N, 784) of gray levels 0..255 and y (N,) digits.
def split_train_val(X, y, val_fraction, rng):
    """Shuffle, then hold out a fraction for validation: (X_train, y_train, X_val, y_val).

    The validation digits are never trained on, so their accuracy estimates how
    the network does on digits it has never seen. Shuffling first matters when
    the file is sorted by label: the held-out part must look like the rest.
    """
    order = rng.permutation(len(y))
    n_val = int(round(len(y) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def scale_pixels(X, dtype=np.float32):
    """Gray levels 0..255 -> 0..1: (N, D) -> (N, D) float32.

    The weight initialisation assumes inputs of about unit size; raw 0..255
    would make the first layer's Z 255 times too large. float32 (7 significant
    digits) is plenty for training, and fast: see "Making it fast".
    """
    scaled = X.astype(dtype)        # a new float array; the caller's X is left alone
    scaled /= 255                   # in place: a second array of 60,000 rows costs 190 MB
    return scaled


def one_hot(y, num_classes, dtype=np.float32):
    """Labels (N,) -> one-hot Y (N, K): Y[i, y[i]] = 1, every other entry 0.

    num_classes is explicit: a mini-batch without a 9 still needs 10 columns.
    """
    Y = np.zeros((len(y), num_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y


# %% [markdown]
# ## 2. Building blocks: ReLU, softmax, cross-entropy
# %%
# Each f comes with f_backward: dJ/d(output) -> dJ/d(input), by the chain rule.
def relu(Z):
    """ReLU(z) = max(0, z), elementwise: (N, n) -> (N, n). Its slope is 1 for z > 0, so
    gradients pass through many layers undiminished (sigmoid's slope is at most 1/4)."""
    return np.maximum(Z, 0)


def relu_backward(dA, Z):
    """dJ/dZ = dJ/dA * relu'(Z), where relu'(z) = 1 if z > 0 else 0. (N, n)."""
    return dA * (Z > 0)


def softmax(Z):
    """Row-wise probabilities P[i, k] = exp(Z[i, k]) / sum_j exp(Z[i, j]). (N, K) -> (N, K)."""
    # exp(1000) is inf, and inf / inf is nan. Subtracting each row's maximum
    # cancels in the ratio, so P is unchanged, but every exp() is now <= 1.
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def cross_entropy(P, y):
    """Mean negative log-probability of the true class: J = -(1/N) sum_i log P[i, y_i].

    P (N, K) from softmax, y (N,) labels. Right with certainty gives 0; a uniform
    guess over 10 digits gives log(10) = 2.30, where training starts.
    """
    p_true = P[np.arange(len(y)), y]                  # (N,) probability of the right class
    # A probability that underflowed to exactly 0 would give log(0) = -inf; the smallest
    # positive float keeps it finite and changes no other value. (Adding 1e-12 would change
    # J a little, and cross_entropy_backward, the gradient of plain log P, would not match.)
    return float(-np.mean(np.log(np.maximum(p_true, np.finfo(P.dtype).tiny))))


# The famous short gradient. For one example, write a = softmax(z) and y for
# its one-hot row; then J = -sum_j y_j log a_j. The chain rule through a_j:
#   dJ/dz_k = sum_j (dJ/da_j) (da_j/dz_k)
#           = sum_j (-y_j / a_j) * a_j (1[j=k] - a_k)     softmax's derivative (*)
#           = -sum_j y_j 1[j=k] + a_k sum_j y_j           the a_j cancel
#           = -y_k + a_k                                  (the y_j sum to 1)
# (*) a_j = e^z_j / S with S = sum_i e^z_i. The quotient rule gives da_j/dz_k =
#     (1[j=k] e^z_j S - e^z_j e^z_k) / S^2 = a_j 1[j=k] - a_j a_k = a_j (1[j=k] - a_k).
# The loss is a mean over N examples, so each row also gets a factor 1/N.
def cross_entropy_backward(P, y):
    """dJ/dZ_L for softmax followed by cross-entropy: (P - Y) / N. (N, K) -> (N, K)."""
    return (P - one_hot(y, P.shape[1], P.dtype)) / len(y)


# %% [markdown]
# ## 3. The model: initialise, forward, backward, update
# %%
def initialize_parameters(layer_sizes, rng, dtype=np.float32, init="he"):
    """Weights and biases for an MLP with layer_sizes = [D, n_1, ..., K] (any depth).

    W_l (n_{l-1}, n_l) ~ Normal(0, std^2), b_l = 0.
        he:     std = sqrt(2 / n_{l-1})           for relu (the default)
        xavier: std = sqrt(2 / (n_{l-1} + n_l))   for tanh and sigmoid (Glorot; Ng's
                                                  course uses sqrt(1 / n_{l-1}))
    Zero biases are fine: the random weights already make every unit different.
    """
    # What He keeps constant: the mean square of Z, layer after layer. A unit
    # sums n_{l-1} terms w * a, so E[z^2] = n_{l-1} Var(w) E[a^2]; relu zeroes the
    # negative half of z (symmetric about 0), so E[a^2] = E[z_prev^2] / 2. Var(w) = 2 / n_{l-1}
    # makes E[z^2] = E[z_prev^2]: the signal neither fades nor explodes with depth.
    params = {}
    for l in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[l - 1], layer_sizes[l]
        std = np.sqrt(2 / fan_in) if init == "he" else np.sqrt(2 / (fan_in + fan_out))
        params[f"W{l}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def forward_propagation(X, params, activation=relu, output=softmax, dropout=0.0, rng=None):
    """Run a batch through the network: (P, cache). X (N, D) -> P (N, K).

    For l = 1..L, starting from A0 = X:
        Z_l = A_{l-1} @ W_l + b_l     (N, n_l); b_l is added to every row
        A_l = relu(Z_l)               hidden layers
        P   = softmax(Z_L)            output layer: each row sums to 1
    cache keeps every Z_l, A_l (after dropout) and dropout mask M_l for backpropagation.
    dropout > 0 (training only, with an rng): see the comment in the loop.
    """
    L = len(params) // 2
    A, cache = X, {"A0": X}
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]           # (N, n_l)
        A = activation(Z) if l < L else output(Z)           # (N, n_l)
        if dropout > 0 and l < L:
            # Inverted dropout: zero each hidden unit with probability `dropout`
            # and scale the survivors by 1 / (1 - dropout), so the expected value
            # of A is unchanged and prediction needs no rescaling. A unit that
            # cannot count on its neighbours must be useful on its own.
            mask = ((rng.random(A.shape) >= dropout) / (1 - dropout)).astype(A.dtype)
            A = A * mask                                    # (N, n_l)
            cache[f"M{l}"] = mask
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return A, cache


# Backpropagation is the chain rule, applied layer by layer from the output back.
# Knowing dZ_l = dJ/dZ_l (N, n_l) and Z_l = A_{l-1} @ W_l + b_l:
#   dW_l = A_{l-1}.T @ dZ_l     entry (i, j) sums, over the batch, input i times
#                               the error of unit j: W_l[i, j] touched every row
#   db_l = dZ_l summed over rows  b_l is added to every row, so every row's
#                               error pushes on it, and the pushes add up
#   dA_{l-1} = dZ_l @ W_l.T     each input passes its share back along its weights
#                               (times the dropout mask M_{l-1}, if any)
#   dZ_{l-1} = relu_backward(dA_{l-1}, Z_{l-1})
# Each gradient has the shape of what it is the gradient of (dW_l like W_l).
def backward_propagation(params, cache, dZ, activation_backward=relu_backward, l1=0.0, l2=0.0):
    """Gradients of the loss for every parameter, from dZ = dJ/dZ_L (N, K) at the output.

    Returns grads with the keys and shapes of params: grads["W1"] is dJ/dW1.
    With l1 or l2 > 0, the gradient of the penalty l1 sum|W| + (l2 / 2) sum W^2,
    which is l1 sign(W) + l2 W, is added to each dW (biases are not penalised).
    """
    L = len(params) // 2
    grads = {}
    for l in range(L, 0, -1):
        grads[f"W{l}"] = cache[f"A{l - 1}"].T @ dZ                # (n_{l-1}, n_l)
        grads[f"b{l}"] = dZ.sum(axis=0)                          # (n_l,)
        if l1 or l2:
            grads[f"W{l}"] += l1 * np.sign(params[f"W{l}"]) + l2 * params[f"W{l}"]
        if l > 1:                                 # no gradient needed for X itself
            dA = dZ @ params[f"W{l}"].T                          # (N, n_{l-1})
            if f"M{l - 1}" in cache:
                dA = dA * cache[f"M{l - 1}"]      # a dropped unit passes nothing back
            dZ = activation_backward(dA, cache[f"Z{l - 1}"])     # (N, n_{l-1})
    return grads


def update_parameters(params, grads, learning_rate, state=None):
    """Plain gradient descent: W = W - learning_rate * dW for every W and b, in place (so
    a caller holding params sees the change); returns params. `state` is unused: the
    other update rules keep memory there, and gradient_descent calls them all alike."""
    for key in params:
        params[key] -= learning_rate * grads[key]          # W = W - lr * dW
    return params


# Adam (Kingma and Ba, 2015) keeps two running means per weight: m of the gradients (which
# way to go, smoothed like momentum) and v of the squared gradients (how big they usually
# are). The step m_hat / sqrt(v_hat) is then about +-1 whatever the gradient's scale, so
# every weight moves by about learning_rate: rarely-used weights learn as fast as busy ones.
# Bias correction: m and v start at 0, so early on both are too small, v by far more
# (and it sits under a square root): after the first step m = 0.1 g and v = 0.001 g^2,
# so the step would be 0.1 / sqrt(0.001) = 3.2 times too big. Dividing by 1 - beta^t
# (0.1 and 0.001 at t = 1, near 1 later) makes m_hat = g and v_hat = g^2 at first.
def update_parameters_with_adam(params, grads, learning_rate, state,
                                beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step, as Kingma and Ba's Algorithm 1; updates params in place and returns them.

    state starts as {} and keeps t (steps taken) and m, v (one array per parameter).
    """
    if not state:                                   # first step: m = v = 0
        state.update(t=0, m={key: np.zeros_like(W) for key, W in params.items()},
                     v={key: np.zeros_like(W) for key, W in params.items()})
    state["t"] += 1
    t, m, v = state["t"], state["m"], state["v"]
    for key in params:
        g = grads[key]
        m[key] = beta1 * m[key] + (1 - beta1) * g             # mean of gradients
        v[key] = beta2 * v[key] + (1 - beta2) * g ** 2        # mean of squared gradients
        m_hat = m[key] / (1 - beta1 ** t)                     # bias-corrected
        v_hat = v[key] / (1 - beta2 ** t)
        params[key] -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return params


# %% [markdown]
# ## 4. Training: mini-batch gradient descent, predictions, accuracy
# %%
def gradient_descent(params, X, y, num_epochs, batch_size, learning_rate, rng,
                     optimizer=update_parameters_with_adam, schedule=None, transform=None,
                     on_epoch=None, activation=relu, activation_backward=relu_backward,
                     output=softmax, loss=cross_entropy, loss_backward=cross_entropy_backward,
                     dropout=0.0, l1=0.0, l2=0.0):
    """Train params on X (N, D) and labels y (N,) with mini-batch gradient descent.

    Each epoch shuffles the rows, cuts them into batches of batch_size, and for
    each batch does forward -> loss -> backward -> update. Updates params in
    place and returns them. Raises FloatingPointError if the loss stops being a
    number (a learning rate far too large). The options:
      optimizer(params, grads, rate, state)   the update rule: Adam by default,
                                              update_parameters for plain SGD
      schedule(step, total_steps)             a factor for the learning rate (none: 1)
      transform(X_batch, epoch, rng)          e.g. random distortions (augmentation)
      on_epoch(epoch, params, stats)          called after each epoch; True stops training
      activation..loss_backward, dropout, l1, l2   passed on to the model functions
    stats holds the epoch, the mean loss J (without the L1/L2 penalty) and the
    training accuracy, both measured on each batch as it was trained on.
    """
    state = {}                                     # the optimizer's memory (Adam's m, v)
    total_steps = num_epochs * math.ceil(len(X) / batch_size)
    step = 0                                       # updates made so far
    for epoch in range(1, num_epochs + 1):
        order = rng.permutation(len(X))            # a new order every epoch
        loss_sum = correct = 0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            X_batch, y_batch = X[batch], y[batch]     # (batch_size, D), (batch_size,)
            if transform is not None:
                X_batch = transform(X_batch, epoch, rng)
            P, cache = forward_propagation(X_batch, params, activation, output, dropout, rng)
            batch_loss = loss(P, y_batch)
            if not np.isfinite(batch_loss):              # stop before it spoils params
                raise FloatingPointError(f"the loss became {batch_loss} in epoch {epoch}")
            dZ = loss_backward(P, y_batch)                      # dJ/dZ_L, (batch_size, K)
            grads = backward_propagation(params, cache, dZ, activation_backward, l1, l2)
            rate = learning_rate * (schedule(step, total_steps) if schedule else 1)
            optimizer(params, grads, rate, state)   # update each W and b (Adam by default)
            step += 1
            # Running figures on the batches just seen: free, since P is here.
            loss_sum += batch_loss * len(batch)
            if y.ndim == 1:                         # labels (regression targets are (N, K))
                correct += np.count_nonzero(P.argmax(axis=1) == y_batch)
        stats = {"epoch": epoch, "loss": loss_sum / len(X), "train_accuracy": correct / len(X)}
        if on_epoch is not None and on_epoch(epoch, params, stats):
            break
    return params


def get_predictions(params, X, activation=relu, output=softmax):
    """The most probable class for each row of X (N, D): (N,) integers."""
    P, _ = forward_propagation(X, params, activation, output)
    return P.argmax(axis=1)


def get_accuracy(predictions, y):
    """The fraction of predictions equal to the labels, 0..1."""
    return float(np.mean(predictions == y))


# %% [markdown]
# ## 5. Is my gradient right? A gradient check
# %%
# Backpropagation bugs are quiet: a wrong gradient often still lowers the loss, just
# worse. The check: nudge one weight w by +-eps and watch the loss.
#   dJ/dw ~ (J(w + eps) - J(w - eps)) / (2 eps)       central difference
# Its error shrinks like eps^2 (the one-sided (J(w + eps) - J(w)) / eps errs like eps), so
# with eps = 1e-6 it is near 1e-12; rounding adds about 1e-10. That needs float64: float32
# keeps 7 digits, and the difference of two nearly equal losses would lose all of them.
# Then compare the whole gradient of each parameter, as Ng's course does, by the relative error
#   ||analytic - numeric|| / (||analytic|| + ||numeric||)    (||.|| = sqrt of sum of squares)
# which does not care how big the gradient is. In float64 a right backward pass
# gives about 1e-9 (up to 1e-6 when an output saturates or some z lies within
# eps of relu's kink at 0); a wrong one (a missing 1/N, a forgotten dropout
# mask) gives 1e-3 to 1. So: below 1e-6 is right. (Ng's course uses eps = 1e-7
# and passes below 2e-7; CS231n compares entry by entry, |a - n| / max(|a|, |n|), which is
# fooled by entries that are exactly 0: rounding alone makes those 1e-10 vs 0.)
def gradient_check(loss_of, params, grads, eps=1e-6):
    """Relative error between grads and central differences, per parameter.

    loss_of(params) -> the loss as a float; params in float64; grads from
    backward_propagation at the same params. Returns {"W1": error, ...}; every
    value below 1e-6 means backward_propagation is right.
    """
    errors = {}
    for key, W in params.items():
        numeric = np.zeros_like(W)
        for index in np.ndindex(W.shape):                 # every entry of W in turn
            saved = W[index]
            W[index] = saved + eps
            loss_up = loss_of(params)
            W[index] = saved - eps
            loss_down = loss_of(params)
            W[index] = saved                              # put it back
            numeric[index] = (loss_up - loss_down) / (2 * eps)
        difference = np.linalg.norm(grads[key] - numeric)
        size = np.linalg.norm(grads[key]) + np.linalg.norm(numeric)
        errors[key] = float(difference / size) if size > 0 else 0.0
    return errors


# %% [markdown]
# ## Beyond the core: making it fast (Adam in fewer passes over memory)
# %%
# Everything from here on is opt-in: a faster Adam, the command line's --activation, --head,
# --optimizer, --augment and the rest. The first reading can jump to `train_digits`.
#
# The core is written as the math reads, and is still about as fast as NumPy gets: float32
# halves the memory traffic of float64 and doubles the speed of the matrix products (almost
# all of the arithmetic); Python runs once per mini-batch of 64, NumPy does the rest; and
# one BLAS thread (set at the top when run as a script, before NumPy loads) suits products
# this small (64 x 784 times 784 x 256): a second thread saves little on a quiet machine and
# costs a lot on a busy one, the two waiting for each other. With free cores, compare the
# "train seconds" of OPENBLAS_NUM_THREADS=2 python nn_from_scratch.py.
# Adam is the exception: each NumPy operation is one pass over a whole array, and the
# textbook form makes 14 passes over all 235,000 parameters per step, each into a fresh
# temporary, slower here than the forward pass. Kingma and Ba (end of their section 2) give
# a cheaper order of the same computation, both bias corrections folded into one step size:
#     step = learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t)
#     W   -= step * m / (sqrt(v) + eps * sqrt(1 - beta2^t))
# exactly lr * m_hat / (sqrt(v_hat) + eps), rearranged; and writing every result into arrays
# kept between steps (out=, *=, +=) avoids the temporaries. The command line uses this
# version; a test checks that it takes the same steps as update_parameters_with_adam.
def update_parameters_with_adam_in_place(params, grads, learning_rate, state,
                                         beta1=0.9, beta2=0.999, eps=1e-8):
    """update_parameters_with_adam in 12 in-place passes per array; same steps, same state keys."""
    if not state:                           # m = v = 0, and a scratch array for each W
        state["t"] = 0
        for name in ("m", "v", "scratch"):
            state[name] = {key: np.zeros_like(W) for key, W in params.items()}
    state["t"] += 1
    t = state["t"]
    step = learning_rate * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    eps_t = eps * math.sqrt(1 - beta2 ** t)
    for key, W in params.items():
        g, m, v, s = grads[key], state["m"][key], state["v"][key], state["scratch"][key]
        m *= beta1
        m += np.multiply(g, 1 - beta1, out=s)                # m = beta1 m + (1 - beta1) g
        v *= beta2
        np.multiply(g, g, out=s)
        v += np.multiply(s, 1 - beta2, out=s)               # v = beta2 v + (1 - beta2) g^2
        np.sqrt(v, out=s)
        s += eps_t
        np.divide(m, s, out=s)
        W -= np.multiply(s, step, out=s)                    # W -= step m / (sqrt(v) + eps_t)
    return params


# %% [markdown]
# ## Beyond the core: other activations, output layers and losses
# %%
def tanh(Z):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z), in (-1, 1) and centred on 0."""
    return np.tanh(Z)


def tanh_backward(dA, Z):
    """tanh'(z) = 1 - tanh(z)^2: near 0 for large |z|, so saturated units learn slowly."""
    return dA * (1 - np.tanh(Z) ** 2)


def sigmoid(Z):
    """1 / (1 + e^-z), in (0, 1), written as its equal (1 + tanh(z / 2)) / 2, which never
    overflows (e^-z does for z below -88 in float32, -710 in float64)."""
    return 0.5 * (1 + np.tanh(0.5 * Z))


def sigmoid_backward(dA, Z):
    """sigmoid'(z) = s (1 - s), at most 1/4: through many layers gradients shrink."""
    S = sigmoid(Z)
    return dA * S * (1 - S)


def identity(Z):
    """The linear output, for regression: A = Z."""
    return Z


def as_targets(y, num_outputs):
    """Labels (N,) -> one-hot (N, K); targets that are already (N, K) pass through."""
    return one_hot(y, num_outputs) if np.ndim(y) == 1 else y


def binary_cross_entropy(A, y):
    """For sigmoid outputs, each an independent yes/no with target Y in {0, 1}:
    J = -(1/N) sum_i sum_k [Y log A + (1 - Y) log(1 - A)]."""
    # tiny, as in cross_entropy: log() stays finite at A = 0 or 1 (a clip at 1e-7 would change J)
    Y, tiny = as_targets(y, A.shape[1]), np.finfo(A.dtype).tiny
    log_A, log_1_minus_A = np.log(np.maximum(A, tiny)), np.log(np.maximum(1 - A, tiny))
    return float(-np.sum(Y * log_A + (1 - Y) * log_1_minus_A) / len(A))


def mean_squared_error(A, y):
    """J = (1 / 2N) sum_i sum_k (A - Y)^2; the 1/2 cancels the 2 of the derivative."""
    return float(0.5 * np.sum((A - as_targets(y, A.shape[1])) ** 2) / len(A))


def mean_absolute_error(A, y):
    """J = (1/N) sum_i sum_k |A - Y|: less swayed by outliers than squared error."""
    return float(np.sum(np.abs(A - as_targets(y, A.shape[1]))) / len(A))


# Sigmoid + binary cross-entropy and linear + squared error are "matched pairs", like
# softmax + cross-entropy: the output's derivative cancels against the loss's, and dJ/dZ_L
# is the same (A - Y) / N. For sigmoid + BCE, one output:
#   dJ/da = (a - y) / (a (1 - a)),  da/dz = a (1 - a),  so dJ/dz = a - y.
# For linear + MSE, a = z and dJ/dz = a - y directly.
def matched_output_backward(A, y):
    """dJ/dZ_L = (A - Y) / N for sigmoid + binary cross-entropy and linear + squared error."""
    return (A - as_targets(y, A.shape[1])) / len(A)


def mean_absolute_error_backward(A, y):
    """dJ/dZ_L for linear + absolute error: sign(A - Y) / N (not a matched pair)."""
    return np.sign(A - as_targets(y, A.shape[1])) / len(A)


def weight_penalty(params, l1=0.0, l2=0.0):
    """l1 sum|W| + (l2 / 2) sum W^2 over the weights (not biases, which add no wiggles): both
    pull toward 0, smoother; L1 makes many exactly 0, L2 shrinks all in proportion."""
    return float(sum(l1 * np.sum(np.abs(W)) + 0.5 * l2 * np.sum(W * W)
                     for key, W in params.items() if key.startswith("W")))


# Names -> functions, for the command line and saved models. A head: the output layer, its
# loss, and the loss's gradient at Z_L.
ACTIVATIONS = {"relu": (relu, relu_backward), "tanh": (tanh, tanh_backward),
               "sigmoid": (sigmoid, sigmoid_backward)}
HEADS = {"softmax": (softmax, cross_entropy, cross_entropy_backward),
         "sigmoid": (sigmoid, binary_cross_entropy, matched_output_backward),
         "mse": (identity, mean_squared_error, matched_output_backward),
         "mae": (identity, mean_absolute_error, mean_absolute_error_backward)}


def network_functions(activation="relu", head="softmax"):
    """The keyword arguments of gradient_descent for an activation and a head, by name."""
    names = ["activation", "activation_backward", "output", "loss", "loss_backward"]
    return dict(zip(names, ACTIVATIONS[activation] + HEADS[head]))


def check_gradients_of_small_network(activation="relu", head="softmax", dropout=0.0, l1=0.0,
                                     l2=0.0, seed=0):
    """gradient_check on a 12-8-6-10 float64 network and 8 random examples: {key: error}."""
    rng, f = np.random.default_rng(seed), network_functions(activation, head)
    params = initialize_parameters([12, 8, 6, NUM_CLASSES], rng, np.float64,
                                   "he" if activation == "relu" else "xavier")
    for l in (1, 2, 3):   # biases away from 0, so that a row whose units were all dropped
        params[f"b{l}"] += rng.uniform(0.1, 0.2, params[f"b{l}"].shape)   # is not on relu's kink
    X, y = rng.random((8, 12)), rng.integers(0, NUM_CLASSES, 8)      # like pixels in 0..1

    def forward(p):               # the same seed every call: the same dropout mask
        return forward_propagation(X, p, f["activation"], f["output"], dropout=dropout,
                                   rng=np.random.default_rng(seed + 1))

    def loss_of(p):               # J(params), the number the gradients are checked against
        return f["loss"](forward(p)[0], y) + weight_penalty(p, l1, l2)
    P, cache = forward(params)
    grads = backward_propagation(params, cache, f["loss_backward"](P, y),
                                 f["activation_backward"], l1=l1, l2=l2)
    return gradient_check(loss_of, params, grads)


# %% [markdown]
# ## Beyond the core: more update rules and learning-rate schedules
# %%
# Momentum, as Ng's course writes it: v is a running mean of the gradients. The other common
# form (PyTorch's SGD) sums instead, v = beta v + dW, which is 1 / (1 - beta) = 10 times
# larger: the same steps need a learning rate 10 times smaller there.
def update_parameters_with_momentum(params, grads, learning_rate, state, beta=0.9):
    """v = beta v + (1 - beta) dW;  W = W - learning_rate v.  In place; returns params.
    A heavy ball: steps that agree add up, zig-zags cancel out."""
    if "v" not in state:          # (not setdefault: it would build the zeros every step)
        state["v"] = {key: np.zeros_like(W) for key, W in params.items()}
    v = state["v"]
    for key in params:
        v[key] = beta * v[key] + (1 - beta) * grads[key]
        params[key] -= learning_rate * v[key]
    return params


def update_parameters_with_adagrad(params, grads, learning_rate, state, eps=1e-8):
    """s = s + dW^2;  W = W - learning_rate dW / (sqrt(s) + eps).  In place; returns params.
    Each weight gets its own step size, shrinking as its gradients add up."""
    if "s" not in state:
        state["s"] = {key: np.zeros_like(W) for key, W in params.items()}
    s = state["s"]
    for key in params:
        s[key] = s[key] + grads[key] ** 2
        params[key] -= learning_rate * grads[key] / (np.sqrt(s[key]) + eps)
    return params


def update_parameters_with_rmsprop(params, grads, learning_rate, state, rho=0.9, eps=1e-8):
    """s = rho s + (1 - rho) dW^2;  W = W - learning_rate dW / (sqrt(s) + eps).  In place.
    AdaGrad that forgets: s is a running mean, so steps do not shrink for ever (Hinton's 0.9)."""
    if "s" not in state:
        state["s"] = {key: np.zeros_like(W) for key, W in params.items()}
    s = state["s"]
    for key in params:
        s[key] = rho * s[key] + (1 - rho) * grads[key] ** 2
        params[key] -= learning_rate * grads[key] / (np.sqrt(s[key]) + eps)
    return params


# A schedule gives the factor for the learning rate at step `step` of `total_steps`: big steps
# early cover ground, small steps late settle into a minimum instead of bouncing around it.
def cosine_schedule(step, total_steps):
    """(1 + cos(pi t / T)) / 2: from 1 down to 0 along half a cosine (the default)."""
    return 0.5 * (1 + math.cos(math.pi * step / total_steps))


def step_schedule(step, total_steps):
    """1, then 1/10 from half-way, then 1/100 from three quarters of the way."""
    drops = int(step >= total_steps / 2) + int(step >= 0.75 * total_steps)   # 0, 1 or 2
    return 0.1 ** drops                     # (int(): NumPy's True + True is True, not 2)


def inverse_schedule(step, total_steps, decay=1e-3):
    """1 / (1 + decay t): the classic books' "learning-rate decay"."""
    return 1 / (1 + decay * step)


OPTIMIZERS = {"sgd": update_parameters, "momentum": update_parameters_with_momentum,
              "adagrad": update_parameters_with_adagrad, "rmsprop": update_parameters_with_rmsprop,
              "adam": update_parameters_with_adam_in_place}   # the same steps as the core's Adam
# Good starting learning rates differ: Adam, AdaGrad and RMSprop move each weight by about
# the learning rate; SGD and momentum move it by rate * gradient. (Momentum's 0.5 in the
# course form is 0.05 in the summing form.)
DEFAULT_LEARNING_RATES = {"sgd": 0.3, "momentum": 0.5, "adagrad": 0.01, "rmsprop": 0.001,
                          "adam": 0.002}
SCHEDULES = {"cosine": cosine_schedule, "step": step_schedule, "inverse": inverse_schedule,
             "constant": None}


# %% [markdown]
# ## Beyond the core: data augmentation
# %%
# An MLP has no idea that a digit moved one pixel to the left is the same digit: each pixel
# is a separate input with its own weights. (A convolutional network slides the same small
# filters over every position, so it gets shifts for free and gains less from this.) Showing
# the MLP slightly moved, turned and resized copies teaches it what it cannot see: on 10,000
# digits it is the biggest single gain. Only training batches are distorted: validation
# digits must stay as they come, or their accuracy no longer measures real digits.
def random_affine(X, rng, max_degrees=10.0, max_scale=0.1, max_shift=2.0):
    """Rotate, scale and shift a batch of images by one random map: (N, D) -> (N, D).

    For one image, ask where each output pixel (r, c) comes from (the inverse map),
    measured from the centre (13.5, 13.5) of the 28 x 28 grid:
        [r_src, c_src] = centre + R(-angle) @ ([r, c] - centre - shift) / scale
    That point usually lies between four pixels. Bilinear interpolation mixes them, each
    weighted by how close it is: with r0 = floor(r_src), fr = r_src - r0 (c0, fc alike),
        (1-fr)(1-fc) I[r0,c0] + (1-fr) fc I[r0,c0+1] + fr (1-fc) I[r0+1,c0] + fr fc I[r0+1,c0+1]
    Pixels off the image count as black (0). One map serves the whole batch: the arithmetic
    runs once, on all 784 (r, c), and each neighbour is one gather: out += weight * X[:, source].
    """
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    scale = rng.uniform(1 - max_scale, 1 + max_scale)
    shift_r, shift_c = rng.uniform(-max_shift, max_shift, size=2)
    centre = (IMAGE_SIDE - 1) / 2
    r, c = np.indices((IMAGE_SIDE, IMAGE_SIDE)).reshape(2, NUM_PIXELS)   # (D,) each
    dr, dc = r - centre - shift_r, c - centre - shift_c
    r_src = centre + (np.cos(angle) * dr + np.sin(angle) * dc) / scale   # R(-angle): rotate back
    c_src = centre + (-np.sin(angle) * dr + np.cos(angle) * dc) / scale
    r0, c0 = np.floor(r_src).astype(int), np.floor(c_src).astype(int)
    fr, fc = r_src - r0, c_src - c0                   # how far past (r0, c0), 0..1
    # X[:, source] written on X.T (D, N), one row per pixel: gathering whole rows makes this
    # function twice as fast as gathering scattered columns of X. An extra row of zeros,
    # number D, is the black pixel that lies off the image.
    pixels = np.zeros((NUM_PIXELS + 1, len(X)), X.dtype)                # (D + 1, N)
    pixels[:NUM_PIXELS] = X.T
    out = np.zeros((NUM_PIXELS, len(X)), X.dtype)
    for down, right, weight in [(0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                                (1, 0, fr * (1 - fc)), (1, 1, fr * fc)]:
        rows, cols = r0 + down, c0 + right
        inside = (rows >= 0) & (rows < IMAGE_SIDE) & (cols >= 0) & (cols < IMAGE_SIDE)
        source = np.where(inside, rows * IMAGE_SIDE + cols, NUM_PIXELS)   # (D,)
        neighbour = np.take(pixels, source, axis=0)                     # (D, N)
        neighbour *= weight.astype(X.dtype)[:, None]     # in place: one temporary, not two
        out += neighbour
    return out.T                                                        # (N, D)


AUGMENTED_SHARE = 2 / 3       # of the epochs; the rest train on the real images


def augment_first_epochs(num_epochs, share=AUGMENTED_SHARE):
    """A transform for gradient_descent: random_affine in the first `share` of the
    epochs, the real images after, so that the network settles on real digits."""
    def transform(X_batch, epoch, rng):
        return random_affine(X_batch, rng) if epoch <= share * num_epochs else X_batch
    return transform


# %% [markdown]
# ## Beyond the core: reading the CSV carefully
# %%
class InputError(ValueError):
    """A problem with the user's input, worded as one sentence that says how to fix it."""


def load_digits_csv(path, labelled=True, flag="--csv"):
    """Read a table of digits, one image per row: X (N, 784) uint8 in 0..255, y (N,) uint8.

    By general rules, not a list of layouts (the README lists what they accept): the label is
    the column named label, the pixels the 784 others, in the order of their numbers if named.
    labelled=False (a test.csv): y is None, or the unchecked label column. Bad input raises
    InputError, one sentence naming the file and how to fix it."""
    check_input_file(path, flag, "a CSV file")
    source, compression = csv_source(path, "train.csv" if labelled else "test.csv")
    names, sep = header_of(path, source, compression)
    label, pixels = digit_columns(names, path, labelled)
    data = read_numbers(path, source, compression, sep, names)         # (N, columns)
    if len(data) == 0:
        raise InputError(f"{path} has a header but no rows; add one image per row.")
    used = pixels + ([label] if label is not None else [])
    outside = [] if data.dtype == np.uint8 else np.argwhere((data[:, used] < 0) |
                                                            (data[:, used] > 255))
    if len(outside):                               # (uint8 cannot lie outside 0..255)
        row, col = outside[0]
        raise InputError(f"{path} row {row + 2}, column {names[used[col]]!r} holds "
                         f"{data[row, used[col]]:g}; pixels and labels must lie in 0..255.")
    X = data[:, pixels]
    if 0 < X.max() <= 1:                           # already scaled to 0..1: undo it
        print(f"note: {path} holds pixels from 0 to 1, not gray levels 0..255; they are "
              "read as 0..1 (times 255).")
        X = X.astype(np.float32) * 255
    X = np.ascontiguousarray(X if X.dtype == np.uint8 else np.rint(X).astype(np.uint8))
    y = None if label is None else data[:, label]
    if y is None or not labelled:                 # a label column, if any, is only reported
        return X, y
    wrong = (y != np.rint(y)) | (y >= NUM_CLASSES)
    if wrong.any():
        row = int(np.argmax(wrong))
        raise InputError(f"{path} row {row + 2} has label {y[row]:g}; labels must be the "
                         "whole digits 0..9.")
    return X, y.astype(np.uint8)


def check_input_file(path, flag, kind):
    """One true sentence if path is not a regular file that can be read."""
    fix = f"pass {kind} with {flag} PATH."
    if not path:
        raise InputError(f"{flag} was given an empty path; {fix}")
    if os.path.isdir(path):
        raise InputError(f"{path} is a folder, not a file; {fix}")
    if not os.path.exists(path):
        raise InputError(f"{path} does not exist; {fix}")
    if not os.path.isfile(path):
        raise InputError(f"{path} is not a regular file (a pipe or a device); save the data "
                         f"to a file and pass that with {flag}.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path} cannot be read (permission denied); check its permissions.")


def csv_source(path, member="train.csv"):
    """(source, compression) for pandas: the path and its compression (None: plain text), or a
    zip's one CSV or named member, in memory (Kaggle's holds train.csv, test.csv and more)."""
    import io
    import zipfile
    with open(path, "rb") as f:
        start = f.read(512)
    # The first bytes of a file say what it is, whatever its name says.
    signatures = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
                  (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"(\xb5/\xfd", "zstd"),
                  (b"7z\xbc\xaf", "7z"), (b"Rar!", "rar"), (b"\xd0\xcf\x11\xe0", "xls"),
                  (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\x89PNG", "png"),
                  (b"\xff\xd8\xff", "jpeg"), (b"%PDF", "pdf")]
    kind = next((name for magic, name in signatures if start.startswith(magic)), None)
    if len(start) > 262 and start[257:262] == b"ustar":
        kind = "tar"
    if kind in (None, "gzip", "bz2", "xz"):
        return path, kind
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                csvs = [n for n in names if n.lower().endswith(".csv")]
                chosen = [n for n in csvs if os.path.basename(n).lower() == member]
                if len(csvs) == 1 or chosen:
                    return io.BytesIO(archive.read((chosen or csvs)[0])), None
        except zipfile.BadZipFile:
            raise InputError(f"{path} is a damaged zip archive (an interrupted download?); "
                             "download it again.")
        if "[Content_Types].xml" not in names:          # (an .xlsx workbook is a zip of XML)
            raise InputError(f"{path} is a zip archive holding {', '.join(names[:5]) or 'nothing'}"
                             f", but no {member}; unzip it and pass the CSV you mean.")
        kind = "xls"
    advice = {"xls": "an Excel workbook; save it as CSV (comma delimited)",
              "utf-16": "UTF-16 text; save it as CSV UTF-8",
              "png": "a PNG picture; pictures go to --image",
              "jpeg": "a JPEG picture; pictures go to --image", "pdf": "a PDF document"}
    what = advice.get(kind, f"a {kind} archive; unpack it first and pass the CSV inside")
    raise InputError(f"{path} is {what}.")


def header_of(path, source, compression):
    """The names of the header line, and the delimiter for pandas (r"\\s+" for spaces)."""
    import bz2
    import gzip
    import lzma
    import zlib
    limit = 2**20         # 1 MB: a header of 785 names is 7 kB; a longer first line is no header
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression, open)
    try:
        if hasattr(source, "getvalue"):               # a zip member, in memory
            start = source.getvalue()[:limit]
        else:
            with opener(source, "rb") as f:
                start = f.read(limit)
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as err:
        if compression and not isinstance(err, PermissionError):
            raise InputError(f"{path} is a damaged or truncated {compression} file (an "
                             "interrupted download?); download it again.")
        raise InputError(f"{path} cannot be read ({getattr(err, 'strerror', None) or err}); "
                         "check its permissions.")
    if not start.strip():
        raise InputError(f"{path} is empty; it needs a header line and one image per row.")
    if b"\n" not in start and len(start) == limit:
        raise InputError(f"{path} has no line break in its first MB, so it is not a table "
                         "with one image per line; save it as CSV.")
    try:                    # whole lines only: a cut through a character would not decode
        text = (start[:start.rfind(b"\n")] if len(start) == limit else start
                ).decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\x00"                             # not UTF-8: refused just below, as binary
    if "\x00" in text:                            # binary, or text in another encoding
        raise InputError(f"{path} is not plain UTF-8 text (a spreadsheet, a compressed file, or "
                         "text in another encoding?); save it as CSV UTF-8.")
    line = text.splitlines()[0]
    sep = max([",", "\t", ";", "|"], key=line.count)
    if line.count(sep) == 0 and len(line.split()) > 1:
        return line.split(), r"\s+"
    return [name.strip().strip('"').strip() for name in line.split(sep)], sep


def digit_columns(names, path, labelled):
    """(index of the label column or None, indices of the 784 pixel columns in pixel order)."""
    lower = [name.lower() for name in names]
    labels = [i for i, name in enumerate(lower) if name == "label"]
    index = [0] if lower[0] in ("", "index", "id") or lower[0].startswith("unnamed") else []
    pixels = [i for i in range(len(names)) if i not in labels + index]
    numbers = [int(lower[i][5:]) if lower[i][:5] == "pixel" and lower[i][5:].isdigit()
               else None for i in pixels]
    header = "the header should read label,pixel0,...,pixel783."
    for refused, sentence in [     # in this order: the first that applies is the one to fix
            (lower == ["imageid", "label"], "is a Kaggle submission (ImageId,Label): answers, "
             "not images; train on Kaggle's train.csv, and --predict test.csv writes a file "
             "like this one."),
            (all(name.replace(".", "", 1).lstrip("-").isdigit() for name in names if name),
             "starts with numbers, not a header line; add the header label,pixel0,...,pixel783 "
             "(or pixel0,...,pixel783 without labels)."),
            (len(names) > 1 and names[-1] == "", "ends every line with a comma, which makes an "
             "empty last column; remove the trailing commas."),
            (len(labels) > 1, f"has {len(labels)} columns named label; keep one."),
            (len(pixels) != NUM_PIXELS, f"has {len(pixels)} pixel columns but a 28x28 image "
             f"needs {NUM_PIXELS}; {header}"),
            (None not in numbers and sorted(numbers) not in (list(range(NUM_PIXELS)),
                                                             list(range(1, NUM_PIXELS + 1))),
             f"names its pixel columns, but not pixel0..pixel783 each once; {header}"),
            (labelled and not labels, "holds pixels but no labels, like Kaggle's test.csv: pass "
             "it to --predict to write a submission (train on train.csv).")]:
        if refused:
            raise InputError(f"{path} {sentence}")
    if None not in numbers:                         # named pixelK: read them by their numbers
        pixels = [pixels[i] for i in np.argsort(numbers)]
    return (labels[0] if labels else None), pixels


def read_numbers(path, source, compression, sep, names):
    """Every cell as a number: (N, columns) uint8 when all are whole 0..255, else float32.

    Fast first: pandas parses each cell straight into uint8 (1 byte a pixel), 10,000 rows at
    a time to keep its buffers small. Anything else (a float, an index of 4000, a blank,
    'abc') makes it refuse: then float32 is tried, and last every cell is read as text, to
    name the one to blame."""
    import lzma
    import zlib
    options = dict(sep=sep, encoding="utf-8-sig", index_col=False, skipinitialspace=True,
                   compression=compression, header=0, names=range(len(names)))
    with warnings.catch_warnings():   # index_col=False: a value too many is a ParserWarning
        warnings.simplefilter("error", pd.errors.ParserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)    # nan -> uint8: refused anyway
        for dtype in (np.uint8, np.float32):
            try:
                with pd.read_csv(source, dtype=dtype, chunksize=10_000, **options) as reader:
                    data = np.concatenate([chunk.to_numpy() for chunk in reader])
                if not np.isnan(data).any():      # a blank cell reads as nan in floats
                    return data
            except Exception:
                pass
            finally:
                if hasattr(source, "seek"):
                    source.seek(0)                # read the zip member again from its start
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, **options)
        except (EOFError, OSError, zlib.error, lzma.LZMAError):   # cut short past the header
            raise InputError(f"{path} is a damaged or truncated {compression or 'CSV'} file (an "
                             "interrupted download?); download it again.")
        except (pd.errors.ParserWarning, ValueError) as err:
            if "Expected" in str(err) or isinstance(err, pd.errors.ParserWarning):
                raise InputError(f"{path} has rows with more values than the header has names "
                                 f"({str(err).strip().splitlines()[-1].rstrip('.')}); each row "
                                 "needs exactly one value per column of the header.")
            raise InputError(f"{path} is not a readable CSV ({err}); save it as plain "
                             "comma-separated text.")
    values = frame.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = values.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"{path} row {row + 2}, column {names[col]!r} holds "
                         f"{frame.iat[row, col]!r}, not a number; every cell must be a number "
                         "(check for blank cells or a short row).")
    return values.to_numpy(dtype=np.float32)


# %% [markdown]
# ## Beyond the core: early stopping, saving and loading a model
# %%
def keep_best(best, epoch, params, score):
    """Copy params into best ({} at first) whenever the validation score improves (higher is
    better: the accuracy, or minus the loss); return the epochs since the best one.

    Early stopping (stop at a "patience", go back to the best copy) ends training before the
    network memorises its training data. The price: that epoch won partly by luck on these
    very validation digits, so their accuracy flatters it; --test-csv digits chose nothing."""
    score = -math.inf if math.isnan(score) else score     # a diverged epoch is never best
    if not best or score > best["score"]:
        best.update(score=score, epoch=epoch, params={key: W.copy() for key, W in params.items()})
    return epoch - best["epoch"]


def write_atomically(path, write):
    """write(file) to a temporary file beside path, renamed onto path: a rename within one
    folder is atomic, so a crash or a full disk (InputError) never leaves half a file."""
    path = os.path.realpath(path)               # through a symbolic link, write its target
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:      # closes the file however this ends
            # mkstemp makes the file private (0600); give it what the user expects: the old
            # file's permissions, or those of any new file under the umask.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, os.stat(path).st_mode & 0o7777 if os.path.isfile(path)
                     else 0o666 & ~umask)
            write(f)
        os.replace(temporary, path)
    except OSError as err:
        raise InputError(f"could not write {path} ({err.strerror or err}); the previous file, "
                         "if any, is unchanged: free some disk space or choose another path.")
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def same_file(a, b):
    """True if paths a and b name one file, also through symbolic or hard links."""
    return os.path.realpath(a) == os.path.realpath(b) or (
        os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def check_writable(paths, inputs=()):
    """Fail now, not after training, if a file cannot be written where asked, if two
    outputs share a path, or if writing would overwrite an input (the user's data)."""
    for i, path in enumerate(paths):
        folder, exists = os.path.dirname(os.path.abspath(path)), os.path.exists(path)
        if not path or path.endswith(("/", os.sep)):
            raise InputError(f"the output path {path!r} names no file; give a file name such "
                             "as model.npz.")
        if any(same_file(path, given) for given in inputs if given):
            raise InputError(f"{path} is also an input of this run; writing it would destroy "
                             "it, so choose another output path.")
        if any(same_file(path, other) for other in paths[:i]):
            raise InputError(f"{path} is asked for twice as an output; one would overwrite the "
                             "other, so give each output its own path.")
        if exists and not os.path.isfile(path):
            raise InputError(f"{path} is a folder; give a file name to write to." if
                             os.path.isdir(path) else f"{path} is not a regular file (a device "
                             "or a pipe); give the path of a file to write.")
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"cannot write {path}: the folder {folder} does not exist or is "
                             "not writable; choose another path.")
        longest = os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
        if len(os.fsencode(os.path.basename(path))) > longest:   # else it fails after training
            raise InputError(f"cannot write {path}: the file name is too long for this file "
                             "system; choose a shorter name.")
        if exists and not os.access(path, os.W_OK):
            raise InputError(f"cannot overwrite {path}: it is read-only; choose another path.")
        sticky = os.stat(folder).st_mode & 0o1000        # like /tmp: only owners may replace
        if (sticky and exists and hasattr(os, "getuid") and os.getuid() != 0
                and os.stat(path).st_uid != os.getuid()):
            raise InputError(f"cannot replace {path}: it belongs to another user in a shared "
                             "folder; choose another path.")


def all_finite(params):
    """True if no weight or bias is nan or inf (training has not diverged)."""
    return all(np.all(np.isfinite(W)) for W in params.values())


def save_model(path, model):
    """Save the weights, biases and what rebuilds the network (layer sizes, activation, head)
    as .npz: NumPy's zip of plain arrays, no pickle, so loading one cannot run code."""
    if not all_finite(model["params"]):
        raise FloatingPointError("the parameters contain nan or inf; refusing to save them")
    arrays = dict(model["params"], layer_sizes=np.array(network_sizes(model["params"])),
                  activation=np.array(model["activation"]), head=np.array(model["head"]))
    write_atomically(path, lambda f: np.savez(f, **arrays))


def load_model(path):
    """A model written by save_model, {"params", "activation", "head"}; InputError for any other
    file. allow_pickle=False makes NumPy refuse pickled objects instead of running them."""
    check_input_file(path, "--load", "a model saved with --save")
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
    try:                   # every array that save_model writes, of the shape the sizes give
        sizes = [int(n) for n in arrays.pop("layer_sizes")]
        activation, head = str(arrays.pop("activation")), str(arrays.pop("head"))
        params = {}
        fits = len(sizes) >= 2 and activation in ACTIVATIONS and head in HEADS
        for l in range(1, len(sizes)):
            W, b = arrays.pop(f"W{l}"), arrays.pop(f"b{l}")
            params[f"W{l}"], params[f"b{l}"] = W, b
            fits = fits and W.shape == (sizes[l - 1], sizes[l]) and b.shape == (sizes[l],) and (
                W.dtype.kind == b.dtype.kind == "f")
        fits = fits and not arrays                   # nothing left over
    except (KeyError, ValueError, TypeError):
        fits = False
    if not fits:                  # (not assert: python -O would skip an assert's check)
        raise InputError(f"{path} is not a complete model saved by this script (its arrays "
                         "do not fit together); train one again with --save.")
    if not all_finite(params):
        raise InputError(f"{path} holds nan or inf weights; train the model again.")
    return {"params": params, "activation": activation, "head": head}


def network_sizes(params):
    """[D, n_1, ..., K], read off the weight shapes."""
    L = len(params) // 2
    return [params["W1"].shape[0]] + [params[f"W{l}"].shape[1] for l in range(1, L + 1)]


def describe(model):
    """'784-256-128-10 (relu, softmax)': the layer sizes, activation and head."""
    sizes = "-".join(map(str, network_sizes(model["params"])))
    return f"{sizes} ({model['activation']}, {model['head']})"


# %% [markdown]
# ## Beyond the core: train and predict on any arrays, one call each
# %%
# Your own Python and the command line go through the same calls:
#     model, history = train(X, y, hidden=[64], X_val=X_val, y_val=y_val)
#     predict(model, X_new)
# A model is a dict {"params": ..., "activation": "relu", "head": "softmax"}: the names travel
# with the weights (also through save_model and load_model), so a prediction always uses the
# functions the network was trained with.
def train(X, y, *, X_val=None, y_val=None, hidden=(256, 128), epochs=40, batch_size=64,
          learning_rate=None, optimizer="adam", schedule="cosine", activation="relu",
          head="softmax", init="auto", augment=False, dropout=0.0, l1=0.0, l2=0.0,
          patience=None, num_classes=None, rng=None, verbose=False, on_epoch=None):
    """Train an MLP on X (N, D) in one call; returns (model, history).

    y          integer labels (N,) for head "softmax" (K = num_classes, else the largest
               label + 1); 0/1 labels (N,) for one "sigmoid" output, or (N, K) for K of
               them; numbers (N,) or (N, K) for "mse" and "mae"
    history    a dict per epoch: "epoch", "loss", "train_accuracy" and, given X_val and
               y_val, "val_loss" and "val_accuracy" (regression has no accuracies). "loss"
               and softmax's "train_accuracy" are running means over the epoch's batches;
               the rest are measured after it
    patience   stop after that many epochs without a better validation score, and keep the
               best epoch's weights. Ctrl-C also stops, keeping the model so far (the best
               epoch's, when validating)
    on_epoch   on_epoch(epoch, params, stats) after each epoch, stats being history's
               figures; if it returns True, training stops
    optimizer, schedule   a name (OPTIMIZERS, SCHEDULES) or a function
    init       "auto": he for relu, else xavier
    rng        None: np.random.default_rng(0), so a run repeats exactly
    Raises InputError for data that cannot work, FloatingPointError on divergence.
    """
    check_choices(optimizer=optimizer, schedule=schedule, activation=activation, head=head)
    if callable(optimizer) and learning_rate is None:
        raise InputError("an optimizer given as a function needs a learning_rate too.")
    rng = np.random.default_rng(0) if rng is None else rng
    X, T, K = check_training_data(X, y, head, num_classes, augment)
    validating = X_val is not None or y_val is not None
    if validating:
        X_val, T_val, _ = check_training_data(X_val, y_val, head, K, names=("X_val", "y_val"))
    init = init if init != "auto" else ("he" if activation == "relu" else "xavier")
    params = initialize_parameters([X.shape[1], *hidden, K], rng, init=init)
    model = {"params": params, "activation": activation, "head": head}
    history, best, started = [], {}, time.perf_counter()

    def after_epoch(epoch, params, stats):
        # gradient_descent counts right answers only for labels (N,): for the other heads,
        # train_accuracy is measured on X after the epoch (regression has none).
        stats = dict(stats)
        if head != "softmax":
            del stats["train_accuracy"]
            figures = evaluate(model, X, T)
            if "accuracy" in figures:
                stats["train_accuracy"] = figures["accuracy"]
        if validating:
            stats.update({"val_" + k: v for k, v in evaluate(model, X_val, T_val).items()})
        history.append(stats)
        if verbose:
            print(epoch_line(stats, epochs, time.perf_counter() - started), flush=True)
        score = stats.get("val_accuracy", -stats.get("val_loss", 0.0))   # higher is better
        waited = keep_best(best, epoch, params, score) if validating else 0
        stop = on_epoch is not None and bool(on_epoch(epoch, params, stats))
        return stop or (patience is not None and waited >= patience)

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            gradient_descent(params, X, T, epochs, batch_size, rng=rng,
                             learning_rate=DEFAULT_LEARNING_RATES[optimizer]
                             if learning_rate is None else learning_rate,
                             optimizer=OPTIMIZERS.get(optimizer, optimizer),
                             schedule=SCHEDULES.get(schedule, schedule),
                             transform=augment_first_epochs(epochs) if augment else None,
                             on_epoch=after_epoch,
                             dropout=dropout, l1=l1, l2=l2, **network_functions(activation, head))
    except KeyboardInterrupt:
        if verbose:
            print("interrupted: keeping the model so far (Ctrl-C again aborts)", flush=True)
        patience = patience or epochs          # so that the best epoch's weights are kept
    if best and patience is not None:          # early stopping (or Ctrl-C): the best epoch
        model["params"] = best["params"]
        if verbose:
            print(f"using the parameters of epoch {best['epoch']}, the best on the validation "
                  "data")
    with np.errstate(over="ignore", invalid="ignore"):   # finite weights of 1e30 are not
        P = predict_probabilities(model, X[:1000])       # enough: their outputs can be nan
    if not all_finite(model["params"]) or not np.all(np.isfinite(P)):
        raise FloatingPointError("the network's outputs became nan or inf")
    return model, history


def check_choices(**choices):
    """One sentence for a name train() does not know (a typo such as optimizer="Adam")."""
    tables = dict(optimizer=OPTIMIZERS, schedule=SCHEDULES, activation=ACTIVATIONS, head=HEADS)
    for what, value in choices.items():
        if isinstance(value, str) and value not in tables[what]:
            raise InputError(f"{what}={value!r} is not one of {', '.join(tables[what])}.")


def check_training_data(X, y, head, num_classes=None, augment=False, names=("X", "y")):
    """(X float32 (N, D), y as the head's loss takes it: labels (N,) for softmax, else (N, K)
    float32, K); InputError now for what would fail later, puzzlingly, or train silently."""
    x_name, y_name = names
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.dtype.kind not in "fiub":
        raise InputError(f"{x_name} has shape {X.shape} ({X.dtype}); it needs numbers, one "
                         f"example per row (N, D): for one feature use {x_name}.reshape(-1, 1).")
    if X.dtype == np.uint8:
        raise InputError(f"{x_name} holds raw 0..255 pixels (uint8); scale them to 0..1 "
                         f"first: scale_pixels({x_name}).")
    if y.ndim == 0 or len(X) != len(y) or len(X) == 0:
        raise InputError(f"{x_name} has {len(X)} rows and {y_name} has {np.size(y)}; give "
                         "one target per row, and at least one row.")
    if not np.all(np.isfinite(X)):        # else the loss turns nan: a learning rate's symptom
        raise InputError(f"{x_name} holds nan or inf; remove or fill those rows.")
    if augment and X.shape[1] != NUM_PIXELS:
        raise InputError(f"augment=True distorts 28x28 images, but each row of {x_name} has "
                         f"{X.shape[1]} values; leave augment off for other data.")
    if head == "softmax":
        if y.ndim != 1 or y.dtype.kind not in "iu" or y.min() < 0:
            raise InputError(f"{y_name} is {y.dtype} with shape {y.shape}, but the softmax head "
                             f"needs integer labels 0, 1, ..., shape (N,): use {y_name}.astype"
                             "(int) for whole numbers, or head='mse' to fit real numbers.")
        K = num_classes or int(y.max()) + 1
        if y.max() >= K:
            raise InputError(f"{y_name} holds the label {y.max()}, but the network has {K} "
                             f"classes (0..{K - 1}); pass num_classes=... to cover every label.")
        return X.astype(np.float32, copy=False), y, K
    Y = y.reshape(len(y), -1).astype(np.float32)          # (N,) -> (N, 1)
    if y.ndim > 2 or (num_classes and Y.shape[1] != num_classes):
        raise InputError(f"{y_name} has shape {y.shape}; it needs (N,) or (N, K) targets"
                         + (f" with K = {num_classes}." if num_classes else "."))
    if head == "sigmoid" and not np.isin(Y, (0, 1)).all():
        raise InputError(f"{y_name} must hold only 0 and 1 for the sigmoid head (a yes/no "
                         "per output); use head='mse' to fit other numbers.")
    if not np.all(np.isfinite(Y)):
        raise InputError(f"{y_name} holds nan or inf; remove or fill those rows.")
    return X.astype(np.float32, copy=False), Y, Y.shape[1]


def predict_probabilities(model, X):
    """The network's outputs for X (N, D) -> (N, K), or for one example x (D,) -> (K,),
    with the activation and head the model was trained with."""
    X, D = np.asarray(X), model["params"]["W1"].shape[0]
    if X.dtype == np.uint8:
        raise InputError("X holds raw 0..255 pixels (uint8); scale them to 0..1 first: "
                         "scale_pixels(X).")
    if X.ndim not in (1, 2) or X.shape[-1] != D:
        raise InputError(f"X has shape {X.shape}, but this network takes {D} numbers per "
                         f"example: give (N, {D}), or ({D},) for one example.")
    P, _ = forward_propagation(np.atleast_2d(X), model["params"],
                               ACTIVATIONS[model["activation"]][0], HEADS[model["head"]][0])
    return P[0] if X.ndim == 1 else P


def predict(model, X):
    """For X (N, D) (or one example (D,)): the most probable class (N,); 0/1 for one sigmoid
    output (1 above 0.5); the outputs for mse and mae ((N,) for one, else (N, K))."""
    P = predict_probabilities(model, X)
    if model["head"] in ("mse", "mae"):
        return P[..., 0] if P.shape[-1] == 1 else P
    return (P[..., 0] > 0.5).astype(int) if P.shape[-1] == 1 else P.argmax(axis=-1)


def evaluate(model, X, T):
    """{"loss": J, "accuracy": a} of the model on X (N, D) with targets T as train checked
    them; no "accuracy" for regression (unless T is one-hot: classes by regression)."""
    P = predict_probabilities(model, X)
    figures = {"loss": HEADS[model["head"]][1](P, T)}
    if T.ndim == 1:
        figures["accuracy"] = get_accuracy(P.argmax(axis=1), T)
    elif T.shape[1] == 1 and model["head"] == "sigmoid":
        figures["accuracy"] = get_accuracy(P[:, 0] > 0.5, T[:, 0])
    elif np.isin(T, (0, 1)).all() and np.all(T.sum(axis=1) == 1):     # one-hot rows
        figures["accuracy"] = get_accuracy(P.argmax(axis=1), T.argmax(axis=1))
    return figures


def epoch_line(stats, num_epochs, elapsed):
    """'epoch   3/40  loss 0.2100  train acc 0.9400  val loss ...  1.2s  (15s left)'."""
    figures = "  ".join(f"{key.replace('_accuracy', ' acc').replace('_', ' ')} {stats[key]:.4f}"
                        for key in ("loss", "train_accuracy", "val_loss", "val_accuracy")
                        if key in stats)
    epoch, left = stats["epoch"], elapsed / stats["epoch"] * (num_epochs - stats["epoch"])
    return f"epoch {epoch:3d}/{num_epochs}  {figures}  {elapsed:6.1f}s  ({left:.0f}s left)"


def check_fits_in_memory(sizes, batch_size):
    """Refuse, before allocating, a network too big to train in this machine's memory."""
    count = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    need = 4 * (8 * count + 6 * batch_size * sum(sizes))   # float32: W, dW, m, v, temporaries
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):         # not on this system: try anyway
        return
    if need > have:
        raise InputError(f"a {'-'.join(map(str, sizes))} network has {count:,} parameters and "
                         f"needs about {need / 2**30:,.0f} GiB to train, more than this machine's "
                         f"{have / 2**30:.0f} GiB; choose smaller --hidden sizes or --batch-size.")


# %% [markdown]
# ## Beyond the core: evaluation (confusion matrix, per-class accuracy, noise)
# %%
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


def accuracy_under_noise(model, X, y, sigmas, rng):
    """Accuracies on X (N, D) in 0..1 plus noise N(0, sigma^2), clipped to 0..1 as a real image
    is: a network that learned strokes degrades slowly, one that learned pixels falls apart."""
    accuracies = []
    for sigma in sigmas:
        noisy = np.clip(X + rng.normal(0, sigma, X.shape).astype(X.dtype), 0, 1)
        accuracies.append(get_accuracy(predict_probabilities(model, noisy).argmax(axis=1), y))
    return accuracies


# %% [markdown]
# ## Beyond the core: Kaggle submissions and your own pictures
# %%
def write_submission(path, predictions):
    """Kaggle Digit Recognizer format: header ImageId,Label; ImageId counts from 1."""
    frame = pd.DataFrame({"ImageId": np.arange(1, len(predictions) + 1),
                          "Label": np.asarray(predictions, dtype=int)})
    write_atomically(path, lambda f: f.write(frame.to_csv(index=False).encode()))


def load_image_gray(path):
    """A PNG or JPEG as gray levels (rows, cols) in 0..1, upright as a phone shows it."""
    from PIL import Image, ImageOps
    check_input_file(path, "--image", "a PNG or JPEG picture")
    try:
        with Image.open(path) as image:
            # A sideways phone stores its pixels sideways, plus an EXIF tag saying how to turn
            # them. A 12000 x 12000 scan (1.2 GB as float64) is first averaged in k x k blocks.
            image = ImageOps.exif_transpose(image)
            k = max(image.size) // 2000
            gray = gray_levels(image.reduce(k) if k > 1 else image)
    except Exception as err:
        raise InputError(f"image {path} cannot be read ({type(err).__name__}); "
                         "save it as PNG or JPEG.")
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise InputError(f"image {path} is not a 2-D picture; save it as PNG or JPEG.")
    return gray


def gray_levels(image):
    """A PIL image as gray levels (rows, cols) in 0..1, transparent parts as white paper."""
    if image.mode.startswith(("I", "F")):              # I: 16-bit gray PNG, 0..65535
        return np.asarray(image, dtype=np.float64) / (1 if image.mode == "F" else 65535)
    see_through = "A" in image.getbands() or "transparency" in image.info
    if image.mode == "L" and not see_through:
        return np.asarray(image, dtype=np.float64) / 255
    wanted = "RGBA" if see_through else "RGB"
    levels = np.asarray(image if image.mode == wanted else image.convert(wanted))
    # R, G, B weighted as the eye sees them (green brightest), one at a time in float32: a
    # 12-megapixel photo as one float64 array of R, G and B would take 300 MB.
    gray = levels[:, :, 0] * np.float32(0.299 / 255)
    gray += levels[:, :, 1] * np.float32(0.587 / 255)
    gray += levels[:, :, 2] * np.float32(0.114 / 255)
    if see_through:                                    # lay it on white paper:
        alpha = levels[:, :, 3] / np.float32(255)      # gray * alpha + white * (1 - alpha)
        gray = gray * alpha + (1 - alpha)
    return gray.astype(np.float64)


def resize_matrix(n_in, n_out):
    """R (n_out, n_in): output pixel i averages the input span [i s, (i + 1) s), s = n_in / n_out,
    R[i, j] being the share of it pixel j covers (no jagged edges). An image: R_r @ I @ R_c.T."""
    s = n_in / n_out
    lo, j = np.arange(n_out)[:, None] * s, np.arange(n_in)[None, :]
    return np.clip(np.minimum(lo + s, j + 1) - np.maximum(lo, j), 0, None) / s


def shrink_for_speed(gray, longest=400):
    """Average k x k blocks so the longer side is at most `longest`: the digit keeps far more
    detail than its final 20 pixels, later steps cost k^2 less, and the noise is k times less."""
    k = min(-(-max(gray.shape) // longest), min(gray.shape))     # -(-a // b) = ceil(a / b)
    if k <= 1:
        return gray
    rows, cols = gray.shape[0] // k * k, gray.shape[1] // k * k   # drops < k edge pixels
    return gray[:rows, :cols].reshape(rows // k, k, cols // k, k).mean(axis=(1, 3))


def running_max(a, width, axis):
    """The max within `width` pixels around each pixel along an axis, by doubling: the max over
    2s is the max of two over s; then two overlapping windows of s (s <= width < 2s) make width."""
    a = np.moveaxis(a, axis, 0)
    before = width // 2              # windows stick out past the ends: repeat the end pixels
    m, size = np.pad(a, [(before, width - 1 - before)] + [(0, 0)] * (a.ndim - 1), "edge"), 1
    while 2 * size <= width:                            # m[i] = max of padded[i:i + size]
        m, size = np.maximum(m[:-size], m[size:]), 2 * size
    m = np.maximum(m[:len(m) - (width - size)], m[width - size:])
    return np.moveaxis(m, 0, axis)


def close_dark_gaps(gray, width):
    """Closing: the brightest value in the width x width square around each pixel, then the
    darkest of those. Dark things narrower than `width` (strokes, rules) become the paper around
    them; wider ones stay exactly where the light rises one way across the square (a lamp, a
    soft shadow): the max takes its brightest corner, the min comes back to the pixel. Squares
    reaching past the border see its edge continued outward, as a shadow would have run on."""
    padded = np.pad(gray, width, mode="edge")
    brightest = running_max(running_max(padded, width, 0), width, 1)
    closed = -running_max(running_max(-brightest, width, 0), width, 1)
    return closed[width:-width, width:-width]


def mean_of_3x3(image):
    """Each pixel averaged with its 8 neighbours (edges repeated): noise / 3, as 9 are averaged."""
    padded = np.pad(image, 1, mode="edge")
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9


def stroke_width(ink):
    """The pen strokes' width: a stroke l long and d wide has area l d and outline 2 (l + d),
    so d ~ 2 area / outline. Only ink over 0.6 of the strongest counts: thin, half-dark printed
    rules would make the strokes look thin, and the digit come out hollow."""
    strong = ink > 0.6 * np.percentile(ink, 99.9)
    outline = np.count_nonzero(np.diff(strong, axis=0)) + np.count_nonzero(np.diff(strong, axis=1))
    return 2 * np.count_nonzero(strong) / max(outline, 1)


def ink_on_flat_paper(gray):
    """How much light the ink takes away, whatever the light: (rows, cols) in 0..1.

    A camera records gray = light * reflectance. The light varies slowly (a lamp, a hand's
    shadow); paper reflects about 0.9, ink 0.1 to 0.35. No threshold splits them (paper in a
    shadow, 0.4 * 0.9 = 0.36, is darker than lit ink, 1.0 * 0.3), but gray / paper has no
    light in it: ink = 1 - gray / paper, paper being close_dark_gaps of the picture with its
    noise averaged down (a max picks the noise's peaks). The window: a fifth of the shorter
    side, then 3 strokes wide (a wider one fills in more of a shadow's corner, seeing ink).
    Light on dark is turned over if that leaves the paper clearly smoother: a wrong guess
    leaves the digit's outline in it as edges (sum of |neighbours' differences|). "Clearly"
    means 20% smoother: on a blank page, noise alone would tip it either way."""
    smooth = mean_of_3x3(gray)
    width = max(3, min(gray.shape) // 5)
    paper, paper_if_inverted = close_dark_gaps(smooth, width), close_dark_gaps(1 - smooth, width)
    edges_if_inverted, edges = (np.abs(np.diff(p, axis=0)).sum() + np.abs(np.diff(p, axis=1)).sum()
                                for p in (paper_if_inverted, paper))
    if edges_if_inverted < 0.8 * edges:
        gray, smooth, paper = 1 - gray, 1 - smooth, paper_if_inverted
    ink = 1 - gray / np.maximum(paper, 1e-3)
    narrower = int(np.clip(3 * stroke_width(ink), 3, width))
    if narrower < width:
        ink = 1 - gray / np.maximum(close_dark_gaps(smooth, narrower), 1e-3)
    return np.clip(ink, 0, 1)                  # 3x3 means can dip below a pixel's own value


def rule_slope(ink, max_slope=0.05, steps=41):
    """The ruled lines' slope, up to 3 degrees either way (pages lie askew). Along the rules'
    own slope each line round(row - slope * col) is all rule or all paper, so the between-lines
    sum of squares, sum of (pixels on it) * (its mean - mean)^2, is largest. Coarse, then fine:
    400 pixels across need 1/800 for half a pixel of drift. Every 4th column sees the rules."""
    rows, cols = np.indices(ink[:, ::4].shape)
    cols, flat = 4 * cols, ink[:, ::4].ravel()
    overall = flat.mean()

    def spread(slope):
        index = np.rint(rows - slope * cols).astype(int).ravel()
        index -= index.min()                            # the lines, numbered from 0
        counts = np.bincount(index)
        means = np.bincount(index, flat) / np.maximum(counts, 1)
        return counts @ (means - overall) ** 2

    coarse = np.linspace(-max_slope, max_slope, steps)
    best, step = max(coarse, key=spread), coarse[1] - coarse[0]
    return max(best + np.linspace(-step, step, 9), key=spread)


def quantile_per_group(values, groups, share):
    """Per group 0..max(groups): the value `share` up its sorted values, and its size. One sort of
    group + value / 2 (values in 0..1) orders by group then value; value = 2 (sorted - group)."""
    in_order = np.sort(groups + np.clip(values, 0, 1) / 2)
    counts = np.bincount(groups)
    starts = np.cumsum(counts) - counts                 # where each group's run begins
    picked = in_order[starts + (share * np.maximum(counts - 1, 0)).astype(int)]
    return 2 * (picked - np.arange(len(counts))), counts


def divide_out_lines(ink, slope, share=0.25):
    """Divide out ruled lines of this slope from ink (rows, cols). A rule crosses the whole page,
    a digit far less: the ink a line holds along 75% of it (its 25th percentile) is the rule's.
    Lines are strips 1/4 pixel tall, whose pixels sit at one height against a thin sloping rule
    (whole-pixel lines where a strip is too short). Where they cross, each lets through a share
    of the light: 1 - ink = (1 - rule)(1 - pen), so pen = 1 - (1 - ink) / (1 - rule): no gap."""
    rows, cols = np.indices(ink.shape)
    height = rows - slope * cols
    strip, line = np.floor(4 * height).astype(int), np.rint(height).astype(int)
    strip, line = strip - strip.min(), line - line.min()          # numbered from 0
    strip_rule, strip_size = quantile_per_group(ink.ravel(), strip.ravel(), share)
    line_rule, line_size = quantile_per_group(ink.ravel(), line.ravel(), share)
    line_rule[line_size < ink.shape[1] / 4] = 0         # lines cut short by a corner
    rule = np.where(strip_size[strip] >= ink.shape[1] / 5, strip_rule[strip], line_rule[line])
    rule = np.where(rule < 0.5, rule, 0)    # as dark as a pen all along: a digit, not a rule
    return 1 - np.minimum((1 - ink) / (1 - rule), 1)


def keep_main_blobs(ink, share=0.25):
    """Keep the blobs with at least `share` of the largest one's ink: the digit, not specks, a
    shadow's corner or the page's edge. Found on cells a stroke wide, widened by a cell, so the
    parts a lifted pen left apart are one blob (two digits both stay: unsure, as they should).
    Labels: each cell a number, then the 3 x 3 max again and again until nothing changes, as
    many rounds as a blob is cells long: hence at most 100 cells across."""
    cell = max(round(stroke_width(ink)), -(-max(ink.shape) // 100), 1)   # -(-a // b): ceil
    cell = min(cell, max(1, min(ink.shape) // 4))                         # at least 4 cells
    padded = np.pad(ink, [(0, -n % cell) for n in ink.shape])             # whole cells
    cells = padded.reshape(padded.shape[0] // cell, cell, padded.shape[1] // cell, cell)
    mask = running_max(running_max(cells.max(axis=(1, 3)) > 0.2, 3, 0), 3, 1)
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:                     # each blob's largest number spreads through it, and stops
        spread = np.where(mask, running_max(running_max(labels, 3, 0), 3, 1), 0)
        if np.array_equal(spread, labels):
            break
        labels = spread
    ink_per_blob = np.bincount(labels.ravel(), cells.sum(axis=(1, 3)).ravel())
    ink_per_blob[0] = 0                                 # label 0 is the paper
    keep = ink_per_blob >= share * ink_per_blob.max()
    keep_pixels = np.repeat(np.repeat(keep[labels], cell, axis=0), cell, axis=1)
    return ink * keep_pixels[:ink.shape[0], :ink.shape[1]]


def preprocess_digit_image(gray, path="image"):
    """Make a photo or drawing look like an MNIST digit: (rows, cols) in 0..1 -> (784,) float32.

    First undo what a photo adds: shrink it, divide out the light (turning light on dark
    over), then ruled lines and a margin line (the same, sideways). Then MNIST's steps:
    1. Stretch contrast: the paper's level becomes 0 and the strongest ink 1.
    2. Crop to the ink's bounding box (the digit's blobs, not specks beside it).
    3. Scale so the longer side is 20 pixels, keeping the aspect ratio.
    4. Paste into a 28 x 28 black square so the ink's centre of mass sits at the
       centre: the 4-pixel margin leaves room, as in MNIST.
    """
    blank = InputError(f"image {path} looks blank (no ink stands out from the background); "
                       "give a picture of one digit, dark on light or light on dark.")
    ink = ink_on_flat_paper(shrink_for_speed(gray))
    ink = divide_out_lines(ink, rule_slope(ink))
    ink = divide_out_lines(ink.T, rule_slope(ink.T)).T
    # The strongest ink: the 99.9th percentile, as one hot pixel could set the max.
    background, strongest = np.median(ink), np.percentile(ink, 99.9)
    if strongest - background < 0.15:
        raise blank
    # The paper's noise, robustly (ink would inflate a standard deviation): 1.4826 * median
    # |x - median| is Gaussian noise's standard deviation. Paper lies within 3 of them.
    paper_level = background + 3 * 1.4826 * np.median(np.abs(ink - background))
    if strongest <= paper_level:                        # the "ink" is the paper's own noise
        raise blank
    ink = keep_main_blobs(np.clip((ink - paper_level) / (strongest - paper_level), 0, 1))
    # Solid ink: inky pixels in an inky 3 x 3, so lone specks neither count nor stretch the
    # box (a pixel on a stroke's edge still has 4 inky pixels of its 9).
    rows, cols = np.nonzero((ink > 0.2) & (mean_of_3x3(ink) > 0.2))
    if len(rows) == 0:                                  # only scattered specks stood out
        raise blank
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(ink.shape)
    height, width = (max(1, round(n * scale)) for n in ink.shape)
    box = resize_matrix(ink.shape[0], height) @ ink @ resize_matrix(ink.shape[1], width).T
    box /= box.max()
    weights_r, weights_c = box.sum(axis=1), box.sum(axis=0)
    centre_r = weights_r @ np.arange(height) / weights_r.sum()      # the centre of mass
    centre_c = weights_c @ np.arange(width) / weights_c.sum()
    middle = (IMAGE_SIDE - 1) / 2                                   # goes here
    top = int(np.clip(round(middle - centre_r), 0, IMAGE_SIDE - height))
    left = int(np.clip(round(middle - centre_c), 0, IMAGE_SIDE - width))
    digit = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    digit[top:top + height, left:left + width] = box
    return digit.ravel()


# A top probability below this: maybe not one clear digit (say so). On 288 phone photos of
# validation digits, 0.9 flagged 5 of the 6 misreadings, 9 of the 282 right ones, and half the
# letters and digit pairs. Softmax cannot say "none of these": a W can get 0.99. A hint only.
UNSURE_BELOW = 0.9


# %% [markdown]
# ## Pictures
# %%
FILE_ONLY_BACKENDS = ("agg", "pdf", "svg", "ps", "cairo", "template")   # no window to show
# matplotlib is imported inside these functions: importing it costs half a second,
# and a run with --no-plot never needs it.
def save_figure(fig, path):
    """Write a figure as PNG, atomically (path None: write nothing; in a notebook it shows
    below the cell), and free it unless it is to be shown on screen."""
    import matplotlib.pyplot as plt
    if path is not None:
        write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))
    if plt.get_backend().lower() in FILE_ONLY_BACKENDS:
        plt.close(fig)


def plot_sample_predictions(X, y, predictions, path, count=24):
    """A grid of digits X (N, D) titled 'pred (true)': up to half of it mistakes (in red),
    then correct ones, since the mistakes teach the most."""
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


def plot_training_curves(history, path, augmented_until=None):
    """Loss and accuracy per epoch from train()'s history (validation lines when it has them,
    no accuracy for regression). A dashed line marks the last augmented epoch: training on
    real images gets easier after it."""
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    panels = 2 if history and "train_accuracy" in history[0] else 1     # 1: no accuracy
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    for ax, what in zip(axes[0], ["loss", "accuracy"]):
        if augmented_until and epochs and augmented_until < epochs[-1]:
            ax.axvline(augmented_until, color="gray", linestyle="--",
                       label="last epoch with augmentation")
        ax.plot(epochs, [h["loss" if what == "loss" else "train_accuracy"] for h in history],
                label="train")
        if history and "val_" + what in history[0]:
            ax.plot(epochs, [h["val_" + what] for h in history], label="validation")
        ax.set(xlabel="epoch", ylabel=what, title=what)
        ax.legend()
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


def plot_lines(xs, ys, path, *, xlabel, ylabel, title, log_x=False):
    """One line of points; for the noise and learning-rate experiments."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xscale="log" if log_x else "linear")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_image_predictions(originals, digits, probabilities, saliencies, names, path):
    """One row per picture: the picture as you see it (upright, in gray), the 28 x 28
    input the network reads, which of its ink voted for the answer (ink x gradient, as
    in saliency.png), and all ten probabilities, the top one highlighted."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(digits), 4, figsize=(12.5, 2.6 * len(digits) + 0.5),
                             squeeze=False, gridspec_kw={"width_ratios": [1.2, 1, 1, 1.6]})
    for (ax_pic, ax_img, ax_why, ax_bar), original, digit, p, g, name in zip(
            axes, originals, digits, probabilities, saliencies, names):
        step = max(1, max(original.shape) // 400)      # drawing 12 megapixels is slow
        ax_pic.imshow(original[::step, ::step], cmap="gray", vmin=0, vmax=1)
        shown = os.fsencode(os.path.basename(name)).decode("utf-8", "replace")   # any bytes
        ax_pic.set_title(f"your picture: {shown}", fontsize=9)
        ax_img.imshow(digit.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray", vmin=0, vmax=1)
        ax_img.set_title("what the network sees (28 x 28)", fontsize=9)
        vote = (g * digit).reshape(IMAGE_SIDE, IMAGE_SIDE)
        limit = np.abs(vote).max() or 1.0              # symmetric: white is exactly 0
        ax_why.imshow(vote, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax_why.set_title("ink for (red) or against (blue)", fontsize=9)
        for ax in (ax_pic, ax_img, ax_why):
            ax.axis("off")
        top = int(np.argmax(p))
        ax_bar.bar(range(NUM_CLASSES), p,
                   color=["tab:orange" if k == top else "tab:blue" for k in range(NUM_CLASSES)])
        ax_bar.set(xticks=range(NUM_CLASSES), ylim=(0, 1), xlabel="digit", ylabel="probability")
        ax_bar.set_title(f"probabilities: it reads {top} ({p[top]:.2f})", fontsize=9)
    fig.suptitle("each picture, the 28 x 28 input made from it, the ink that decided, and "
                 "the network's probabilities")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))   # room for the title
    save_figure(fig, path)


def show_plots_if_possible():
    """Open the figures in windows when there is a screen; on a server the PNGs are enough."""
    import matplotlib.pyplot as plt
    if plt.get_backend().lower() not in FILE_ONLY_BACKENDS:
        plt.show()


# %% [markdown]
# ## Beyond the core: seeing inside the network
# %%
# A unit of the first hidden layer computes  z_j = sum_i x_i W1[i, j] + b_j : the dot
# product of the image with the column W1[:, j]. That column has one weight per pixel,
# so it can be drawn as a 28 x 28 picture of its own: the "template" the unit matches.
def plot_first_layer_weights(W1, path, count=64, columns=8):
    """The incoming weights of `count` first-layer units as 28 x 28 tiles; W1 (D, n_1).
    Returns the units shown (count,): those with the largest norm ||W1[:, j]||, first.
    Every unit starts with about the same norm (He: 784 weights of variance 2 / 784, so a
    norm near sqrt(784 * 2 / 784) = sqrt(2) = 1.4), and training grows the weights a unit
    uses, so the largest norms are the units that learned the most (the smallest are often
    "dead" units, never active on any digit: no gradient ever reached them, and their
    weights are still the random start). Each tile is scaled to its own
    largest |w|, so a unit with small weights still shows its pattern: we ask WHAT each unit
    looks for, not how loudly. Red = positive, blue = negative, white = 0 in every tile."""
    import matplotlib.pyplot as plt
    count = min(count, W1.shape[1])
    units = np.argsort(np.linalg.norm(W1, axis=0))[::-1][:count]   # the largest first
    rows, side = -(-count // columns), IMAGE_SIDE + 1           # a 1-pixel gap per tile
    # One mosaic image and one imshow: 64 separate subplots would take 10x longer.
    # NaN marks the gaps; imshow paints NaN in the colour map's "bad" colour.
    mosaic = np.full((rows * side - 1, columns * side - 1), np.nan)
    for n, j in enumerate(units):
        tile = W1[:, j].reshape(IMAGE_SIDE, IMAGE_SIDE)
        r, c = side * (n // columns), side * (n % columns)
        mosaic[r:r + IMAGE_SIDE, c:c + IMAGE_SIDE] = tile / (np.abs(tile).max() or 1.0)  # -1..1
    # 2 x 2 screen pixels per weight (save_figure writes 100 pixels an inch): sharp
    # squares, and a small PNG (noise compresses badly; writing it is most of the time).
    height, width = 2 * np.array(mosaic.shape)                  # in pixels
    H, W = height + 120, width + 20                             # with margins for the text
    fig = plt.figure(figsize=(W / 100, H / 100))
    ax = fig.add_axes((10 / W, 85 / H, width / W, height / H))  # left, bottom, width, height
    ax.imshow(mosaic, cmap=plt.get_cmap("RdBu_r").with_extremes(bad="0.5"),   # gaps in gray
              vmin=-1, vmax=1)                                  # symmetric: white = 0
    ax.axis("off")
    fig.text(0.5, 1 - 8 / H, f"What {count} first-layer units look for",
             ha="center", va="top", fontsize=11)
    fig.text(0.5, 0.01, "Each tile: one unit's incoming weights, a template laid over the "
             "digit.\nInk on red pixels pushes the unit up, ink on blue pushes it down,\n"
             "white: no effect. Largest weights first; each tile has its own scale.\n"
             "Speckle: pixels that ink rarely reaches, still near their random start.",
             ha="center", fontsize=8.5)
    save_figure(fig, path)
    return units


# Saliency: WHY did it say 7? Ask how the score of class k would change if each pixel
# changed a little: the gradient dZ_L[k]/dx, one number per pixel, drawn as a picture.
# Backpropagation already computes gradients with respect to everything inside the
# network; we only have to start it at the right place and carry it one step further.
def input_gradient(params, x, k, activation=relu, activation_backward=relu_backward):
    """d(score of class k)/d(pixels) for ONE example: x (D,) -> (D,). The score is Z_L[k],
    before softmax. (The probability P[k] would be a poorer choice: once the network is sure,
    P[k] is 0.9999 and barely moves, so its gradient is nearly 0 everywhere, and it mixes in
    the other classes' scores.)"""
    X = x[None, :]                                              # (1, D): a batch of one row
    _, cache = forward_propagation(X, params, activation)
    # backward_propagation starts from dZ = dJ/dZ_L. Here "J" is the score Z_L[k]
    # itself, and dZ_L[k]/dZ_L[j] is 1 for j = k and 0 otherwise: the one-hot row e_k.
    dZ = one_hot(np.array([k]), params[f"b{len(params) // 2}"].shape[0], X.dtype)   # (1, K)
    grads = backward_propagation(params, cache, dZ, activation_backward)
    # It stops at dZ_1 (training needs no gradient for X), but it returns
    #   db_1 = dZ_1 summed over rows,  and with ONE row that sum is dZ_1 itself.
    # One more step of the chain rule through Z_1 = X W_1 + b_1, as for any layer:
    #   dX = dZ_1 @ W_1.T          (1, n_1) @ (n_1, D) -> (1, D)
    return grads["b1"] @ params["W1"].T                         # dZ_1's only row (n_1,) -> (D,)


def saliency_maps(params, X, classes, activation=relu, activation_backward=relu_backward):
    """input_gradient for each row: X (N, D), classes (N,) -> (N, D). One backward
    pass per row, since db_1 = dZ_1 holds only for a batch of one."""
    return np.stack([input_gradient(params, x, k, activation, activation_backward)
                     for x, k in zip(X, classes)])


def plot_saliency(X, y, predictions, probabilities, saliencies, path, count=8):
    """Digits X (N, D) above their saliency maps (N, D) from saliency_maps, up to half of them
    mistakes; with labels y, predictions (N,), probabilities (N, K). Returns the rows shown.
    Row 2 is the gradient g itself: where MORE ink would raise or lower the score.
    Row 3 is g * x, pixel by pixel. Why it is worth a row: a ReLU network is linear
    in x between the kinks of its ReLUs, so near this digit the score is exactly
        Z_L[k] = sum_i g_i x_i + (a constant: the biases of the units on for this digit)
    and g_i x_i is pixel i's vote: the ink that made it say k (red) or held it back (blue)."""
    import matplotlib.pyplot as plt
    wrong, right = np.flatnonzero(predictions != y), np.flatnonzero(predictions == y)
    shown = np.concatenate([wrong[:count // 2], right])[:count]   # mistakes first
    fig, axes = plt.subplots(3, len(shown), figsize=(1.9 * len(shown), 7.4), squeeze=False)
    for column, i in zip(axes.T, shown):
        digit, gradient = (a[i].reshape(IMAGE_SIDE, IMAGE_SIDE) for a in (X, saliencies))
        column[0].imshow(digit, cmap="gray_r", vmin=0, vmax=1)
        column[0].set_title(f"said {predictions[i]} (true {y[i]})",
                            color="red" if predictions[i] != y[i] else "black")
        top = np.argsort(probabilities[i])[::-1][:3]
        column[0].set_xlabel("  ".join(f"{k}:{probabilities[i, k]:.2f}" for k in top),
                             fontsize=8.5)
        for ax, picture in ((column[1], gradient), (column[2], gradient * digit)):
            limit = np.abs(picture).max() or 1.0    # symmetric: white is exactly 0
            ax.imshow(picture, cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.contour(digit, levels=[0.5], colors="k", linewidths=0.5)   # the ink's outline
        for ax, label in zip(column, ["digit\n(top 3 probabilities)", "gradient g",
                                      "ink x gradient"]):
            ax.set(xticks=[], yticks=[], ylabel=label if i == shown[0] else "")
    fig.suptitle("Why did it say that? How each pixel moves the score of the digit it said "
                 "(before softmax)", fontsize=12)
    fig.text(0.5, 0.01, "gradient: red = more ink here would raise that score, blue = lower "
             "it.   ink x gradient: the ink that voted for the answer (red) or against it "
             "(blue).   Black line: the digit's outline.", ha="center", fontsize=9.5)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    save_figure(fig, path)
    return shown


def explain_predictions(model, X, y, path, count=50):
    """--explain: saliency.png for validation digits X (N, D), mistakes first."""
    P = predict_probabilities(model, X)
    predictions = P.argmax(axis=1)
    rows = np.argsort(predictions == y, kind="stable")[:count]   # mistakes first: False < True
    S = saliency_maps(model["params"], X[rows], predictions[rows],
                      *ACTIVATIONS[model["activation"]])
    plot_saliency(X[rows], y[rows], predictions[rows], P[rows], S, path=path)


# %% [markdown]
# ## Beyond the core: toy problems in 2-D, where you can see the whole function
# %%
# With 2 inputs instead of 784, every point of the plane is a possible input, and we
# can colour each by the class the network gives it: the decision boundary.
def make_spiral(n_per_class, num_classes, rng, noise=0.2):
    """CS231n's spiral: X (N, 2) float32, y (N,) int, N = n_per_class * num_classes.
    Arm j: radius r from 0 to 1, angle t from 4j to 4(j + 1) radians (plus noise),
    point (r sin t, r cos t). No straight line separates two arms."""
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), num_classes)          # (N,)
    y = np.repeat(np.arange(num_classes), n_per_class)                    # (N,)
    t = 4.0 * y + 4.0 * r + rng.standard_normal(len(y)) * noise           # arm j starts at 4j
    return np.stack([r * np.sin(t), r * np.cos(t)], axis=1).astype(np.float32), y


def make_moons(n, rng, noise=0.15):
    """Two interleaved half-moons: X (n, 2) float32, y (n,) int, n // 2 zeros then ones. Upper
    moon (cos t, sin t), lower (1 - cos t, 1/2 - sin t), t in [0, pi], plus Gaussian noise,
    shifted by (-1/2, -1/4) to centre the data on 0, as the initialisation assumes."""
    y = (np.arange(n) >= n // 2).astype(int)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    X = np.where(y[:, None] == 0, upper, lower) - [0.5, 0.25]
    return (X + rng.normal(0.0, noise, X.shape)).astype(np.float32), y


def make_xor(n, rng, noise=0.02):
    """XOR in the plane: points uniform in [-1, 1]^2, class 1 where x1 x2 > 0 (the quadrants
    where the signs agree), then jittered by Gaussian noise of std `noise` (points near an
    axis may cross). X (n, 2) float32, y (n,) int. No straight line separates the classes."""
    X = rng.uniform(-1, 1, (n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return (X + rng.normal(0.0, noise, X.shape)).astype(np.float32), y


# Each makes (X, y) from an rng, with the sizes and noise the defaults below were tuned on.
TOY_DATASETS = {"spiral": lambda rng: make_spiral(200, 3, rng),
                "moons": lambda rng: make_moons(600, rng),
                "xor": lambda rng: make_xor(600, rng)}


def plot_decision_boundary(params, X, y, path, activation=relu, output=softmax,
                           title="decision boundary", resolution=200):
    """Colour the plane by the class the network gives each point (its argmax on a grid of
    resolution^2 points, one big batch); draw the data X (N, 2), y (N,) on top."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    num_classes = params[f"b{len(params) // 2}"].shape[0]
    low, high = X.min(axis=0), X.max(axis=0)
    low, high = low - 0.1 * (high - low), high + 0.1 * (high - low)     # a 10% margin
    x1, x2 = np.meshgrid(np.linspace(low[0], high[0], resolution),
                         np.linspace(low[1], high[1], resolution))     # (res, res) each
    grid = np.stack([x1.ravel(), x2.ravel()], axis=1).astype(X.dtype)  # (res^2, 2)
    P, _ = forward_propagation(grid, params, activation, output)       # (res^2, K)
    regions = P.argmax(axis=1).reshape(x1.shape)                       # row = x2, col = x1
    colours = dict(cmap=ListedColormap(plt.get_cmap("tab10").colors[:num_classes]),
                   vmin=-0.5, vmax=num_classes - 0.5)                  # class k: colour k
    # Equal scales on both axes (circles look round), so the figure takes the data's shape.
    fig, ax = plt.subplots(figsize=(6, 1.4 + 4.6 * (high[1] - low[1]) / (high[0] - low[0])))
    # origin="lower": row 0 of the grid is the smallest x2, so it goes at the bottom.
    ax.imshow(regions, origin="lower", extent=(low[0], high[0], low[1], high[1]), alpha=0.3,
              **colours)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=14, edgecolors="black", linewidths=0.4, **colours)
    ax.set(xlabel="x1", ylabel="x2", title=title)
    fig.text(0.5, 0.01, "background: the class the network gives each point of the plane\n"
             "dots: the data, coloured by their true class", ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: is training healthy? (dead units, step sizes, loss)
# %%
# Two numbers catch most sick training runs before the accuracy does:
# 1. Dead ReLU units. relu(z) = 0 and relu'(z) = 0 for z <= 0, so a unit whose z is negative
#    for EVERY input outputs 0 for every digit, and relu_backward multiplies its gradient by
#    (Z > 0) = 0: its own weights get no gradient. In layer 1 (its inputs are the fixed pixels)
#    that is for good; deeper, it may come back if the layers below change. A few percent is
#    normal; a big step that throws the weights far away can kill most of a layer at once.
# 2. The update-to-weight ratio ||delta W|| / ||W|| (||.|| = sqrt of sum of squares) of each
#    weight matrix: the size of one step relative to the size of the weights. CS231n
#    (Karpathy) suggests aiming near 1e-3: each step changes W by about a thousandth of
#    itself. Far above (1e-1) the steps overshoot and wreck what was learnt; far below (1e-6)
#    training barely moves. delta W must be the step the optimizer ACTUALLY took (W after - W
#    before): for plain SGD that is lr * dW, but Adam divides by sqrt(v_hat) and momentum
#    adds up old gradients, so lr * dW can be off by orders of magnitude.
def dead_relu_share(params, X_probe, activation=relu):
    """Share of units in each hidden layer (a list of L - 1 floats, layer 1 first) that output
    0 for every row of X_probe (N, D): a fixed set of training rows, say 1000. A unit silent
    on one batch of 64 may fire on the next; silent on all 1000, it is silent on (nearly) all
    digits, and so gets no gradient."""
    _, cache = forward_propagation(X_probe, params, activation)
    L = len(params) // 2
    # A_l (N, n_l): all(A_l == 0, axis=0) is True for a unit that is 0 on every row.
    return [float(np.mean(np.all(cache[f"A{l}"] == 0, axis=0))) for l in range(1, L)]


def health_monitor(optimizer, X_probe, activation=relu, every=10):
    """What --diagnose adds to training: (optimizer, on_epoch, records). Pass the first two to
    train (or gradient_descent); then health_warnings(records) says what looks wrong.
      optimizer   takes the given rule's steps, and measures one in `every` (10)
      on_epoch    appends a record per epoch; records[0] is the network before training
    A record: gradient_descent's stats for the epoch, plus
      dead_share        [per hidden layer]  dead_relu_share on X_probe (N, D)
      update_ratio      [per weight matrix] median ||delta W|| / ||W|| of the epoch's steps
                        (the mean would let one huge step hide the rest)
      update_ratio_max  [per weight matrix] the largest one: a single wild step shows here
      weight_norm       [per weight matrix] ||W_l|| now
      learning_rate     the epoch's largest (the schedule's factor included)
      probe_size, num_classes   N and K, for the sentences of health_warnings."""
    step_log, records, steps_taken = [], [], 0      # step_log: {"rate", "W1", ..} a step

    def check_up(epoch, params, stats):
        L = len(params) // 2
        keys = [f"W{l}" for l in range(1, L + 1)]
        ratios = np.array([[step[key] for key in keys] for step in step_log])   # (steps, L)
        if not step_log:                                # no step measured: nan, "not known"
            ratios = np.full((1, L), np.nan)
        records.append(dict(
            stats, dead_share=dead_relu_share(params, X_probe, activation),
            update_ratio=np.median(ratios, axis=0).tolist(),
            update_ratio_max=ratios.max(axis=0).tolist(),
            weight_norm=[float(np.linalg.norm(params[key].astype(np.float64))) for key in keys],
            learning_rate=max((step["rate"] for step in step_log), default=float("nan")),
            probe_size=len(X_probe), num_classes=params[keys[-1]].shape[1]))
        step_log.clear()                     # the next epoch's steps start afresh

    def optimizer_that_measures(params, grads, learning_rate, state):
        nonlocal steps_taken
        if not records:
            check_up(0, params, {"epoch": 0, "loss": float("nan"), "train_accuracy": float("nan")})
        steps_taken += 1
        # Measuring (a float64 copy of every weight, two norms) costs about a sixth of a
        # training step; once in `every` = 10 steps it adds about 2% to training.
        if (steps_taken - 1) % every:
            return optimizer(params, grads, learning_rate, state)
        # Weights only: the biases start at 0, where ||delta b|| / ||b|| is infinite.
        # float64 copies: in a run that blows up, squaring a float32 weight of 1e20
        # overflows float32 (largest 3e38), and the norms would read inf.
        before = {key: W.astype(np.float64) for key, W in params.items() if key.startswith("W")}
        optimizer(params, grads, learning_rate, state)           # updates params in place
        step = {"rate": learning_rate}
        for key, W in before.items():                            # delta W = W_after - W_before
            step[key] = float(np.linalg.norm(params[key] - W) / np.linalg.norm(W))
        step_log.append(step)
        return params
    return optimizer_that_measures, check_up, records


def health_warnings(records):
    """Plain-English sentences on what looks wrong in records (from health_monitor: epoch 0
    first, then one per epoch), causes first; [] means nothing looks wrong."""
    if len(records) < 2:                        # no epoch trained yet
        return []
    first, last, rate, warnings = records[0], records[-1], records[1]["learning_rate"], []
    worst, epoch, l = 0.0, 0, 0                 # the largest step: its ratio, epoch, layer
    for r in records[1:]:
        for layer, ratio in enumerate(r["update_ratio_max"], start=1):
            if ratio > worst:                   # (nan, an epoch with nothing measured, is not)
                worst, epoch, l = ratio, r["epoch"], layer
    peak = max((ratio for r in records[1:] for ratio in r["update_ratio"] if ratio >= 0),
               default=0.0)                     # the typical step of the liveliest epoch
    too_big = worst > 0.1                       # 10% of W in one step: 100x the 1e-3 rule
    if too_big:
        size = f"{worst:.0%} of" if worst < 1 else f"{worst:.3g} times"
        warnings.append(f"update/weight ratio {worst:.1e} in layer {l} (epoch {epoch}), far "
                        f"above the rule of thumb 1e-3: a single step changed W{l} by {size} "
                        f"its size. Steps this big overshoot: the learning rate {rate:g} is "
                        f"too high, try --lr {rate / 10:g}.")
        growth = np.array(last["weight_norm"]) / np.array(first["weight_norm"])
        l = int(np.argmax(growth))
        if growth[l] > 100:
            warnings.append(f"the weights blew up: ||W{l + 1}|| grew from "
                            f"{first['weight_norm'][l]:.3g} to {last['weight_norm'][l]:.3g}.")
    elif 0 < peak < 1e-4:                       # 10x below the band, even at its best
        warnings.append(f"update/weight ratio at most {peak:.0e}, far below 1e-3: learning far "
                        f"too slowly. Try a larger learning rate, --lr {rate * 1e-3 / peak:.2g} "
                        "(that would bring the ratio near 1e-3).")
    dead = [f"{share:.0%} in layer {l}" for l, share in enumerate(last["dead_share"], start=1)
            if share >= 0.25]                   # healthy runs here: at most 11%
    if dead:
        cause = ("killed by those big steps" if too_big else
                 f"the learning rate is probably too high, try --lr {rate / 10:g}")
        warnings.append(f"dead ReLU units: {', '.join(dead)} (0 on all {last['probe_size']} "
                        "probe examples, so no gradient reaches their weights: in layer 1 they "
                        f"cannot recover); {cause}.")
    # Weight matrices that no measured step of the last epoch changed at all, and since when:
    # the epoch after the last one in which any of them moved.
    frozen = [l for l, ratio in enumerate(last["update_ratio_max"], start=1) if ratio == 0]
    if frozen:
        moved = [i for i, r in enumerate(records) if i and any(
            r["update_ratio_max"][l - 1] > 0 for l in frozen)]
        warnings.append(f"from epoch {records[max(moved, default=0) + 1]['epoch']} on, the "
                        f"weights of layer(s) {', '.join(map(str, frozen))} did not move at all "
                        "(update/weight ratio exactly 0): dead units pass no gradient back to "
                        "them.")
    return warnings + loss_warnings(records)


def loss_warnings(records):
    """A sentence if the training loss sits at chance level or is not falling; else []."""
    if len(records) < 2:                        # no epoch trained yet
        return []
    # Answering 1/K for every class costs -log(1/K) = log K (2.30 for 10 digits).
    last, trained, warnings = records[-1], records[1], []      # trained: after epoch 1
    K = last["num_classes"]
    if (abs(last["loss"] - np.log(K)) < 0.1 * np.log(K)
            and last.get("train_accuracy", 1.0) < 1.5 / K):
        warnings.append(f"the loss is stuck at {last['loss']:.2f}, near log({K}) = "
                        f"{np.log(K):.2f}, the loss of answering 1/{K} for every class; train "
                        f"accuracy {last['train_accuracy']:.0%} is chance: nothing was learnt.")
    elif last["epoch"] > trained["epoch"] and last["loss"] > 0.9 * trained["loss"]:
        warnings.append(f"the loss is not falling: {trained['loss']:.3f} in epoch "
                        f"{trained['epoch']}, {last['loss']:.3f} in epoch {last['epoch']}.")
    return warnings


def print_health_report(records):
    """Print what health_warnings finds in records, or that nothing looks wrong."""
    warnings = health_warnings(records)
    print("training health: " + (f"{len(warnings)} warning(s)" if warnings else
                                 "nothing looks wrong (dead units, step sizes, loss)"))
    for sentence in warnings:
        print("  - " + sentence)


def plot_update_ratios(ax, trained):
    """On ax: per weight matrix, the median (line) and the largest (x) update/weight ratio
    of each epoch's measured steps, on a log axis, with CS231n's rule of thumb 1e-3."""
    epochs = np.array([r["epoch"] for r in trained])
    median, largest = (np.array([r[key] for r in trained])         # (epochs, L) each
                       for key in ("update_ratio", "update_ratio_max"))
    ax.axhspan(1e-4, 1e-2, color="green", alpha=0.1)
    ax.axhline(1e-3, color="green", linestyle="--",
               label="rule of thumb: about 1e-3 (band: 10x either way)")
    on_log_axis = [np.where(ratios > 0, ratios, np.nan) for ratios in (median, largest)]
    for l in range(median.shape[1]):
        line, = ax.plot(epochs, on_log_axis[0][:, l], marker=".", label=f"W{l + 1}")
        ax.plot(epochs, on_log_axis[1][:, l], "x", color=line.get_color())
        # Epochs in which no measured step moved W at all: triangles in a gray strip along
        # the bottom (x in epochs, y as a fraction of the axes), as a log axis has no 0.
        frozen = largest[:, l] == 0
        ax.plot(epochs[frozen], np.full(frozen.sum(), 0.03 + 0.035 * l), "v",
                color=line.get_color(), transform=ax.get_xaxis_transform())
    ax.plot([], [], "k.-", label="median step of the epoch")
    ax.plot([], [], "kx", label="largest step of the epoch")
    first_rate, last_rate = trained[0]["learning_rate"], trained[-1]["learning_rate"]
    scheduled = last_rate < first_rate / 10 and (largest[-1] > 0).all()   # small on purpose
    ax.set(yscale="log", ylabel="||delta W|| / ||W|| of one step",
           title="update / weight ratio (log scale)", xlabel="epoch" + (
               f"\nthe schedule lowers the learning rate from {first_rate:.2g}\nto "
               f"{last_rate:.2g}: the steps shrink on purpose" if scheduled else ""))
    if (largest == 0).any():
        lowest, top = largest[largest > 0].min(initial=1e-4), ax.get_ylim()[1]
        ax.set_ylim(lowest / 10, top)                   # a decade of room for the strip
        ax.set_yticks([t for t in ax.get_yticks() if lowest <= t <= top])   # none in it
        ax.fill_between([0, 1], 0, 0.13, transform=ax.transAxes, color="0.9", zorder=0,
                        label="gray strip: exactly 0, the weights did not move")
        ax.text(-0.01, 0.065, "0", transform=ax.transAxes, ha="right", va="center")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_training_health(records, path):
    """Three panels per epoch, from health records: the training loss, the share of dead
    ReLU units per hidden layer, and the update/weight ratio per weight matrix (log axis);
    under them, the sentences of health_warnings."""
    import textwrap
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    trained, last, K = records[1:], records[-1], records[-1]["num_classes"]
    text = "\n".join([textwrap.fill(f"- {w}", 160, subsequent_indent="  ")
                      for w in health_warnings(records)] or ["no warnings: nothing looks wrong"])
    height = 0.17 * (text.count("\n") + 1)                      # inches of text
    fig, (ax_loss, ax_dead, ax_ratio) = plt.subplots(1, 3, figsize=(15, 4.6 + height))
    ax_loss.plot([r["epoch"] for r in trained], [r["loss"] for r in trained], ".-", color="k")
    ax_loss.axhline(np.log(K), color="red", linestyle=":",
                    label=f"guessing 1/{K} for every class: log {K} = {np.log(K):.2f}")
    ax_loss.set(ylim=(0, None), xlabel="epoch", ylabel="training loss (mean over the epoch)",
                title="loss")
    for l in range(len(last["dead_share"])):                    # from epoch 0, before training
        ax_dead.plot([r["epoch"] for r in records], [100 * r["dead_share"][l] for r in records],
                     ".-", label=f"layer {l + 1}")
    ax_dead.axhline(25, color="red", linestyle=":", label="warning above 25%")
    ax_dead.set(ylim=(-3, 103), xlabel="epoch (0: before training)",
                ylabel=f"% of units 0 on all {last['probe_size']} probe examples",
                title="dead ReLU units")
    for ax in (ax_loss, ax_dead):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    plot_update_ratios(ax_ratio, trained)
    for ax in (ax_loss, ax_dead, ax_ratio):
        ax.set_xlim(-0.5, last["epoch"] + 0.5)                   # the same epochs in all 3
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))      # epochs are whole numbers
    fig.suptitle("Is training healthy?")
    fig.text(0.01, 0.01, text, fontsize=9, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, (height + 0.15) / (4.6 + height), 1, 1))
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: which learning rate? The learning-rate range test
# %%
# Smith ("Cyclical learning rates", 2015) and fast.ai's "lr finder": train for one
# epoch while the rate grows exponentially, step after step, from 1e-6 to 1:
#     rate(step) = min_rate * (max_rate / min_rate) ** (step / (total_steps - 1))
# so every decade (1e-5, 1e-4, ...) gets the same number of steps. At tiny rates the
# loss does not move; then it falls, faster and faster; past some rate the steps
# overshoot and the loss shoots up. One short run maps all three regions. The loss of
# one mini-batch is noisy, so we also smooth it (see smooth_losses).
def smooth_losses(losses, beta=0.9):
    """Exponential moving average with bias correction, as Adam's m_hat (len(losses) values):
    avg_t = beta avg_{t-1} + (1 - beta) loss_t, avg_0 = 0;  smoothed_t = avg_t / (1 - beta^t)."""
    # beta = 0.9 averages over about 1 / (1 - beta) = 10 steps: enough to tame the noise
    # of batches of 64, short enough to lag the rate by under half a decade (23 steps a
    # decade for 9000 digits). fast.ai's 0.98 would lag by 50 steps, two decades here.
    average, smoothed = 0.0, []
    for t, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** t))
    return smoothed


def lowest_smoothed_loss(smoothed, beta=0.9):
    """Index of the lowest smoothed loss, not counting the first 1 / (1 - beta) values: those
    average only a few batches (smoothed[0] is the first batch's loss itself), and one lucky
    batch there would otherwise pass for the minimum of the whole test."""
    skip = min(int(round(1 / (1 - beta))), len(smoothed) - 1)
    return skip + int(np.argmin(smoothed[skip:]))


def lr_range_test(params, X, y, batch_size, rng, min_rate=1e-6, max_rate=1.0, num_epochs=1,
                  blow_up=4.0, beta=0.9, **options):
    """The learning-rate range test: (rates, losses), two lists of equal length. Trains a COPY
    of params on X (N, D), y (N,) for num_epochs with gradient_descent, the rate growing from
    min_rate to max_rate, until the smoothed loss passes blow_up x its lowest. losses[i] is
    the loss of batch i, measured just before the step taken at rates[i] (as fast.ai pairs
    them). options: gradient_descent's (optimizer, activation, loss, ...; not schedule)."""
    params, growth, losses = {key: W.copy() for key, W in params.items()}, max_rate / min_rate, []
    loss, average, lowest = options.pop("loss", cross_entropy), 0.0, math.inf

    def exponential(step, total_steps):       # the factor gradient_descent multiplies by
        return growth ** (step / max(total_steps - 1, 1))

    def loss_that_records(P, y):   # smooth_losses, lowest_smoothed_loss: step by step
        nonlocal average, lowest
        value = loss(P, y)
        if np.isfinite(value):                # nan or inf: gradient_descent raises by itself
            losses.append(value)
            average = beta * average + (1 - beta) * value
            smoothed = average / (1 - beta ** len(losses))
            if len(losses) > round(1 / (1 - beta)):
                lowest = min(lowest, smoothed)
            if smoothed > blow_up * lowest:
                # The exception gradient_descent raises for a nan loss: it is the one way
                # to stop it mid-epoch, and one except below ends both cases.
                raise FloatingPointError(f"the smoothed loss passed {blow_up:g} x its minimum")
        return value
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            gradient_descent(params, X, y, num_epochs, batch_size, learning_rate=min_rate,
                             rng=rng, schedule=exponential, loss=loss_that_records, **options)
    except FloatingPointError:                # blew up: the losses so far are the answer
        pass
    total_steps = num_epochs * math.ceil(len(X) / batch_size)
    return [min_rate * exponential(step, total_steps) for step in range(len(losses))], losses


def suggest_learning_rate(rates, losses, beta=0.9):
    """The rate where the smoothed loss falls fastest (the most progress per step), looked for
    only in the decade below the rate of the lowest smoothed loss (from that rate / 10 up to
    it). Why only that decade: further left the curve is often flat, and the slope of a flat,
    noisy curve can look steep anywhere (on small data sets the plain steepest point was a
    noise blip at 1e-5 half the time). Why not simply a tenth of the minimum's rate, the
    other common rule: on the digits it was 3-4 times too cautious for SGD and momentum,
    whose loss turns up late."""
    smoothed = np.array(smooth_losses(losses, beta))
    lowest = lowest_smoothed_loss(smoothed, beta)
    # From the first rate >= rates[lowest] / 10, and past the first 1 / (1 - beta) values.
    first = max(int(round(1 / (1 - beta))), int(np.searchsorted(rates, rates[lowest] / 10)))
    if first >= lowest:                 # no decade of falling loss to search in
        return rates[lowest] / 10
    # slope[i] = d smoothed / d log10(rate): the change of the loss per decade of rate.
    slope = np.gradient(smoothed, np.log10(rates))
    return rates[first + int(np.argmin(slope[first:lowest + 1]))]


def plot_lr_finder(rates, losses, suggestion, path, beta=0.9):
    """Loss against learning rate (log axis) from lr_range_test: each batch's loss, the
    smoothed loss, its minimum, and the suggested rate (where it falls fastest)."""
    import matplotlib.pyplot as plt
    smoothed = smooth_losses(losses, beta)
    best = lowest_smoothed_loss(smoothed, beta)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.plot(rates, losses, color="silver", label="loss of each mini-batch")
    ax.plot(rates, smoothed, color="black",
            label=f"smoothed: running average of ~{1 / (1 - beta):.0f} batches (so it lags)")
    ax.plot(rates[best], smoothed[best], "o", color="orange",
            label=f"lowest smoothed loss, at {rates[best]:.2g}: past it, steps overshoot")
    ax.axvspan(rates[best] / 10, rates[best], color="orange", alpha=0.12,
               label="the decade below it, where the suggestion is looked for")
    ax.axvline(suggestion, color="red", linestyle="--",
               label=f"suggested rate {suggestion:.2g}: the loss falls fastest here")
    for x, side, words in [(0.02, "left", "too small:\nthe loss hardly moves"),
                           (0.98, "right", "too big:\nthe loss rises")]:
        ax.text(x, 0.95, words, transform=ax.transAxes, va="top", ha=side, fontsize=9,
                color="dimgray", backgroundcolor="white")
    # The first losses are the untrained network's: anything far above them is blow-up.
    ax.set(xscale="log", ylim=(0, 1.3 * max(smoothed[:5])), xlabel="learning rate (log scale)",
           ylabel="training loss", title="learning-rate range test: one epoch, the rate "
           "growing every step")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: draw a digit with the mouse
# %%
CANVAS_SIDE = 280               # drawing pixels: 10 per MNIST pixel, for smooth lines
PEN_RADIUS = CANVAS_SIDE / 24   # strokes 1/12 as wide: ~2 pixels once shrunk to 20
CLEAR_KEYS = ("c", " ", "backspace", "delete")   # " " is how matplotlib names the space bar
PREDICT_EVERY = 0.3   # seconds between predictions while drawing: each redraws the window


def stroke_to_canvas(canvas, start, end, radius):
    """A new canvas (rows, cols), ink 0..1, with a round pen's line from start to end, given
    as (x, y) = (column, row) as imshow reports the mouse. Pixel p's nearest point on the
    segment a -> b is a + t (b - a), t = clip((p - a) . (b - a) / |b - a|^2, 0, 1); ink where
    that distance <= radius, fading over the last pixel so edges are not jagged."""
    rows, cols = np.indices(canvas.shape)           # each pixel's p = (cols, rows)
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0                       # b - a
    # max(..., 1e-12): a click without a drag is a segment of length 0, a round dot.
    t = np.clip(((cols - x0) * dx + (rows - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
    distance = np.hypot(cols - (x0 + t * dx), rows - (y0 + t * dy))
    return np.maximum(canvas, np.clip(radius + 0.5 - distance, 0, 1))   # crossings stay dark


def check_can_draw():
    """Raise InputError, in one sentence, when matplotlib cannot open a window here."""
    import matplotlib.pyplot as plt
    backend = plt.get_backend().lower()     # resolves "auto": agg when no GUI toolkit or screen
    if backend in FILE_ONLY_BACKENDS or "inline" in backend:   # inline: Jupyter's pictures
        raise InputError(f"--draw needs a window, but matplotlib can only make pictures here "
                         f"(backend {backend!r}): run it on a computer with a screen, with a "
                         "GUI toolkit matplotlib can use such as tkinter (python3-tk on "
                         "Debian/Ubuntu), or in Jupyter after %matplotlib tk.")


class DrawingPad:
    """The --draw window: the canvas (0 paper, 1 ink), the pen, the artists showing them, and
    probabilities (K,), the latest answer. Events arrive in on_*, so tests need no screen."""

    def __init__(self, model, side=CANVAS_SIDE):
        import matplotlib.pyplot as plt
        from matplotlib.widgets import Button
        self.model, self.canvas = model, np.zeros((side, side))   # model: {"params", ...}
        self.pen_at, self.predicted_at = None, -np.inf   # (x, y) while down; time.monotonic()
        self.probabilities = np.zeros(NUM_CLASSES)       # zeros while the canvas is empty
        with plt.rc_context({"toolbar": "None"}):   # no zoom or pan mode to steal the drags
            self.fig = fig = plt.figure(num="draw a digit", figsize=(11, 4.6))
        # The window: canvas | the 28 x 28 input | ten bars, a verdict line, a clear button.
        self.ax_draw, ax_input, ax_bars = (fig.add_axes(box) for box in (
            [0.02, 0.12, 0.36, 0.74], [0.43, 0.28, 0.2, 0.44], [0.69, 0.12, 0.29, 0.74]))
        self.artists = dict(
            canvas=self.ax_draw.imshow(self.canvas, cmap="gray_r", vmin=0, vmax=1),  # dark ink
            input=ax_input.imshow(np.zeros((IMAGE_SIDE, IMAGE_SIDE)), cmap="gray", vmin=0,
                                  vmax=1, interpolation="nearest"),   # light, as in MNIST
            bars=ax_bars.bar(range(NUM_CLASSES), np.zeros(NUM_CLASSES)),
            status=fig.text(0.5, 0.93, "draw a digit", ha="center", fontsize=15),
            button=Button(fig.add_axes([0.02, 0.01, 0.08, 0.07]), "clear"))
        self.ax_draw.set(xticks=[], yticks=[], title="draw here (c or space clears)")
        ax_input.set(xticks=[], yticks=[], title="what the network sees\n(28 x 28, as --image)")
        ax_bars.set(ylim=(0, 1), xticks=range(NUM_CLASSES), xlabel="digit", ylabel="probability")
        # mpl_connect holds a bound method only weakly: with nothing else holding the pad, it
        # would be garbage-collected and the window dead. A lambda is held, and holds self.
        events = {"button_press_event": self.on_press, "motion_notify_event": self.on_motion,
                  "button_release_event": self.on_release, "key_press_event": self.on_key}
        for name, handle in events.items():
            fig.canvas.mpl_connect(name, lambda event, handle=handle: handle(event))
        self.artists["button"].on_clicked(lambda event: self.clear())

    def pen_position(self, event):
        """The event's (x, y) in canvas pixels, even off it: strokes go where the mouse went."""
        return tuple(self.ax_draw.transData.inverted().transform((event.x, event.y)))

    def move_pen(self, event):              # ink from the last pen position to the event's
        here = self.pen_position(event)
        self.canvas = stroke_to_canvas(self.canvas, self.pen_at, here, PEN_RADIUS)
        self.pen_at = here
        self.artists["canvas"].set_data(self.canvas)

    def on_press(self, event):              # left button on the canvas: a click leaves a dot
        if event.inaxes is self.ax_draw and event.button == 1:
            self.pen_at = self.pen_position(event)
            self.on_motion(event)

    def on_motion(self, event):             # ink; predict at most every PREDICT_EVERY s
        if self.pen_at is None:
            return
        self.move_pen(event)
        if time.monotonic() - self.predicted_at >= PREDICT_EVERY:
            self.predict()
        elif self.fig.canvas.supports_blit:
            # Blit: redraw just the (opaque) canvas, a few times faster than the whole window:
            # mouse events during a redraw merge into one, and a circle comes out a polygon.
            self.ax_draw.draw_artist(self.artists["canvas"])
            self.fig.canvas.blit(self.ax_draw.bbox)
        else:
            self.fig.canvas.draw_idle()

    def on_release(self, event):            # lift the pen; always predict the finished stroke
        if self.pen_at is not None:
            self.move_pen(event)
            self.pen_at = None
            self.predict()

    def on_key(self, event):
        if event.key in CLEAR_KEYS:
            self.clear()

    def clear(self):
        self.canvas, self.pen_at = np.zeros_like(self.canvas), None
        self.artists["canvas"].set_data(self.canvas)
        self.predict()

    def predict(self):
        """Preprocess the canvas exactly as --image does, run the network, show the answer."""
        self.predicted_at = time.monotonic()
        try:                                # the canvas holds ink; a picture, light (paper 1)
            digit = preprocess_digit_image(1 - self.canvas, "the drawing")
        except InputError:                  # a blank canvas: nothing to read yet
            digit, p, verdict = np.zeros(NUM_PIXELS), np.zeros(NUM_CLASSES), "draw a digit"
        else:
            p = predict_probabilities(self.model, digit)   # (K,) for one example (D,)
            k = int(np.argmax(p))
            verdict = (f"maybe a {k} ({p[k]:.0%}): this may not be a digit"
                       if p[k] < UNSURE_BELOW else f"it reads {k} ({p[k]:.0%})")
        self.artists["input"].set_data(digit.reshape(IMAGE_SIDE, IMAGE_SIDE))
        for k, bar in enumerate(self.artists["bars"]):
            bar.set(height=p[k], color="tab:orange" if p.any() and k == p.argmax() else "tab:blue")
        self.artists["status"].set_text(verdict)
        self.probabilities = p
        self.fig.canvas.draw_idle()


def draw_digits(model):
    """The --draw window; blocks until it is closed and returns the pad (canvas, answer)."""
    import matplotlib.pyplot as plt
    check_can_draw()
    pad = DrawingPad(model)
    print("draw a digit with the left mouse button; c or space clears; close the window to end.")
    plt.show()
    return pad


# %% [markdown]
# ## Command line: one table of flags
# %%
def number(kind, check, wanted):
    """An argparse type: text -> a finite number of that kind for which check holds."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and check(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value
    return parse


def count_at_least(low):
    return number(int, lambda v: v >= low, f"a whole number >= {low}")


positive_float = number(float, lambda v: v > 0, "a finite number > 0")
non_negative_float = number(float, lambda v: v >= 0, "a finite number >= 0")
dropout_rate = number(float, lambda v: 0 <= v < 1, "a probability in [0, 1)")
fraction_below_1 = number(float, lambda v: 0 <= v < 1, "a fraction from 0 up to (not including) 1")


def hidden_sizes(text):
    """'256,128' -> [256, 128]: positive whole numbers (an empty string: no hidden layer)."""
    try:
        return [count_at_least(1)(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive whole numbers separated "
                                         "by commas, like 256,128")


# A run does one thing, its mode: it trains on the digits unless a mode flag (--load, --toy,
# --find-lr, --compare-..., --check-gradients) asks for something else. FLAGS declares each
# flag once: the modes that take it, its default, what it needs, the pictures it adds, the
# files it names. From it come --help, the defaults, the input and output paths checked
# before any work, and the one refusal of a flag the mode would ignore. A flag named like a
# parameter of train() (--hidden, --epochs, --lr as learning_rate) reaches train() by that
# name. A new flag: a row, and its use.
def flag(names, modes, help, default=None, needs=None, pictures=(), file=None, measures=False,
         **options):
    """One row of FLAGS: names "--x" (or "--x --no-x": a switch and its opposite); modes: those
    that take it, space-separated; needs: (flag, value) it only works with (value None: any);
    file: "read" or "written" for a flag that names files; measures: on validation digits;
    options: argparse's (type, choices, metavar, dest, nargs)."""
    switch = not options.keys() & {"type", "choices", "metavar"}   # then it takes no value
    return dict(names=names.split(), modes=modes.split(), help=help, default=default,
                needs=needs, pictures=list(pictures), file=file, measures=measures,
                dest=options.get("dest", names.split()[0][2:].replace("-", "_")),
                options={"nargs": 0, **options} if switch else options)


# A mode is named by its flag (--toy: "toy"; --load: "load"); "train" has none.
COMPARE = "compare-architectures compare-learning-rates"
GIVE_DIGITS = "train find-lr " + COMPARE                  # the modes that read --csv
FIT = "train toy"                                         # the modes that train to keep
TRAINING = "train toy find-lr " + COMPARE                 # the modes that train at all
PICTURING = "train load toy find-lr " + COMPARE           # all but check-gradients
FLAGS = [
    flag("--load", "load", "use a saved network instead of training one, on --test-csv, "
         "--predict, --image or --draw", metavar="MODEL.npz", file="read"),
    flag("--toy", "toy", "train on 2-D points instead and draw the regions of each class (try "
         "--hidden \"\" too)", choices=list(TOY_DATASETS), pictures=["decision_boundary.png",
                                                                  "training_curves.png"]),
    flag("--find-lr", "find-lr", "learning-rate range test instead of training: one epoch, the "
         "rate growing from 1e-6 to 1, and a suggested --lr", pictures=["lr_finder.png"]),
    flag("--compare-architectures", "compare-architectures", "train a few network sizes "
         "briefly and compare them", pictures=["compare_architectures.png"], measures=True),
    flag("--compare-learning-rates", "compare-learning-rates", "train with a few learning "
         "rates briefly and compare them", pictures=["compare_learning_rates.png"],
         measures=True),
    flag("--check-gradients", "check-gradients", "check backward_propagation against central "
         "differences on a small network; exit status 0 if it passes, 1 if not"),
    flag("--csv", GIVE_DIGITS, "labelled training CSV (a header with 'label' and pixel0..pixel783"
         ", one image per row), or Kaggle's digit-recognizer.zip (default: train.csv beside this "
         "file)", metavar="PATH", file="read"),
    flag("--val-fraction", GIVE_DIGITS + " toy", "share of the data held out for validation; 0 "
         "trains on every row", 0.1, type=fraction_below_1),
    flag("--augment --no-augment", "train", "train on randomly rotated, scaled and shifted "
         "copies of the digits (the first 2/3 of the epochs)", True),
    flag("--hidden", "train toy find-lr compare-learning-rates", "hidden layer sizes, comma-"
         "separated (e.g. 256,128 or 64)", [256, 128], type=hidden_sizes),
    flag("--activation", FIT + " find-lr check-gradients", "hidden-layer activation", "relu",
         choices=list(ACTIVATIONS)),
    flag("--init", FIT + " find-lr", "weight initialisation; auto: he for relu, xavier "
         "otherwise", "auto", choices=["auto", "he", "xavier"]),
    flag("--head", FIT + " check-gradients", "output layer + loss: softmax+cross-entropy, "
         "sigmoid+binary cross-entropy, linear+squared or absolute error", "softmax",
         choices=list(HEADS)),
    flag("--epochs", FIT + " " + COMPARE, "passes over the training data (--toy: 100, "
         "--compare-...: 5)", 40, type=count_at_least(0)),
    flag("--batch-size", TRAINING, "examples per gradient step (--toy: 32)", 64,
         type=count_at_least(1)),
    flag("--optimizer", TRAINING, "update rule; see update_parameters", "adam",
         choices=list(DEFAULT_LEARNING_RATES)),
    flag("--lr", FIT + " " + COMPARE, "starting learning rate (--toy: 0.01); default per "
         "optimizer: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATES.items()),
         dest="learning_rate", metavar="RATE", type=positive_float),
    flag("--lr-schedule", FIT, "how the learning rate changes during training", "cosine",
         dest="schedule", choices=list(SCHEDULES)),
    flag("--lr-decay", FIT, "decay for --lr-schedule inverse: lr / (1 + decay * step)", 1e-3,
         needs=("--lr-schedule", "inverse"), type=non_negative_float),
    flag("--l1", FIT + " check-gradients", "L1 weight penalty", 0.0, type=non_negative_float),
    flag("--l2", FIT + " check-gradients", "L2 weight penalty", 0.0, type=non_negative_float),
    flag("--dropout", FIT + " check-gradients", "probability of dropping a hidden unit while "
         "training", 0.0, type=dropout_rate),
    flag("--patience", FIT, "early stopping: stop after this many epochs without a better "
         "validation score and keep the best epoch", type=count_at_least(1), measures=True),
    flag("--seed", TRAINING + " check-gradients", "random seed: same seed, same machine, same "
         "numbers", 0, type=count_at_least(0)),
    flag("--save", FIT, "save the trained network here", metavar="MODEL.npz", file="written"),
    flag("--test-csv", "train load", "labelled CSV to score: prints 'test accuracy'",
         metavar="PATH", pictures=["test_confusion_matrix.png"], file="read"),
    flag("--predict", "train load", "unlabelled Kaggle test CSV (pixel0..pixel783) to predict",
         metavar="TEST.csv", file="read"),
    flag("--out", "train load", "where --predict writes the submission (ImageId,Label)",
         "submission.csv", needs=("--predict", None), metavar="PATH", file="written"),
    flag("--image", "train load", "your own digit pictures (PNG, JPEG) to classify",
         metavar="PATH", nargs="+", pictures=["my_digits.png"], file="read"),
    flag("--draw", "train load", "open a window to draw digits with the mouse and watch the "
         "network read them (needs a screen)"),
    flag("--robustness", "train", "validation accuracy under Gaussian pixel noise",
         pictures=["robustness.png"], measures=True),
    flag("--explain", "train", "for a few validation digits, mistakes first, which pixels moved "
         "the score of the digit it said", pictures=["saliency.png"], measures=True),
    flag("--diagnose", FIT, "is training healthy? dead ReLU units and update/weight ratios per "
         "epoch and layer, with warnings", pictures=["training_health.png"]),
    flag("--no-plot", PICTURING, "no pictures (otherwise saved as PNG files, and shown on a "
         "screen)"),
    flag("--plot-dir", PICTURING, "folder for the PNG pictures", ".", metavar="DIR"),
]
FLAG_OF = {name: row for row in FLAGS for name in row["names"]}


class Once(argparse.Action):
    """Store a flag's value, and refuse it a second time: `--epochs 3 --epochs 5` is a
    slip, not a wish. A list (--image a.png --image b.png) adds up instead."""

    def __call__(self, parser, namespace, values, option_string=None):
        if self.nargs == 0:             # a switch: --draw; --augment and its opposite
            values = len(self.option_strings) == 1 or not option_string.startswith("--no-")
        # An untyped flag has no attribute at all (parse_args: argument_default=SUPPRESS).
        if hasattr(namespace, self.dest) and self.nargs == "+":
            values = getattr(namespace, self.dest) + values
        elif hasattr(namespace, self.dest):
            parser.error(f"{option_string} is given twice (or with its opposite); give it once")
        setattr(namespace, self.dest, values)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump), exit status 2, and names
    the nearest flag it knows (--epo, --epohcs: --epochs; a shortened flag may mean two)."""

    def error(self, message):
        import difflib
        unknown = message.split(": ", 1)[-1].split()[0] if "unrecognized" in message else ""
        near = [name for name in FLAG_OF if unknown and name.startswith(unknown)]
        near = near or difflib.get_close_matches(unknown, FLAG_OF, n=1, cutoff=0.75)
        hint = f" (did you mean {' or '.join(near)}?)" if unknown.startswith("--") and near else ""
        self.exit(2, f"{self.prog}: error: {message}{hint}; see --help.\n")


# %% [markdown]
# ## Command line: what each mode does
# %%
# Each mode is one function of args that reads top to bottom: inputs -> split and scale ->
# train -> report -> pictures; it returns (closing lines, the model or None). args holds the
# mode's flags, filled in by parse_args; args.picture(name), set by main, gives the path to
# draw a picture at and remembers it, so that "plots saved:" names only the pictures drawn.
SIGNALS_RECEIVED = []        # filled by stop_like_ctrl_c (in run); read by read_digits, main
PICTURES_SHOWN = 24          # rows of my_digits.png; more pictures are read, not drawn


def default_csv():
    """train.csv beside this file; in a notebook, which has no __file__, in the current folder."""
    return os.path.join(os.path.dirname(os.path.abspath(globals().get("__file__", "."))),
                        "train.csv")


def read_digits(path, labelled=True, flag="--csv"):
    """load_digits_csv, except that a Ctrl-C pandas swallowed still stops the run."""
    try:
        return load_digits_csv(path, labelled, flag)
    finally:           # pandas can turn a Ctrl-C into a "parse error": it was no such thing
        if SIGNALS_RECEIVED:
            raise KeyboardInterrupt


def split(args, X, y, rng):
    """split_train_val by --val-fraction, refusing a share that leaves a side empty."""
    n, n_val = len(y), int(round(len(y) * args.val_fraction))
    if args.val_fraction > 0 and not 1 <= n_val <= n - 1:
        if n < 2:
            raise InputError(f"the data has only {n} row(s), too few to hold some out for "
                             "validation and still train; use more rows (or --val-fraction 0).")
        digits = len(str(n)) + 1               # enough decimals that the two ends differ
        low = math.ceil(0.5 / n * 10**digits + 1e-9) / 10**digits     # rounds to 1 row
        high = math.floor((n - 0.5) / n * 10**digits - 1e-9) / 10**digits  # to n - 1 rows
        raise InputError(f"--val-fraction {args.val_fraction:g} of {n} rows holds out {n_val} "
                         f"for validation, leaving {n - n_val} to train; choose a fraction from "
                         f"{low:g} to {high:g} (or 0 to train on every row).")
    unmeasured = [name for name in args.given if FLAG_OF[name]["measures"]]
    if args.val_fraction == 0 and unmeasured:
        raise InputError(f"--val-fraction 0 holds nothing out, so {', '.join(unmeasured)} "
                         f"{'has' if len(unmeasured) == 1 else 'have'} nothing to measure on; "
                         "give --val-fraction 0.1, say.")
    return split_train_val(X, y, args.val_fraction, rng)


def read_uses(args):
    """What the network is used on, read and checked before any training: --test-csv's
    (X, y), --predict's (X, labels or None), and for each --image (the picture, shrunk, if
    my_digits.png shows it; its 28 x 28 digit)."""
    uses = {"test": None if args.test_csv is None else read_digits(args.test_csv, True,
                                                                   "--test-csv"),
            "to_predict": None if args.predict is None else read_digits(args.predict, False,
                                                                        "--predict"),
            "images": []}
    for i, path in enumerate(args.image or []):     # one at a time: only the digit is kept,
        gray = load_image_gray(path)                # and the picture if my_digits.png shows it
        uses["images"].append((shrink_for_speed(gray) if i < PICTURES_SHOWN else None,
                               preprocess_digit_image(gray, path)))
    return uses


def train_from_flags(args, X_train, y_train, X_val, y_val, *, rng, num_classes, what):
    """train() with the flags' choices and a line per epoch (no validation when y_val is empty
    or None); --diagnose's report. Returns (model, history, seconds)."""
    if y_val is None or len(y_val) == 0:
        X_val = y_val = None
    print(f"training a {'-'.join(map(str, [X_train.shape[1], *args.hidden, num_classes]))} "
          f"network on {len(y_train)} {what}, " + (f"validating on {len(y_val)}" if X_val is not
          None else "holding none out (--val-fraction 0): nothing to validate on"), flush=True)
    options = {name: getattr(args, name) for name in inspect.signature(train).parameters
               if hasattr(args, name)}                   # the flags named like train's options
    options.update(X_val=X_val, y_val=y_val, num_classes=num_classes, rng=rng, verbose=True)
    if args.schedule == "inverse":
        options["schedule"] = functools.partial(inverse_schedule, decay=args.lr_decay)
    if args.head != "softmax":              # the other heads learn one-hot rows
        y_train = one_hot(y_train, num_classes)
        options["y_val"] = None if y_val is None else one_hot(y_val, num_classes)
    if args.diagnose:                       # the update rule measures its steps as it goes
        options["optimizer"], options["on_epoch"], records = health_monitor(
            OPTIMIZERS[args.optimizer], X_train[:1000], ACTIVATIONS[args.activation][0])
    started = time.perf_counter()
    try:
        model, history = train(X_train, y_train, **options)
    except FloatingPointError as err:
        smaller = min(args.learning_rate / 10, DEFAULT_LEARNING_RATES[args.optimizer])
        raise InputError(f"training diverged ({err}); try a smaller learning rate, e.g. --lr "
                         f"{smaller:g}.")
    seconds = time.perf_counter() - started
    if args.diagnose:
        print_health_report(records)
        if not args.no_plot and len(records) > 1:
            plot_training_health(records, args.picture("training_health.png"))
    if args.save:
        save_model(args.save, model)
        print(f"model saved: {args.save}")
    return model, history, seconds


def train_digits(args):
    """The default run, the story of the file: data -> split and scale -> train -> accuracy
    on the validation digits -> the uses asked for -> pictures."""
    X, y = read_digits(args.csv)
    uses = read_uses(args)                   # a typo in the last flag fails now, not later
    rng = np.random.default_rng(args.seed)
    X_train, y_train, X_val, y_val = split(args, X, y, rng)
    X_train, X_val = scale_pixels(X_train), scale_pixels(X_val)     # 0..255 -> 0..1, once
    if (args.image or args.predict) and not args.save:
        print("note: no --load given, so a new network is trained first; add --save "
              "model.npz to keep it, and use --load model.npz next time.")
    model, history, seconds = train_from_flags(args, X_train, y_train, X_val, y_val, rng=rng,
                                               num_classes=NUM_CLASSES, what="digits")
    closing = [f"train seconds: {seconds:.2f}"]
    if len(y_val):             # every head learnt one-hot rows: the class is the top output
        val_predictions = predict_probabilities(model, X_val).argmax(axis=1)
        C = confusion_matrix(y_val, val_predictions)
        print("validation accuracy per digit: " + per_class_text(C))
        closing.insert(0, f"validation accuracy: {get_accuracy(val_predictions, y_val):.4f}")
    if args.robustness:
        sigmas = [0.0, 0.1, 0.2, 0.3, 0.5]
        accuracies = accuracy_under_noise(model, X_val, y_val, sigmas,
                                          np.random.default_rng(args.seed))
        print("noise sigma  validation accuracy")
        for sigma, accuracy in zip(sigmas, accuracies):
            print(f"{sigma:11.1f}  {accuracy:.4f}")
    use_network(args, model, uses)
    if not args.no_plot:
        if len(y_val):
            plot_sample_predictions(X_val, y_val, val_predictions, args.picture("predictions.png"))
            plot_confusion_matrix(C, args.picture("confusion_matrix.png"),
                                  "validation confusion matrix")
        augmented_until = int(AUGMENTED_SHARE * args.epochs) if args.augment else None
        plot_training_curves(history, args.picture("training_curves.png"), augmented_until)
        plot_first_layer_weights(model["params"]["W1"], args.picture("first_layer_weights.png"))
        if args.robustness:
            plot_lines(sigmas, accuracies, args.picture("robustness.png"),
                       xlabel="noise sigma (pixels in 0..1)", ylabel="validation accuracy",
                       title="accuracy under Gaussian pixel noise")
        if args.explain:
            explain_predictions(model, X_val, y_val, args.picture("saliency.png"))
    return closing, model


def use_saved_network(args):
    """--load: a network trained before, on --test-csv, --predict, --image or --draw."""
    if not (args.test_csv or args.predict or args.image or args.draw):
        raise InputError("--load needs something to use the network on: --test-csv "
                         "LABELLED.csv, --predict TEST.csv, --image PICTURE.png or --draw.")
    uses = read_uses(args)
    model = load_model(args.load)
    sizes = network_sizes(model["params"])
    if (sizes[0], sizes[-1]) != (NUM_PIXELS, NUM_CLASSES):
        raise InputError(f"{args.load} was built for other shapes ({describe(model)}); "
                         "digits need 784 pixel inputs and 10 outputs.")
    print(f"loaded {args.load}: a {describe(model)} network")
    use_network(args, model, uses)
    return [], model


def use_network(args, model, uses):
    """The uses of a network, trained or loaded: a test CSV, a Kaggle submission, pictures.
    Every head learnt one-hot rows, so the class is the top output."""
    if uses["test"]:
        X_test, y_test = uses["test"]
        predictions = predict_probabilities(model, scale_pixels(X_test)).argmax(axis=1)
        C = confusion_matrix(y_test, predictions)
        print("test accuracy per digit: " + per_class_text(C))
        print(f"test accuracy: {get_accuracy(predictions, y_test):.4f}")
        if not args.no_plot:
            plot_confusion_matrix(C, args.picture("test_confusion_matrix.png"),
                                  "test confusion matrix")
    if uses["to_predict"]:
        X_test, labels = uses["to_predict"]
        if labels is not None:
            print(f"note: {args.predict} has a 'label' column; it is ignored for predicting.")
        predictions = predict_probabilities(model, scale_pixels(X_test)).argmax(axis=1)
        write_submission(args.out, predictions)
        print(f"submission written: {args.out} ({len(predictions)} rows, ImageId,Label)")
    if uses["images"]:
        use_pictures(args, model, *zip(*uses["images"]))


def use_pictures(args, model, originals, digits):
    """--image: print each picture's reading, warn when unsure, draw my_digits.png."""
    probabilities = predict_probabilities(model, np.stack(digits))
    for path, p in zip(args.image, probabilities):
        unsure = p.max() < UNSURE_BELOW
        print(f"{path}: prediction {np.argmax(p)} (probability {p.max():.2f})"
              + ("  unsure: this may not be one clear digit" if unsure else "")
              + (" (see my_digits.png)" if unsure and not args.no_plot else ""))
    if not args.no_plot:
        n = min(len(digits), PICTURES_SHOWN)
        if n < len(digits):
            print(f"note: my_digits.png shows the first {n} of the {len(digits)} pictures.")
        S = saliency_maps(model["params"], np.stack(digits[:n]), probabilities[:n].argmax(axis=1),
                          *ACTIVATIONS[model["activation"]])
        plot_image_predictions(originals[:n], digits[:n], probabilities[:n], S, args.image[:n],
                               path=args.picture("my_digits.png"))


def train_toy(args):
    """--toy: 2-D points -> split -> the same train() -> accuracy -> the regions the
    network gives each class (decision_boundary.png)."""
    rng = np.random.default_rng(args.seed)
    X, y = TOY_DATASETS[args.toy](rng)
    X_train, y_train, X_val, y_val = split(args, X, y, rng)
    model, history, seconds = train_from_flags(args, X_train, y_train, X_val, y_val, rng=rng,
                                               num_classes=int(y.max()) + 1,
                                               what=f"{args.toy} points")
    closing = [f"train seconds: {seconds:.2f}"]
    title = f"{args.toy}, hidden layers: {','.join(map(str, args.hidden)) or 'none'}"
    if len(y_val):
        accuracy = get_accuracy(predict_probabilities(model, X_val).argmax(axis=1), y_val)
        closing.insert(0, f"validation accuracy: {accuracy:.4f}")
        title += f", validation accuracy {accuracy:.2f}"
    if not args.no_plot:
        plot_decision_boundary(model["params"], X, y, args.picture("decision_boundary.png"),
                               activation=ACTIVATIONS[args.activation][0],
                               output=HEADS[args.head][0], title=title)
        plot_training_curves(history, args.picture("training_curves.png"))
    return closing, None


def find_learning_rate(args):
    """--find-lr: the learning-rate range test on a new network; print the suggestion."""
    X, y = read_digits(args.csv)
    X_train, y_train, _, _ = split(args, X, y, np.random.default_rng(args.seed))
    rng = np.random.default_rng(args.seed)         # a fresh generator for the weights
    init = args.init if args.init != "auto" else ("he" if args.activation == "relu" else "xavier")
    params = initialize_parameters([NUM_PIXELS, *args.hidden, NUM_CLASSES], rng, init=init)
    rates, losses = lr_range_test(params, scale_pixels(X_train), y_train, args.batch_size, rng,
                                  optimizer=OPTIMIZERS[args.optimizer],
                                  **network_functions(args.activation))
    suggestion = suggest_learning_rate(rates, losses)
    print(f"learning-rate range test: {len(losses)} steps of {args.optimizer}, the rate "
          f"growing from {rates[0]:.0e} to {rates[-1]:.2g}")
    if not args.no_plot:
        plot_lr_finder(rates, losses, suggestion, args.picture("lr_finder.png"))
    return [f"suggested learning rate: {suggestion:.2g} (where the smoothed loss falls "
            "fastest, in the decade below its lowest point; Smith 2015)"], None


def compare_settings(args):
    """--compare-architectures or --compare-learning-rates: train each setting from scratch
    (no augmentation), print validation accuracy and seconds; nan if it diverged."""
    X, y = read_digits(args.csv)
    X_train, y_train, X_val, y_val = split(args, X, y, np.random.default_rng(args.seed))
    X_train, X_val = scale_pixels(X_train), scale_pixels(X_val)
    sizes = args.mode == "compare-architectures"
    name = "hidden layers" if sizes else "learning rate"
    settings = ([[32], [128], [256, 128], [512, 256], [256, 128, 64]] if sizes else
                [args.learning_rate * f for f in (0.1, 0.3, 1, 3, 10)])
    labels = [",".join(map(str, s)) if sizes else f"{s:g}" for s in settings]
    print(f"{name:>16}  validation accuracy  seconds   ({args.epochs} epochs, {args.optimizer})")
    accuracies = []
    for label, setting in zip(labels, settings):
        started = time.perf_counter()
        try:
            model, _ = train(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                             optimizer=args.optimizer, rng=np.random.default_rng(args.seed),
                             hidden=setting if sizes else args.hidden,
                             learning_rate=args.learning_rate if sizes else setting)
            accuracies.append(get_accuracy(predict(model, X_val), y_val))
        except FloatingPointError:
            accuracies.append(float("nan"))
        if SIGNALS_RECEIVED:     # Ctrl-C: train() kept a half-trained network; no row for it
            accuracies.pop()
            break
        print(f"{label:>16}  {accuracies[-1]:19.4f}  {time.perf_counter() - started:7.2f}",
              flush=True)
    if not args.no_plot and accuracies:
        plot_lines((labels if sizes else settings)[:len(accuracies)], accuracies,
                   args.picture(args.mode.replace("-", "_") + ".png"), xlabel=name,
                   ylabel="validation accuracy", title=f"{name} after {args.epochs} epochs",
                   log_x=not sizes)
    return [], None


CHECK_FAILED = "gradient check FAILED"     # this closing line makes the exit status 1


def check_gradients(args):
    """--check-gradients: print the relative error per parameter; status 0 if all pass."""
    errors = check_gradients_of_small_network(args.activation, args.head, dropout=args.dropout,
                                              l1=args.l1, l2=args.l2, seed=args.seed)
    print(f"gradient check: {args.activation} hidden layers, {args.head} output, "
          f"dropout {args.dropout:g}, l1 {args.l1:g}, l2 {args.l2:g}; float64, eps 1e-6")
    for key, error in errors.items():
        print(f"{key:>4}: relative error {error:.1e}  "
              f"{'ok' if error < 1e-6 else 'WRONG (should be below 1e-6)'}")
    if max(errors.values()) < 1e-6:
        return ["gradient check passed"], None
    return [CHECK_FAILED + ": backward_propagation disagrees with the loss it should "
            "differentiate"], None


# Each mode: the function that runs it, what a refusal calls it, and its own defaults.
# Its pictures are those of its flag's row (training, which has no flag, draws these):
TRAINING_PICTURES = ["predictions.png", "confusion_matrix.png", "training_curves.png",
                     "first_layer_weights.png"]
THROW_AWAY = "which trains throw-away networks,"
MODES = {
    "train": dict(run=train_digits, what="training on the digits", defaults={}),
    "load": dict(run=use_saved_network, what="--load, which uses a network trained before,",
                 defaults={}),
    # With 2-D points an epoch of 540 is 17 steps of 32: more epochs, and larger steps
    # (Adam moves each weight by about the learning rate a step), take it where it must go.
    "toy": dict(run=train_toy, what="--toy, which trains on 2-D points,",
                defaults={"epochs": 100, "batch_size": 32, "learning_rate": 0.01}),
    "find-lr": dict(run=find_learning_rate, what="--find-lr, " + THROW_AWAY, defaults={}),
    "compare-architectures": dict(run=compare_settings, what="--compare-architectures, "
                                  + THROW_AWAY, defaults={"epochs": 5}),
    "compare-learning-rates": dict(run=compare_settings, what="--compare-learning-rates, "
                                   + THROW_AWAY, defaults={"epochs": 5}),
    "check-gradients": dict(run=check_gradients, what="--check-gradients, which checks a "
                            "small network,", defaults={}),
}

# %% [markdown]
# ## Command line: from the flags to a run
# %%
EXAMPLES = """examples:
  python nn_from_scratch.py                       train on train.csv, validate, plot
  python nn_from_scratch.py --save model.npz      ... and keep the network
  python nn_from_scratch.py --load model.npz --image my7.jpg my3.png
                                                  read your own photos
  python nn_from_scratch.py --load model.npz --draw   draw digits with the mouse
  python nn_from_scratch.py --csv digit-recognizer.zip --val-fraction 0 --save final.npz
  python nn_from_scratch.py --load final.npz --predict digit-recognizer.zip
                                                  Kaggle: train on every row, submit
  python nn_from_scratch.py --check-gradients     is backpropagation right?
  python nn_from_scratch.py --diagnose --explain  is training healthy? why did it say 7?
  python nn_from_scratch.py --toy spiral          2-D points and their decision boundary
  jupytext --to notebook nn_from_scratch.py       the same file as a notebook
"""


def help_epilog():
    """The examples, what each mode takes and the files a run writes: made from FLAGS and
    MODES, so it cannot fall behind them."""
    import textwrap
    fill = functools.partial(textwrap.fill, width=88, break_on_hyphens=False)
    takes = [fill(f"  --{mode} takes " + " ".join(row["names"][0] for row in FLAGS if mode in
                                                  row["modes"] and row["names"][0] != f"--{mode}"),
                  subsequent_indent="      ") for mode in MODES if mode != "train"]
    pictures = "; ".join(f"{row['names'][0]} {', '.join(row['pictures'])}" for row in FLAGS
                         if row["pictures"])
    written = (f"files written: training writes {', '.join(TRAINING_PICTURES)} (the first two "
               f"when it validates) into --plot-dir (none with --no-plot), and {pictures}; "
               "--save writes the model, --predict "
               "writes --out. Nothing else is written, and no input is ever overwritten.")
    return "\n".join([EXAMPLES, "a run trains on the digits unless a mode flag says otherwise; "
                      "the modes take:", *takes, "", fill(written)])


def parse_args(argv=None):
    """The command line -> args: the flags of its mode, filled in (the mode's own defaults
    first), args.mode and args.given (the flags typed). Raises InputError for a flag the mode
    would ignore, two modes at once, or a flag without the one it needs."""
    # Flags not typed stay out of the parse (argument_default=SUPPRESS): what the user typed
    # is then known exactly, not guessed by comparing values with the defaults.
    parser = OneLineErrorParser(
        description="Train a multilayer perceptron on handwritten digits, from scratch in "
        "NumPy.", argument_default=argparse.SUPPRESS, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=help_epilog())
    for row in FLAGS:
        default = row["default"]
        shown = "" if default is None else " (default: on)" if default is True else (
            f" (default: {','.join(map(str, default)) if isinstance(default, list) else default})")
        parser.add_argument(*row["names"], action=Once, help=row["help"] + shown, **row["options"])
    typed = vars(parser.parse_args(argv))
    # The flags typed; of --augment and --no-augment, the one whose value was typed.
    given = [name for name, row in FLAG_OF.items() if row["dest"] in typed and
             (len(row["names"]) == 1 or name.startswith("--no-") != typed[row["dest"]])]
    modes = [name for name in given if name[2:] in MODES]
    if len(modes) > 1:
        raise InputError(f"{' and '.join(modes)} are two different runs; give one of them.")
    mode = modes[0][2:] if modes else "train"
    ignored = [name for name in given if mode not in FLAG_OF[name]["modes"]]
    if ignored:
        it, them, own = ("it", "it", "its") if len(ignored) == 1 else ("they", "them", "their")
        raise InputError(f"{MODES[mode]['what']} does not use {', '.join(ignored)}: {it} "
                         f"would change nothing, so drop {them} (or run {them} on {own} own).")
    # args holds the flags of this mode only: using any other is a bug that shows at once.
    args = argparse.Namespace(**{row["dest"]: row["default"] for row in FLAGS
                                 if mode in row["modes"]})
    vars(args).update(MODES[mode]["defaults"], **typed, mode=mode, given=given)
    if "csv" in vars(args) and args.csv is None:    # defaults that depend on the machine
        args.csv = default_csv()
    if "learning_rate" in vars(args) and args.learning_rate is None:     # or on another flag
        args.learning_rate = DEFAULT_LEARNING_RATES[args.optimizer]
    for row in FLAGS:              # --out needs --predict; --lr-decay, --lr-schedule inverse
        if not row["needs"] or row["dest"] not in vars(args):
            continue
        need, value = row["needs"]                  # value None: any value will do
        met = need in given if value is None else getattr(args, FLAG_OF[need]["dest"]) == value
        if not met and row["names"][0] in given:
            raise InputError(f"{row['names'][0]} only works with {need}"
                             f"{'' if value is None else ' ' + value}; add that, or drop it.")
        if not met:                                 # not typed: its default does not apply
            setattr(args, row["dest"], None)
    return args


def planned_outputs(args):
    """Every file this run may write: --save, --out, and the pictures of its mode and flags."""
    outputs = [vars(args)[row["dest"]] for row in FLAGS
               if row["file"] == "written" and vars(args).get(row["dest"]) is not None]
    if vars(args).get("no_plot", True):           # --no-plot, or a mode that draws nothing
        return outputs
    names = (TRAINING_PICTURES if args.mode == "train" else []) + [
        picture for name in args.given for picture in FLAG_OF[name]["pictures"]]
    return outputs + [os.path.join(args.plot_dir, name) for name in dict.fromkeys(names)]


def input_paths(args):
    """Every file this run reads."""
    values = [vars(args).get(row["dest"]) for row in FLAGS if row["file"] == "read"]
    return [p for value in values for p in (value if isinstance(value, list) else [value]) if p]


def main(args):
    """Check every output path, run the mode, then name the pictures saved (only those),
    show them on a screen, print the closing lines, and open --draw. Returns the status."""
    draw = vars(args).get("draw")
    if draw:
        check_can_draw()           # no screen: say so now, not after a minute of training
    if "hidden" in vars(args):     # too big for this machine: say so now, not as a MemoryError
        check_fits_in_memory([2 if args.mode == "toy" else NUM_PIXELS, *args.hidden,
                              NUM_CLASSES], args.batch_size)
    check_writable(planned_outputs(args), input_paths(args))
    drawn = []

    def picture(name):                              # where to draw it; and it was drawn
        drawn.append(os.path.join(args.plot_dir, name))
        return drawn[-1]
    args.picture = picture
    closing, model = MODES[args.mode]["run"](args)
    if drawn:
        print("plots saved: " + ", ".join(drawn))
        if not draw:                                # the drawing window shows them too
            show_plots_if_possible()
    for line in closing:
        print(line)
    if draw and model is not None:
        draw_digits(model)
    if any(line.startswith(CHECK_FAILED) for line in closing):
        return 1
    return 130 if SIGNALS_RECEIVED else 0           # 130: the usual status after Ctrl-C


class OutputThatMayGoAway:
    """Standard output that, once its reader has gone (`| head -1`) or its disk is full,
    drops what is printed instead of stopping the program: training and saving go on."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def write(self, text):
        self.unless_gone(self.stream.write, text)
        return len(text)

    def flush(self):
        self.unless_gone(self.stream.flush)

    def unless_gone(self, action, *arguments):
        try:
            if not self.gone:
                action(*arguments)
        except OSError:                      # BrokenPipeError, or no space left on device
            self.gone = True                 # and send what Python flushes at exit nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())

    def __getattr__(self, name):
        return getattr(self.stream, name)


def stop_like_ctrl_c(signum, frame):
    """SIGINT (Ctrl-C), SIGTERM (kill, timeout, a job scheduler) and SIGHUP (the terminal
    closed): stop the same way, keeping what training has learnt so far."""
    SIGNALS_RECEIVED.append(signum)
    raise KeyboardInterrupt


def run(argv=None):
    """Entry point: flags -> main; input errors become one line on stderr and exit status 2."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MPLBACKEND", "Agg")   # no screen (a server, CI): files only
    for stream in (sys.stdout, sys.stderr):        # a file name that is not UTF-8 still prints
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if not isinstance(sys.stdout, OutputThatMayGoAway) and hasattr(sys.stdout, "fileno"):
        sys.stdout = OutputThatMayGoAway(sys.stdout)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):   # SIGHUP does not exist on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop_like_ctrl_c)
    SIGNALS_RECEIVED.extend(globals().get("early_signals", []))   # Ctrl-C while loading
    try:
        args = parse_args(argv)
        if SIGNALS_RECEIVED:
            raise KeyboardInterrupt
        status = main(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("aborted.", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)

# %% [markdown]
# ## Run it
# From a shell, `python nn_from_scratch.py` runs the command line here and ends. In a
# notebook this cell does nothing, and the cells below tell the story step by step.
# %%
if __name__ == "__main__" and not IN_NOTEBOOK:
    run()

# %% [markdown]
# ## In a notebook: the story, one cell at a time
# (Jupyter, or VS Code's "Run Cell"; see the README.) The data: a digit and its label.
# %%
if IN_NOTEBOOK:
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    X, y = load_digits_csv("train.csv")                    # X (10000, 784) uint8, y (10000,)
    X_train, y_train, X_val, y_val = split_train_val(X, y, 0.1, rng)
    X_train, X_val = scale_pixels(X_train), scale_pixels(X_val)    # 0..255 -> 0..1
    plt.figure(figsize=(2, 2))
    plt.imshow(X_train[0].reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r")
    plt.title(f"label: {y_train[0]}")
    plt.axis("off")
    plt.show()

# %% [markdown]
# One forward pass through an untrained network, with the shape of everything it made.
# %%
if IN_NOTEBOOK:
    params = initialize_parameters([NUM_PIXELS, 256, 128, NUM_CLASSES], rng)
    P, cache = forward_propagation(X_train[:64], params)   # a mini-batch of N = 64
    for name, array in {**params, **cache}.items():
        print(f"{name:>3} {array.shape}")
    print(f"  P {P.shape}: each row sums to 1, e.g. {P[0].sum():.4f}")

# %% [markdown]
# Before any training every digit looks equally likely, about 1/10 each, so the loss
# starts near -log(1/10) = log(10) = 2.30.
# %%
if IN_NOTEBOOK:
    print(f"loss before training: {cross_entropy(P, y_train[:64]):.3f} "
          f"(log(10) = {np.log(10):.3f})")

# %% [markdown]
# Training: train() calls initialize_parameters and gradient_descent, and returns the
# model and one dict of figures per epoch (10 epochs here; the command line runs 40).
# %%
if IN_NOTEBOOK:
    model, history = train(X_train, y_train, X_val=X_val, y_val=y_val, hidden=[256, 128],
                           epochs=10, rng=rng, verbose=True)
    plot_training_curves(history, None)

# %% [markdown]
# The mistakes: validation digits the network got wrong come first, in red.
# %%
if IN_NOTEBOOK:
    predictions = predict(model, X_val)
    print(f"validation accuracy: {get_accuracy(predictions, y_val):.4f}")
    plot_sample_predictions(X_val, y_val, predictions, None)
