"""A neural network from scratch: an MLP that reads handwritten digits, in NumPy.

Run it:   python nn_from_scratch.py        (trains, validates, plots; --help lists the flags)

The data is a Kaggle-style CSV: a header `label,pixel0,...,pixel783`, then one image per
row: the digit (0-9) and its 28 x 28 = 784 gray levels (0-255), row by row.

FIRST READING. The story is  data -> initialise -> forward -> loss -> backward -> update ->
accuracy, and the first five cells tell it:
    1. split_train_val, scale_pixels, one_hot, load_digits_csv     the data, as arrays
    2. relu, relu_backward, softmax, cross_entropy,                the building blocks
       cross_entropy_backward
    3. initialize_parameters, forward_propagation,                 the model
       backward_propagation, update_parameters, update_parameters_with_adam
    4. gradient_descent, get_predictions, get_accuracy             the training loop
    5. gradient_check                                              is the gradient right?
Put together, in Python:
    rng = np.random.default_rng(0)
    X, y = load_digits_csv("train.csv")                        # X (N, 784), y (N,)
    X_train, y_train, X_val, y_val = split_train_val(X, y, 0.1, rng)
    params = initialize_parameters([784, 256, 128, 10], rng)
    history = gradient_descent(params, scale_pixels(X_train), y_train, 10, 64, 0.002, rng)
    print(get_accuracy(get_predictions(params, scale_pixels(X_val)), y_val))   # ~0.97
`train_digits`, near the end, is the same story with the extras the command line adds (a
cosine learning-rate schedule, augmentation; gradient_descent alone keeps the rate constant).
Cells marked "Beyond the core" are opt-in: skip them at first. In a notebook, the last
cells tell the story one step at a time.

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
  Nielsen (neuralnetworksanddeeplearning.com): one example per COLUMN vector, w of shape
      (n_l, n_{l-1}) as Ng's; his cost C is our J, his delta^l = dC/dz^l our dZ_l, his eta
      our learning_rate. He sums the batch's gradients and divides by its size in the update;
      ours has the 1/N in dZ_L. His L2 term (lambda / 2n) sum w^2 averages over the WHOLE
      training set (n rows): our l2 = lambda / n. His dropout halves the weights at test
      time; ours is inverted (survivors scaled by 1 / (1 - dropout) while training).
  CS231n: our layout (X (N, D), W1 (D, H) for H hidden units, scores = X W + b); L = our J.
      Its momentum puts the rate inside: v = mu v - lr dW; W += v. Ours is Ng's (see
      update_parameters_with_momentum); PyTorch's is a third: v = mu v + dW; W -= lr v.
  PyTorch: data is batch-first like ours, but nn.Linear stores its weight as
      (out, in) = our W.T and computes x @ weight.T + bias. Its CrossEntropyLoss
      takes the scores Z_L and applies softmax itself; our cross_entropy takes P.
  Kingma and Ba (Adam): m, v, m_hat, v_hat and t exactly as in their Algorithm 1.

Every function takes what it needs as arguments and returns what it makes (no global variables,
only constants; randomness comes through an `rng`), so you can copy any one out with what it
names; options are functions with their default in the signature (activation=relu).
"""
import argparse
import io
import math
import os
import signal
import sys
import tempfile
import time
import zipfile

# Jupyter and VS Code run the file as __main__ too, in a kernel (no __file__, or the kernel's
# argv): then the story cells at the end run, not the command line.
IN_NOTEBOOK = __name__ == "__main__" and ("__file__" not in globals() or
                                          os.path.basename(sys.argv[0]).startswith("ipykernel"))
if __name__ == "__main__" and not IN_NOTEBOOK:   # one BLAS thread, set before NumPy loads:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small products gain little from two

import numpy as np
import pandas as pd

IMAGE_SIDE = 28                        # the images are 28 x 28 pixels
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE   # D = 784
NUM_CLASSES = 10                       # K = 10 digits


# %% [markdown]
# ## 1. Data: split, scale, one-hot, and reading the CSV
# %%
class InputError(ValueError):
    """A problem with the user's input, worded as one sentence that says how to fix it."""


# load_digits_csv (at the end of this cell) gives X (N, 784), gray levels 0..255, and y (N,).
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
    digits) is plenty for training, and twice as fast as float64 in the products.
    """
    scaled = X.astype(dtype)        # a new float array; the caller's X is left alone
    scaled /= 255                   # in place: for MNIST's full 60,000 rows a copy is 190 MB
    return scaled


def one_hot(y, num_classes, dtype=np.float32):
    """Labels (N,) -> one-hot Y (N, K): Y[i, y[i]] = 1, every other entry 0.

    num_classes is explicit: a mini-batch without a 9 still needs 10 columns.
    """
    Y = np.zeros((len(y), num_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y


# Reading the CSV is mostly pandas' work, and the checks that make a bad file one sentence:
# skip these two functions on a first reading.
def read_table(path, labelled=True):
    """A CSV of digits as a pandas DataFrame, parsed by pandas: any delimiter, quotes, a
    byte-order mark, a .gz file, or Kaggle's digit-recognizer.zip (its train.csv, or its
    test.csv when labelled=False). Whole gray levels come as bytes, anything else as float32."""
    source = path
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            wanted = "train.csv" if labelled else "test.csv"
            csvs = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            members = [n for n in csvs if os.path.basename(n).lower() == wanted] or csvs
            if len(members) != 1:
                raise InputError(f"{path} holds {', '.join(csvs) or 'no CSV'}, not one {wanted};"
                                 " unzip it and pass the CSV you mean.")
            source = io.BytesIO(archive.read(members[0]))
    try:
        # The header line alone (split on a character no CSV holds) tells the delimiter:
        # whichever of , ; tab | it holds most; none of them means spaces.
        header = str(pd.read_csv(source, header=None, nrows=1, sep="\x07", quoting=3,
                                 encoding="utf-8-sig").iat[0, 0])
        sep = max([",", ";", "\t", "|"], key=header.count)

        def read(dtype):                       # from the start (a zip's CSV is one stream),
            if hasattr(source, "seek"):        # 10,000 rows at a time: at once, pandas holds
                source.seek(0)                 # the text of every row (500 MB for 60,000)
            return pd.concat(pd.read_csv(source, sep=sep if sep in header else r"\s+",
                                         dtype=dtype, encoding="utf-8-sig",
                                         skipinitialspace=True, chunksize=10_000))
        try:
            return read(np.uint8)              # whole gray levels: a byte a cell, 4x less memory
        except ValueError:                     # a fraction, a blank, 300, 'abc': read floats,
            return read(np.float32)            # and load_digits_csv names the cell
    except (ValueError, EOFError) as err:      # pandas' reason: a bad row, not a number..
        reason = str(err).strip().splitlines()[-1]
        raise InputError(f"{path} is not a readable table ({reason}); save it as a CSV with "
                         "the header label,pixel0,...,pixel783.") from None


def load_digits_csv(path, labelled=True):
    """Read a table of digits, one image per row: X (N, 784) uint8 0..255, y (N,) or None.

    The label is the column named "label", in any case and any position; the pixels are the
    784 other columns, in the order of their numbers when named pixel0..pixel783. Kaggle's
    test.csv has no label column: pass labelled=False, and y is None.
    """
    frame = read_table(path, labelled)
    names = [str(name).strip().lower() for name in frame.columns]
    label = [i for i, name in enumerate(names) if name == "label"]
    pixels = [i for i in range(len(names)) if i not in label]
    if len(label) > 1 or (labelled and not label) or len(pixels) != NUM_PIXELS:
        raise InputError(f"{path} has {len(label)} column(s) named label and {len(pixels)} "
                         "others, but needs one label (none in Kaggle's test.csv) and 784 "
                         "pixels: its first line should read label,pixel0,...,pixel783.")
    numbers = [int(names[p][5:]) if names[p][5:].isdigit() else -1 for p in pixels]
    if sorted(numbers) == list(range(NUM_PIXELS)):     # named pixel0..pixel783: by number
        pixels = [pixels[i] for i in np.argsort(numbers)]
    data = frame.to_numpy()                                # uint8, or float32
    if not (data.min() >= 0 and data.max() <= 255):       # a blank cell, nan, fails both
        row, col = np.argwhere(~((data >= 0) & (data <= 255)))[0]
        raise InputError(f"{path} row {row + 2}, column {frame.columns[col]!r} holds "
                         f"{data[row, col]:g}; every cell must be a number from 0 to 255.")
    X, y = data[:, pixels], (data[:, label[0]] if label else None)
    if y is not None and np.any((y != np.round(y)) | (y >= NUM_CLASSES)):
        raise InputError(f"{path} has a label that is not a whole digit 0..9, "
                         f"e.g. {y[(y != np.round(y)) | (y >= NUM_CLASSES)][0]:g}.")
    if 0 < X.max() <= 1:                                   # already scaled: undo it
        print(f"note: {path} holds pixels from 0 to 1, not 0..255; read as 0..1 (times 255).")
        X = X * 255
    if X.dtype != np.uint8:                               # floats: the nearest gray level
        X = np.rint(X)
    # C order: one image per row in memory too (pandas keeps columns), so that taking a
    # mini-batch of rows, X[batch], copies 64 runs of 784 bytes instead of 50,176 scattered ones.
    X = np.ascontiguousarray(X, dtype=np.uint8)
    return X, (None if y is None else y.astype(np.uint8))


# %% [markdown]
# ## 2. Building blocks: ReLU, softmax, cross-entropy
# %%
# Each f comes with f_backward: dJ/d(output) -> dJ/d(input), by the chain rule.
def relu(Z):
    """ReLU(z) = max(0, z), elementwise: (N, n) -> (N, n). Its slope is 1 for z > 0, so it
    does not shrink gradients at every layer as sigmoid does (its slope is at most 1/4)."""
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
    guess over 10 digits gives log(10) = 2.30, where training starts. A mean, not a sum:
    a sum grows with the batch, and so would every gradient, so the right learning rate
    would change with batch_size (under SGD, 64 rows would step 64 times further than one).
    """
    p_true = P[np.arange(len(y)), y]                  # (N,) probability of the right class
    # A probability that underflowed to exactly 0 would give log(0) = -inf; the smallest
    # normal float keeps it finite and changes no value above it. (Adding 1e-12 would change
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
# Why not squared error after a softmax? Its gradient is (a - y) times softmax's derivative
# a_j (1[j=k] - a_k), near 0 when the network is confidently WRONG (a near 0 or 1): it learns
# least from its worst mistakes. Cross-entropy's log cancels it: the gradient is a - y.
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
        std = {"he": np.sqrt(2 / fan_in), "xavier": np.sqrt(2 / (fan_in + fan_out))}[init]
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
# are). The step m_hat / sqrt(v_hat) is then about +-1 whatever the gradient's scale (less
# when the gradients disagree), so every weight moves by about learning_rate at most:
# rarely-used weights learn as fast as busy ones.
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
                     optimizer=update_parameters_with_adam, on_epoch=None, options=None):
    """Train params on X (N, D) and labels y (N,) by mini-batch gradient descent.

    Each epoch shuffles the rows, cuts them into batches of batch_size, and for each batch
    does forward -> loss -> backward -> update. Updates params in place and returns the
    history: one dict per epoch, {"epoch", "loss", "train_accuracy"}, the loss J (without
    the L1/L2 penalty) and the accuracy measured on each batch as it was trained on.
    Raises FloatingPointError if the loss stops being a number (a learning rate far too big).
      optimizer(params, grads, rate, state)   the update rule: Adam, as the command line
                                              runs; update_parameters is plain SGD
      on_epoch(epoch, params, stats)          called after each epoch (it may add figures to
                                              stats, e.g. validation); True stops training
      options    the opt-in extras, a dict; a key left out is off:
                 schedule(step, total_steps)  a factor for the learning rate (cosine_schedule)
                 transform(X_batch, epoch, rng)   e.g. random distortions (augmentation)
                 activation                   a pair (f, f_backward) for the hidden layers
                 dropout, l1, l2              passed on to forward and backward propagation
                 shuffle=False                keep the rows' order (see --break sorted)
    """
    options = dict(options or {})
    schedule, transform = options.pop("schedule", None), options.pop("transform", None)
    activation, activation_backward = options.pop("activation", (relu, relu_backward))
    dropout, l1, l2 = (options.pop(key, 0.0) for key in ("dropout", "l1", "l2"))
    shuffle = options.pop("shuffle", True)
    if options:                                # a typo would otherwise be silently ignored
        raise TypeError(f"gradient_descent has no option {', '.join(options)}")
    state, history, step = {}, [], 0           # state: the optimizer's memory (Adam's m, v)
    total_steps = num_epochs * math.ceil(len(X) / batch_size)
    for epoch in range(1, num_epochs + 1):
        # A new order every epoch: the same order would give every epoch the same batches,
        # and each batch's gradient errors would push the same way every time.
        order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
        loss_sum = correct = 0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            X_batch, y_batch = X[batch], y[batch]     # (batch_size, D), (batch_size,)
            if transform is not None:
                X_batch = transform(X_batch, epoch, rng)
            P, cache = forward_propagation(X_batch, params, activation, softmax, dropout, rng)
            batch_loss = cross_entropy(P, y_batch)
            if not np.isfinite(batch_loss):              # stop before it spoils params
                raise FloatingPointError(f"the loss became {batch_loss} in epoch {epoch}")
            dZ = cross_entropy_backward(P, y_batch)             # dJ/dZ_L, (batch_size, K)
            grads = backward_propagation(params, cache, dZ, activation_backward, l1, l2)
            rate = learning_rate * (schedule(step, total_steps) if schedule else 1)
            optimizer(params, grads, rate, state)   # update each W and b (Adam by default)
            step += 1
            # Running figures on the batches just seen: free, since P is here.
            loss_sum += batch_loss * len(batch)
            correct += np.count_nonzero(P.argmax(axis=1) == y_batch)
        history.append({"epoch": epoch, "loss": loss_sum / len(X),
                        "train_accuracy": float(correct / len(X))})
        if on_epoch is not None and on_epoch(epoch, params, history[-1]):
            break
    return history


def get_predictions(params, X, activation=relu):
    """The most probable class for each row of X (N, D): (N,) integers."""
    P, _ = forward_propagation(X, params, activation)
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
# Then compare per parameter by the relative error (Ng's course takes all as one vector)
#   ||analytic - numeric|| / (||analytic|| + ||numeric||)    (||.|| = sqrt of sum of squares)
# which does not care how big the gradient is. In float64 a right backward pass
# gives about 1e-9 (more, still below 1e-6, when an output saturates or some z lies
# within eps of relu's kink at 0); a wrong one (a missing 1/N, a forgotten dropout
# mask) gives 1e-3 to 1. So: below 1e-6 passes. (Ng's course uses eps = 1e-7
# and passes below 2e-7; CS231n compares entry by entry, |a - n| / max(|a|, |n|), which is
# fooled by entries that are exactly 0: rounding alone makes those 1e-10 vs 0.)
def gradient_check(loss_of, params, grads, eps=1e-6):
    """Relative error between grads and central differences, per parameter.

    loss_of(params) -> the loss as a float; params in float64; grads from
    backward_propagation at the same params. Returns {"W1": error, ...}; every value below
    1e-6 means backward_propagation is right. Two forward passes per weight: check a small
    network (as check_gradients_of_small_network does), not the digits' 235,000 weights.
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
# ## Beyond the core: one training step with every number (for slides)
# %%
def worked_example(learning_rate=0.5):
    """One SGD step of a tiny network (3 inputs, 4 ReLU units, 3 classes, a batch of N = 2),
    every intermediate with its shape, to 4 decimals: the same functions as above, on numbers
    small enough to check by hand. Returns the text (`--worked-example` prints it)."""
    X, y = np.array([[1.0, 0.5, -1.0], [0.0, -0.5, 2.0]]), np.array([0, 2])
    params = {"W1": np.array([[0.2, -0.1, 0.4, 0.1], [-0.3, 0.2, 0.1, 0.5],
                              [0.1, 0.3, -0.2, -0.4]]), "b1": np.array([0.1, 0.0, -0.1, 0.05]),
              "W2": np.array([[0.3, -0.2, 0.1], [0.1, 0.4, -0.3], [-0.2, 0.1, 0.2],
                              [0.5, -0.1, 0.3]]), "b2": np.array([0.0, 0.1, -0.1])}
    P, cache = forward_propagation(X, params)
    dZ2 = cross_entropy_backward(P, y)
    grads = backward_propagation(params, cache, dZ2)
    dA1 = dZ2 @ params["W2"].T                 # the two steps inside backward_propagation
    dZ1 = relu_backward(dA1, cache["Z1"])      # that it keeps to itself, shown here
    after = update_parameters({key: W.copy() for key, W in params.items()}, grads, learning_rate)
    steps = [("X", X), ("y", y), ("W1", params["W1"]), ("b1", params["b1"]),
             ("Z1 = X @ W1 + b1", cache["Z1"]), ("A1 = relu(Z1)", cache["A1"]),
             ("W2", params["W2"]), ("b2", params["b2"]), ("Z2 = A1 @ W2 + b2", cache["Z2"]),
             ("P = softmax(Z2)", P), ("J = -(1/N) sum_i log P[i, y_i]", cross_entropy(P, y)),
             ("dZ2 = (P - Y) / N", dZ2), ("dW2 = A1.T @ dZ2", grads["W2"]),
             ("db2 = dZ2 summed over rows", grads["b2"]), ("dA1 = dZ2 @ W2.T", dA1),
             ("dZ1 = dA1 * (Z1 > 0)", dZ1), ("dW1 = X.T @ dZ1", grads["W1"]),
             ("db1 = dZ1 summed over rows", grads["b1"])]
    steps += [(f"{key} - {learning_rate:g} d{key}", after[key]) for key in params]
    steps += [("J after the step", cross_entropy(forward_propagation(X, after)[0], y))]
    lines = []
    for name, value in steps:
        whole = np.issubdtype(np.asarray(value).dtype, np.integer)      # y: labels, not numbers
        lines.append(f"{name}   shape {np.shape(value)}")
        lines += ["  " + "  ".join(f"{v:8d}" if whole else f"{v + 0:8.4f}" for v in row)
                  for row in np.atleast_2d(value)]                   # (+ 0 turns -0.0 into 0.0)
    return "\n".join(lines)


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


def binary_cross_entropy(A, y):
    """J = -(1/N) sum_i sum_k [Y log A + (1 - Y) log(1 - A)]: each sigmoid output a yes/no."""
    # tiny, as in cross_entropy: log() stays finite at A = 0 or 1 (a clip at 1e-7 would change J)
    Y, tiny = one_hot(y, A.shape[1], A.dtype), np.finfo(A.dtype).tiny
    log_A, log_1_minus_A = np.log(np.maximum(A, tiny)), np.log(np.maximum(1 - A, tiny))
    return float(-np.sum(Y * log_A + (1 - Y) * log_1_minus_A) / len(A))


def mean_squared_error(A, y):
    """J = (1 / 2N) sum_i sum_k (A - Y)^2; the 1/2 cancels the 2 of the derivative."""
    return float(0.5 * np.sum((A - one_hot(y, A.shape[1], A.dtype)) ** 2) / len(A))


def mean_absolute_error(A, y):
    """J = (1/N) sum_i sum_k |A - Y|: less swayed by outliers than squared error."""
    return float(np.sum(np.abs(A - one_hot(y, A.shape[1], A.dtype))) / len(A))


def matched_output_backward(A, y):
    """dJ/dZ_L = (A - Y) / N for sigmoid + binary cross-entropy and linear + squared error,
    "matched pairs" like softmax + cross-entropy: the output's derivative cancels the loss's.
    One sigmoid output: dJ/da = (a - y) / (a (1 - a)), da/dz = a (1 - a), so dJ/dz = a - y;
    a linear one: a = z, so dJ/dz = dJ/da = a - y."""
    return (A - one_hot(y, A.shape[1], A.dtype)) / len(A)


def mean_absolute_error_backward(A, y):
    """dJ/dZ_L for linear + absolute error: sign(A - Y) / N (not a matched pair)."""
    return np.sign(A - one_hot(y, A.shape[1], A.dtype)) / len(A)


def weight_penalty(params, l1=0.0, l2=0.0):
    """l1 sum|W| + (l2 / 2) sum W^2 over the weights (not biases, which add no wiggles): both
    pull toward 0. Under plain SGD, L2 shrinks every weight by the same factor each step and
    L1 moves each by the same amount, so small weights hover about 0 (a sign(W) step jumps
    over 0; exact zeros need a proximal step). Adam rescales the penalty's gradient like any
    other, so there L2 is not weight decay (AdamW applies the decay apart)."""
    return float(sum(l1 * np.sum(np.abs(W)) + 0.5 * l2 * np.sum(W * W)
                     for key, W in params.items() if key.startswith("W")))


# A head: the output layer, its loss, and dJ/dZ_L (the digits use softmax; the rest: to check).
ACTIVATIONS = {"relu": (relu, relu_backward), "tanh": (tanh, tanh_backward),
               "sigmoid": (sigmoid, sigmoid_backward)}
HEADS = {"softmax": (softmax, cross_entropy, cross_entropy_backward),
         "sigmoid": (sigmoid, binary_cross_entropy, matched_output_backward),
         "mse": (identity, mean_squared_error, matched_output_backward),
         "mae": (identity, mean_absolute_error, mean_absolute_error_backward)}


def check_gradients_of_small_network(activation="relu", head="softmax", dropout=0.0, l1=0.0,
                                     l2=0.0, seed=0):
    """gradient_check on a 12-8-6-10 float64 network and 8 random examples: {key: error}."""
    rng = np.random.default_rng(seed)
    (f, f_backward), (output, loss, loss_backward) = ACTIVATIONS[activation], HEADS[head]
    params = initialize_parameters([12, 8, 6, NUM_CLASSES], rng, np.float64,
                                   "he" if activation == "relu" else "xavier")
    for l in (1, 2, 3):   # biases away from 0, so that a row whose units were all dropped
        params[f"b{l}"] += rng.uniform(0.1, 0.2, params[f"b{l}"].shape)   # is not on relu's kink
    X, y = rng.random((8, 12)), rng.integers(0, NUM_CLASSES, 8)      # like pixels in 0..1

    def forward(p):               # the same seed every call: the same dropout mask
        return forward_propagation(X, p, f, output, dropout, np.random.default_rng(seed + 1))

    def loss_of(p):               # J(params), the number the gradients are checked against
        return loss(forward(p)[0], y) + weight_penalty(p, l1, l2)
    P, cache = forward(params)
    grads = backward_propagation(params, cache, loss_backward(P, y), f_backward, l1, l2)
    return gradient_check(loss_of, params, grads)


# %% [markdown]
# ## Beyond the core: more update rules and learning-rate schedules
# %%
def update_parameters_with_momentum(params, grads, learning_rate, state, beta=0.9):
    """v = beta v + (1 - beta) dW;  W = W - learning_rate v: a heavy ball, zig-zags cancel out.
    This is Ng's course's form, v a running mean. PyTorch's SGD sums, v = beta v + dW, which is
    1 / (1 - beta) = 10 times larger: the same steps need a learning rate 10 times smaller."""
    v = state.setdefault("v", {})                 # one running mean per parameter, from 0
    for key in params:
        v[key] = beta * v.get(key, 0) + (1 - beta) * grads[key]
        params[key] -= learning_rate * v[key]
    return params


def update_parameters_with_adagrad(params, grads, learning_rate, state, eps=1e-8):
    """s = s + dW^2;  W = W - learning_rate dW / (sqrt(s) + eps).  In place; returns params.
    Each weight gets its own step size, shrinking as its gradients add up."""
    s = state.setdefault("s", {})                 # one sum of squares per parameter, from 0
    for key in params:
        s[key] = s.get(key, 0) + grads[key] ** 2
        params[key] -= learning_rate * grads[key] / (np.sqrt(s[key]) + eps)
    return params


def update_parameters_with_rmsprop(params, grads, learning_rate, state, rho=0.9, eps=1e-8):
    """s = rho s + (1 - rho) dW^2;  W = W - learning_rate dW / (sqrt(s) + eps).  In place.
    AdaGrad that forgets: s is a running mean, so steps do not shrink for ever (Hinton's 0.9)."""
    s = state.setdefault("s", {})                 # one running mean per parameter, from 0
    for key in params:
        s[key] = rho * s.get(key, 0) + (1 - rho) * grads[key] ** 2
        params[key] -= learning_rate * grads[key] / (np.sqrt(s[key]) + eps)
    return params


# A schedule gives the factor for the learning rate at step `step` of `total_steps`: big steps
# early cover ground, small steps late settle into a minimum instead of bouncing around it.
def cosine_schedule(step, total_steps):
    """(1 + cos(pi t / T)) / 2: from 1 down to 0 along half a cosine (the command line's)."""
    return 0.5 * (1 + math.cos(math.pi * step / total_steps))


def step_schedule(step, total_steps):
    """1, then 1/10 from half-way, then 1/100 from three quarters of the way."""
    drops = int(step >= total_steps / 2) + int(step >= 0.75 * total_steps)   # 0, 1 or 2
    return 0.1 ** drops


def inverse_schedule(step, total_steps, decay=1e-3):
    """1 / (1 + decay t), t counting steps: "learning-rate decay" (Ng's counts epochs)."""
    return 1 / (1 + decay * step)


OPTIMIZERS = {"sgd": update_parameters, "momentum": update_parameters_with_momentum,
              "adagrad": update_parameters_with_adagrad, "rmsprop": update_parameters_with_rmsprop,
              "adam": update_parameters_with_adam}
# Good starting rates differ: Adam, AdaGrad and RMSprop move each weight by about the rate,
# SGD and momentum by rate * gradient (momentum's 0.5 is 0.05 in PyTorch's summing form).
DEFAULT_LEARNING_RATES = {"sgd": 0.3, "momentum": 0.5, "adagrad": 0.01, "rmsprop": 0.001,
                          "adam": 0.002}
SCHEDULES = {"cosine": cosine_schedule, "step": step_schedule, "inverse": inverse_schedule,
             "constant": None}


# %% [markdown]
# ## Beyond the core: data augmentation
# %%
# An MLP cannot know that a digit moved a pixel to the left is the same digit: each pixel is an
# input with its own weights (a convolutional network, sliding the same filters everywhere,
# gets shifts for free). Moved, turned and resized copies teach it: on 10,000 digits, the
# biggest single gain. Validation digits are never distorted: they must measure real digits.
def random_affine(X, rng, max_degrees=10.0, max_scale=0.1, max_shift=2.0):
    """Rotate, scale and shift a batch of images by one random map: (N, D) -> (N, D).
    Each output pixel (r, c) comes from (the inverse map, about the centre (13.5, 13.5))
        [r_src, c_src] = centre + R(-angle) @ ([r, c] - centre - shift) / scale
    which lies between four pixels. Bilinear interpolation mixes them by closeness: with
    r0 = floor(r_src), fr = r_src - r0 (c0, fc alike),
        (1-fr)(1-fc) I[r0,c0] + (1-fr) fc I[r0,c0+1] + fr (1-fc) I[r0+1,c0] + fr fc I[r0+1,c0+1]
    Pixels off the image are black (0). One map serves the whole batch: the arithmetic runs
    once, on all 784 (r, c), and each neighbour is one gather: out += weight * X[:, source]."""
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
    # X[:, source] is gathered as whole rows of X.T (D, N), one row per pixel: twice as fast
    # as scattered columns of X. An extra row of zeros, number D, is the black off the image.
    pixels = np.vstack([X.T, np.zeros((1, len(X)), X.dtype)])          # (D + 1, N)
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
# ## Beyond the core: early stopping, saving and loading a network
# %%
def keep_best(best, epoch, params, score):
    """Copy params into best ({} at first) when the validation score (higher is better)
    improves; return the epochs since the best. Early stopping (after `patience` epochs with no
    gain, go back to the best copy) stops before the network memorises its training digits. But
    the best epoch won partly by luck on these validation digits, so their accuracy flatters
    it; --test-csv digits chose nothing."""
    score = -math.inf if math.isnan(score) else score     # a diverged epoch is never best
    if not best or score > best["score"]:
        best.update(score=score, epoch=epoch, params={key: W.copy() for key, W in params.items()})
    return epoch - best["epoch"]


def write_atomically(path, write):
    """write(file) into a temporary file beside path, then rename it onto path. A rename within
    one folder is atomic: a crash or full disk leaves the old file whole, never half a new one."""
    path = os.path.realpath(path)             # through a symbolic link: write what it names
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
        umask = os.umask(0o022)                # mkstemp's file is private (0600); give it the
        os.umask(umask)                        # mode any new file gets: 0666 less the umask
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_model(path, params, activation="relu"):
    """Save the weights, biases and the activation's name as .npz: NumPy's zip of plain
    arrays, no pickle, so loading one cannot run code. A diverged network is refused."""
    if not all(np.all(np.isfinite(W)) for W in params.values()):
        raise FloatingPointError("the parameters contain nan or inf; refusing to save them")
    write_atomically(path, lambda f: np.savez(f, **params, activation=activation))


def load_model(path):
    """(params, activation name) from a file of save_model. allow_pickle=False makes NumPy
    refuse pickled objects instead of running them; any other file gets one sentence."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        activation = str(arrays.pop("activation"))
        L = len(arrays) // 2
        params = {f"{p}{l}": arrays.pop(f"{p}{l}") for l in range(1, L + 1) for p in "Wb"}
        sizes = [params["W1"].shape[0]] + [params[f"b{l}"].shape[0] for l in range(1, L + 1)]
        fits = not arrays and activation in ACTIVATIONS and all(
            params[f"W{l}"].shape == (sizes[l - 1], sizes[l]) for l in range(1, L + 1))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile):
        fits = False                            # not an .npz, pickled, cut short, a key missing
    if not fits or (sizes[0], sizes[-1]) != (NUM_PIXELS, NUM_CLASSES):
        raise InputError(f"{path} is not a digit network saved by this script; save one with "
                         "--save MODEL.npz.")
    return params, activation


# %% [markdown]
# ## Beyond the core: evaluation and pictures
# %%
def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """C[i, j] = how many examples of class i were predicted as j. The diagonal is right."""
    C = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(C, (y_true, y_pred), 1)                  # += 1 at every (true, predicted) pair
    return C


def per_class_text(C):
    """Each class's share predicted right, C[k, k] / sum_j C[k, j]: '0:0.990  1:0.995 ...'."""
    return "  ".join(f"{k}:{C[k, k] / max(C[k].sum(), 1):.3f}" for k in range(len(C)))


def accuracy_under_noise(params, X, y, sigmas, rng, activation=relu):
    """Accuracies on X (N, D) in 0..1 plus noise N(0, sigma^2), clipped to 0..1 as a real image
    is: a network that learned strokes degrades slowly, one that learned pixels falls apart."""
    return [get_accuracy(get_predictions(params, np.clip(X + rng.normal(0, s, X.shape), 0, 1)
                                         .astype(X.dtype), activation), y) for s in sigmas]


# Every picture a run may draw, in the current folder (main checks them before any work).
PICTURES = ["predictions.png", "confusion_matrix.png", "training_curves.png",
            "first_layer_weights.png", "training_health.png", "robustness.png", "saliency.png",
            "test_confusion_matrix.png", "my_digits.png", "decision_boundary.png",
            "compare_architectures.png", "compare_learning_rates.png"]


def save_figure(fig, path):
    """Write fig as PNG (path None: none; a notebook shows it), atomically; close it unless a
    window is to show it. matplotlib is imported in each function: --no-plot never loads it."""
    import matplotlib.pyplot as plt
    if path is not None:
        write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))
        print(f"picture saved: {path}")
    if plt.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        plt.close(fig)                          # a backend with no window: nothing to show


def plot_sample_predictions(X, y, predictions, path, count=24):
    """Digits X (N, D) titled 'pred (true)'; mistakes, which teach the most, first and in red."""
    import matplotlib.pyplot as plt
    wrong = np.flatnonzero(predictions != y)[:count // 2]
    shown = np.concatenate([wrong, np.flatnonzero(predictions == y)])[:count]
    rows = -(-count // 8)                                           # count / 8, rounded up
    fig, axes = plt.subplots(rows, 8, figsize=(10.4, 1.5 * rows), layout="tight")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown):
        ax.imshow(X[i].reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r")
        ax.set_title(f"{predictions[i]} ({y[i]})",
                     color="red" if predictions[i] != y[i] else "black")
    fig.suptitle("validation digits: predicted (true); mistakes first, in red")
    save_figure(fig, path)


def plot_training_curves(history, path, augmented_until=None):
    """Loss and accuracy per epoch (validation's too, if history has them). A dashed line marks
    the last augmented epoch: training on real digits gets easier after it."""
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="tight")
    for ax, what, train_key in zip(axes, ["loss", "accuracy"], ["loss", "train_accuracy"]):
        if augmented_until and epochs and augmented_until < epochs[-1]:
            ax.axvline(augmented_until, color="gray", linestyle="--", label="last augmented epoch")
        ax.plot(epochs, [h[train_key] for h in history], label="train")
        if history and "val_" + what in history[0]:
            ax.plot(epochs, [h["val_" + what] for h in history], label="validation")
        ax.set(xlabel="epoch", ylabel=what, title=what)
        ax.legend()
    save_figure(fig, path)


def plot_confusion_matrix(C, path, title="confusion matrix"):
    """Counts of (true, predicted) pairs as a heat map; off-diagonal cells are mistakes."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 5.5), layout="tight")
    ax.imshow(C, cmap="Blues")
    for (i, j), count in np.ndenumerate(C):
        ax.text(j, i, count, ha="center", va="center", fontsize=8,
                color="white" if count > C.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title,
           xticks=range(len(C)), yticks=range(len(C)))
    save_figure(fig, path)


def plot_lines(xs, ys, path, xlabel, ylabel, title, log_x=False):
    """One line of points; for the noise experiment and the comparisons."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), layout="tight")
    ax.plot(xs, ys, marker="o")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xscale="log" if log_x else "linear")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: seeing inside the network
# %%
# A first-layer unit computes z_j = sum_i x_i W1[i, j] + b_j, the image dotted with the column
# W1[:, j]: one weight per pixel, which drawn as 28 x 28 is the "template" the unit matches.
def plot_first_layer_weights(W1, path, count=64):
    """Tiles of the incoming weights W1 (D, n_1) of `count` first-layer units, the largest
    ||W1[:, j]|| first: all start near one norm (He: sqrt(784 * 2 / 784) = 1.4), and training
    grows the weights a unit uses. Each tile has its own scale (WHAT a unit looks for, not how
    loudly): red = positive, blue = negative, white = 0. Returns the units shown."""
    import matplotlib.pyplot as plt
    units = np.argsort(np.linalg.norm(W1, axis=0))[::-1][:count]   # the largest first
    fig, axes = plt.subplots(-(-len(units) // 8), 8, figsize=(8, 8.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, j in zip(axes.ravel(), units):
        limit = np.abs(W1[:, j]).max() or 1.0                  # symmetric: white is exactly 0
        ax.imshow(W1[:, j].reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"What {len(units)} first-layer units look for: ink on red pushes a unit "
                 "up, on blue down.\nLargest weights first. Speckle: pixels ink rarely "
                 "reaches, still near their random start.", fontsize=9)
    save_figure(fig, path)
    return units


# Saliency: WHY did it say 7? How would the score of class k change if each pixel changed a
# little? That is the gradient dZ_L[k]/dx, one number per pixel: a picture of its own.
def input_gradient(params, x, k, activation=relu, activation_backward=relu_backward):
    """dZ_L[k]/dx for ONE example, x (D,) -> (D,). Z_L[k] is the score before softmax: once
    the network is sure, P[k] is 0.9999 and barely moves."""
    X = x[None, :]                                              # (1, D): a batch of one row
    _, cache = forward_propagation(X, params, activation)
    # backward_propagation starts from dZ = dJ/dZ_L. Here "J" is the score Z_L[k] itself,
    # and dZ_L[k]/dZ_L[j] is 1 for j = k and 0 otherwise: the one-hot row e_k.
    dZ = one_hot(np.array([k]), params[f"b{len(params) // 2}"].shape[0], X.dtype)   # (1, K)
    grads = backward_propagation(params, cache, dZ, activation_backward)
    # It stops at dZ_1, but returns db_1 = dZ_1 summed over rows: with ONE row, dZ_1 itself.
    # One more step of the chain rule through Z_1 = X W_1 + b_1:  dX = dZ_1 @ W_1.T
    return grads["b1"] @ params["W1"].T                         # (n_1,) @ (n_1, D) -> (D,)


def plot_saliency(X, y, params, path, activation="relu", count=8):
    """Validation digits X (N, D) in 0..1, labels y (N,), mistakes first, over two maps: the
    gradient g (where MORE ink would raise or lower the said digit's score) and g * x. Why g * x:
    between its ReLUs' kinks the network is linear in x, so near this digit
    Z_L[k] = sum_i g_i x_i + a constant: g_i x_i is pixel i's vote, for k (red) or against."""
    import matplotlib.pyplot as plt
    predictions = get_predictions(params, X, ACTIVATIONS[activation][0])
    shown = np.argsort(predictions == y, kind="stable")[:count]    # mistakes first
    fig, axes = plt.subplots(3, len(shown), figsize=(1.9 * len(shown), 6.6), squeeze=False,
                             layout="tight")
    for column, i in zip(axes.T, shown):
        digit = X[i].reshape(IMAGE_SIDE, IMAGE_SIDE)
        g = input_gradient(params, X[i], predictions[i], *ACTIVATIONS[activation])
        g = g.reshape(IMAGE_SIDE, IMAGE_SIDE)
        column[0].imshow(digit, cmap="gray_r")
        column[0].set_title(f"said {predictions[i]} (true {y[i]})",
                            color="red" if predictions[i] != y[i] else "black")
        for ax, picture in ((column[1], g), (column[2], g * digit)):
            limit = np.abs(picture).max() or 1.0    # symmetric: white is exactly 0
            ax.imshow(picture, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for ax, label in zip(column, ["digit", "gradient g", "ink x gradient"]):
            ax.set(xticks=[], yticks=[], ylabel=label if i == shown[0] else "")
    fig.suptitle("Why did it say that? red: more ink here raises the score of the digit it "
                 "said, blue: lowers it")
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: Kaggle submissions and your own pictures
# %%
def write_submission(path, predictions):
    """Kaggle Digit Recognizer format: header ImageId,Label; ImageId counts from 1."""
    frame = pd.DataFrame({"ImageId": np.arange(1, len(predictions) + 1),
                          "Label": np.asarray(predictions, dtype=int)})
    write_atomically(path, lambda f: f.write(frame.to_csv(index=False).encode()))


def preprocess_digit_image(path):
    """A photo or drawing of one digit -> (784,) float32 in 0..1, as MNIST digits are made."""
    from PIL import Image, ImageFilter, ImageOps
    with Image.open(path) as image:
        if image.mode.startswith("I"):   # 16-bit gray, 0..65535: convert() would clip at 255
            image = Image.fromarray((np.asarray(image) / 257).astype(np.uint8))
        image.thumbnail((300, 300))   # plenty for a 20-pixel digit; a big JPEG decodes small
        # A phone stores a sideways photo's pixels sideways, plus an EXIF tag to turn them
        # back; a drawing's see-through background is laid on white paper.
        image = ImageOps.exif_transpose(image).convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("L")
    # Blur by a pixel per 200: camera noise averages out, a small drawing's thin strokes stay.
    image = image.filter(ImageFilter.GaussianBlur(min(image.size) / 200))
    gray = np.asarray(image, dtype=np.float32) / 255
    if np.median(gray) < 0.5:      # most of a page is paper; dark paper (a board): turn over
        gray = 1 - gray
    # A camera sees light x reflectance; a lamp makes the light uneven. In a window wider than a
    # stroke the brightest pixel is paper: a max filter wipes out the strokes, a min filter then
    # brings back the light's slope. A 75-pixel copy is fast, and light changes slowly. Past the
    # border light goes on as it went (odd reflection): windows there must not see it level off.
    small = Image.fromarray(gray)
    small.thumbnail((75, 75))
    w = 2 * (min(small.size) // 8) + 1                # odd, as Pillow's filters need
    small = Image.fromarray(np.pad(np.asarray(small), w, "reflect", reflect_type="odd"))
    small = small.filter(ImageFilter.MaxFilter(w)).filter(ImageFilter.MinFilter(w))
    paper = np.asarray(small.crop((w, w, small.width - w, small.height - w)).resize(image.size))
    ink = np.clip(1 - gray / np.maximum(paper, 0.01), 0, 1)   # light divided out: 0 on paper
    strongest = np.percentile(ink, 99.9)         # not the max, which one hot pixel could set
    if strongest < 0.2:
        raise InputError(f"{path} looks blank: no ink stands out from the paper; photograph "
                         "one digit, darker or lighter than its page, filling much of the frame.")
    # Stretch: the strongest ink becomes 1; under a fifth of it (paper's noise, JPEG ripples,
    # faint ruled lines) becomes 0, as MNIST's background is exactly 0.
    ink = np.clip((ink - 0.2 * strongest) / (0.8 * strongest), 0, 1)
    rows, cols = np.nonzero(ink > 0.3)              # crop to the solid ink's bounding box
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    # The longer side becomes 20 pixels, keeping the aspect ratio, as in MNIST.
    box = np.asarray(ImageOps.contain(Image.fromarray(ink), (20, 20), Image.LANCZOS))
    box = np.clip(box / box.max(), 0, 1)    # strongest ink 1 again; LANCZOS may overshoot
    # Paste into 28x28 black so the ink's centre of mass lands on the centre, (13.5, 13.5).
    r, c = np.indices(box.shape)
    top = int(np.clip(round(13.5 - (r * box).sum() / box.sum()), 0, IMAGE_SIDE - box.shape[0]))
    left = int(np.clip(round(13.5 - (c * box).sum() / box.sum()), 0, IMAGE_SIDE - box.shape[1]))
    digit = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    digit[top:top + box.shape[0], left:left + box.shape[1]] = box
    return digit.ravel()


def plot_image_predictions(paths, digits, P, path):
    """A row per picture: as you see it, the 28 x 28 input made of it, its probabilities P."""
    import matplotlib.pyplot as plt
    from PIL import Image, ImageOps
    fig, axes = plt.subplots(len(digits), 3, figsize=(10, 2.6 * len(digits)), squeeze=False,
                             layout="tight")
    for (ax_pic, ax_digit, ax_bar), name, digit, p in zip(axes, paths, digits, P):
        with Image.open(name) as image:
            ax_pic.imshow(ImageOps.exif_transpose(image).convert("L"), cmap="gray")
        ax_pic.set_title(os.path.basename(name), fontsize=9)
        ax_digit.imshow(digit.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray", vmin=0, vmax=1)
        ax_digit.set_title("what the network sees (28 x 28)", fontsize=9)
        for ax in (ax_pic, ax_digit):
            ax.axis("off")
        bars = ax_bar.bar(range(NUM_CLASSES), p)
        bars[p.argmax()].set_facecolor("tab:orange")             # the most probable digit
        ax_bar.set(xticks=range(NUM_CLASSES), ylim=(0, 1), xlabel="digit", ylabel="probability")
        ax_bar.set_title(f"it reads {p.argmax()} ({p.max():.2f})", fontsize=9)
    save_figure(fig, path)


# %% [markdown]
# ## Beyond the core: is training healthy? (dead units, step sizes)
# %%
# Two numbers catch most sick runs before the accuracy does (makemore's notebooks plot both):
# 1. Dead ReLU units: relu(z) = relu'(z) = 0 for z <= 0, so a unit whose z is negative for
#    EVERY input outputs 0 and gets no gradient; in layer 1 (fed the fixed pixels) for good.
#    A few percent is normal; one wild step can kill most of a layer at once.
# 2. The update-to-weight ratio ||delta W|| / ||W|| of the step ACTUALLY taken (Adam divides by
#    sqrt(v_hat): learning_rate * dW is far off). CS231n suggests about 1e-3; near 1e-1 steps
#    overshoot and wreck what was learnt, below 1e-5 training barely moves.
def dead_relu_share(params, X_probe, activation=relu):
    """Per hidden layer, the share of units that output 0 on every row of X_probe (N, D): silent
    on, say, 1000 training digits, silent on (nearly) all."""
    _, cache = forward_propagation(X_probe, params, activation)
    return [float(np.all(cache[f"A{l}"] == 0, axis=0).mean()) for l in range(1, len(params) // 2)]


def measuring_steps(optimizer, ratios):
    """optimizer's update rule, appending to `ratios` at each step the list of
    ||W_after - W_before|| / ||W_before|| over the weight matrices W1..WL."""
    def update(params, grads, learning_rate, state):
        before = {key: W.copy() for key, W in params.items() if key.startswith("W")}
        optimizer(params, grads, learning_rate, state)
        ratios.append([float(np.linalg.norm(params[key] - W) / np.linalg.norm(W))
                       for key, W in before.items()])
        return params
    return update


def health_record(params, X_probe, ratios, activation=relu, activation_backward=relu_backward):
    """What --diagnose measures after an epoch, on a probe of training rows X_probe (N, D) and
    the epoch's update/weight ratios (one list per step, from measuring_steps)."""
    _, cache = forward_propagation(X_probe, params, activation)
    L, steps = len(params) // 2, np.array(ratios)                 # steps: (steps, L)
    # A sigmoid or tanh output whose slope f'(z) is below 0.01 sits on a flat end: it passes
    # almost no gradient back. (A ReLU at 0 is merely off, as for half its inputs; see dead.)
    flat = [float((activation_backward(np.ones_like(Z), Z) < 0.01).mean()) if activation
            is not relu else 0.0 for Z in (cache[f"Z{l}"] for l in range(1, L))]
    answers = np.bincount(cache[f"A{L}"].argmax(axis=1), minlength=cache[f"A{L}"].shape[1])
    return {"dead_share": dead_relu_share(params, X_probe, activation), "saturated_share": flat,
            "update_ratio": np.median(steps, axis=0).tolist(),          # nan where ||W|| = 0
            "largest_step": np.max(steps, axis=0).tolist(),
            "weight_norm": [float(np.linalg.norm(params[f"W{l}"])) for l in range(1, L + 1)],
            "input_scale": float(np.abs(X_probe).max()),
            "top_answer": (int(answers.argmax()), float(answers.max() / len(X_probe)))}


def health_warnings(records, num_classes=NUM_CLASSES):
    """Sentences naming what looks wrong, and its likely cause, in a run's health records (one
    per epoch: health_record's figures, "loss", "train_accuracy", maybe "val_accuracy"), from
    the numbers alone; [] if nothing does. The causes of a run stuck near 10%, in order."""
    warnings, first, last, chance = [], records[0], records[-1], np.log(num_classes)
    if first["input_scale"] > 10:
        warnings.append(f"inputs reach {first['input_scale']:.0f}: the initialisation assumes "
                        "inputs of about 1, so the first z are far too large and the first "
                        f"epoch's loss is {first['loss']:.1f} (log {num_classes} = {chance:.2f} "
                        "is a guess). "
                        "Scale the pixels to 0..1.")
    zero = [f"W{l}" for l, norm in enumerate(first["weight_norm"], 1) if norm == 0]
    if zero:
        warnings.append(f"{', '.join(zero)} are all 0: every unit of a layer computes the same "
                        "thing and gets the same gradient (through ReLU at z = 0, none at all). "
                        "Start from random weights.")
    largest = max((x for r in records for x in r["largest_step"] if np.isfinite(x)), default=0)
    early = [x for x in first["update_ratio"] if np.isfinite(x)]
    if largest > 1e-1:
        warnings.append(f"update/weight ratio up to {largest:.1e}, far above the rule of thumb "
                        "1e-3: steps overshoot. The learning rate is too high; try 10x smaller.")
    elif early and max(early) < 1e-5:
        warnings.append(f"update/weight ratio {max(early):.1e} in the first epoch, far below "
                        "1e-3: the learning rate is too low, or the gradients vanish.")
    dead = [f"{s:.0%} in layer {l}" for l, s in enumerate(last["dead_share"], 1) if s >= 0.25]
    if dead and not zero:
        warnings.append(f"dead ReLU units: {', '.join(dead)} output 0 for every probe digit, "
                        "so no gradient reaches their weights (big steps push units there).")
    flat = [f"{s:.0%} in layer {l}" for l, s in enumerate(last["saturated_share"], 1) if s >= 0.25]
    if flat:
        warnings.append(f"saturated units: {', '.join(flat)} of the hidden outputs sit on a flat "
                        "end of the activation (slope below 0.01), so the gradient through them "
                        "vanishes: the weights start too large for it (Xavier's scale fits).")
    share = float(np.mean([r["top_answer"][1] for r in records]))     # over the epochs
    if share > 0.45 and not zero and largest <= 1e-1:
        warnings.append(f"after each epoch it gives one answer to {share:.0%} of the probe "
                        f"digits on average ({last['top_answer'][0]} at the end): it follows "
                        "the order of the rows, not the digits. Are the rows shuffled every "
                        "epoch?")
    elif last.get("val_accuracy", 1) < 1.5 / num_classes < 0.5 * last["train_accuracy"]:
        warnings.append(f"training accuracy is {last['train_accuracy']:.0%} but validation "
                        f"accuracy is chance ({last['val_accuracy']:.0%}): it memorises labels "
                        "its images do not predict. Were X and y shuffled with one order?")
    if abs(last["loss"] - chance) < 0.1 * chance and last["train_accuracy"] < 1.5 / num_classes:
        warnings.append(f"the loss is {last['loss']:.2f}, near log({num_classes}) = {chance:.2f}, "
                        f"the loss of answering 1/{num_classes} for every class: the network has "
                        "learnt nothing.")
    return warnings


def plot_training_health(records, path):
    """Per epoch: the loss, % dead ReLU units per hidden layer, update/weight ratio per W."""
    import matplotlib.pyplot as plt
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="tight")
    axes[0].plot(epochs, [r["loss"] for r in records], ".-", color="k")
    axes[0].axhline(np.log(NUM_CLASSES), color="red", linestyle=":", label="log 10: chance")
    for l, shares in enumerate(zip(*[r["dead_share"] for r in records]), 1):
        axes[1].plot(epochs, 100 * np.array(shares), ".-", label=f"layer {l}")
    for l, ratios in enumerate(zip(*[r["update_ratio"] for r in records]), 1):
        axes[2].plot(epochs, ratios, ".-", label=f"W{l}")
    axes[2].axhline(1e-3, color="green", linestyle="--", label="rule of thumb 1e-3")
    axes[2].set_yscale("log")
    for ax, title in zip(axes, ["training loss", "% dead ReLU units", "update / weight ratio"]):
        ax.set(xlabel="epoch", title=title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    save_figure(fig, path)


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
    """Two interleaved half-moons: X (n, 2) float32, y (n,) int. Upper moon (cos t, sin t),
    lower (1 - cos t, 1/2 - sin t), t in [0, pi], plus noise, centred on 0."""
    y = (np.arange(n) >= n // 2).astype(int)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    X = np.where(y[:, None] == 0, upper, [1, 0.5] - upper) - [0.5, 0.25]
    return (X + rng.normal(0.0, noise, X.shape)).astype(np.float32), y


def make_xor(n, rng, noise=0.02):
    """XOR: points uniform in [-1, 1]^2, class 1 where x1 x2 > 0 (the signs agree), plus
    noise. X (n, 2) float32, y (n,) int. No straight line separates the classes."""
    X = rng.uniform(-1, 1, (n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return (X + rng.normal(0.0, noise, X.shape)).astype(np.float32), y


TOY_DATASETS = {"spiral": lambda rng: make_spiral(200, 3, rng),
                "moons": lambda rng: make_moons(600, rng),
                "xor": lambda rng: make_xor(600, rng)}


def plot_decision_boundary(params, X, y, path, activation=relu, title="decision boundary"):
    """Colour the plane (a 200 x 200 grid, one batch) by the class the network gives; X on top."""
    import matplotlib.pyplot as plt
    low, high = X.min(axis=0) - 0.2, X.max(axis=0) + 0.2
    x1, x2 = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    grid = np.stack([x1.ravel(), x2.ravel()], axis=1).astype(X.dtype)   # (200^2, 2)
    regions = get_predictions(params, grid, activation).reshape(x1.shape)
    colours = dict(cmap="tab10", vmin=0, vmax=9)                       # class k: colour k
    fig, ax = plt.subplots(figsize=(6, 6), layout="tight")
    ax.contourf(x1, x2, regions, levels=np.arange(-0.5, y.max() + 1), alpha=0.3, **colours)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=14, edgecolors="black", linewidths=0.4, **colours)
    ax.set(xlabel="x1", ylabel="x2", title=title, aspect="equal")
    save_figure(fig, path)


# %% [markdown]
# ## The command line
# %%
def training_data(args, rng):
    """--toy's 2-D points, or the CSV's digits scaled to 0..1; split by --val-fraction."""
    X, y = TOY_DATASETS[args.toy](rng) if args.toy else load_digits_csv(args.csv)
    X_train, y_train, X_val, y_val = split_train_val(X, y, args.val_fraction, rng)
    if len(y_train) == 0 or (args.val_fraction and len(y_val) == 0):
        raise InputError(f"--val-fraction {args.val_fraction:g} of {len(y)} rows leaves "
                         f"{len(y_train)} to train on and {len(y_val)} to validate on.")
    scale = (lambda X: X) if args.toy else scale_pixels
    return scale(X_train), y_train, scale(X_val), y_val


def fit(args, params, X_train, y_train, X_val, y_val, rng, **options):
    """gradient_descent as the flags ask, a line per epoch, --patience and --diagnose. Ctrl-C
    stops training and keeps the best epoch's network. Returns (history, seconds, interrupted)."""
    activation = ACTIVATIONS[args.activation]
    optimizer, ratios, history, best = OPTIMIZERS[args.optimizer], [], [], {}
    if args.diagnose:
        optimizer = measuring_steps(optimizer, ratios)
    started = time.perf_counter()

    def after_epoch(epoch, params, stats):
        if len(y_val):
            P, _ = forward_propagation(X_val, params, activation[0])
            stats.update(val_loss=cross_entropy(P, y_val),
                         val_accuracy=get_accuracy(P.argmax(axis=1), y_val))
        waited = keep_best(best, epoch, params, stats["val_accuracy"]) if len(y_val) else 0
        print(f"epoch {epoch:3d}/{args.epochs}  " + "  ".join(f"{key.replace('_', ' ')} "
              f"{value:.4f}" for key, value in stats.items() if key != "epoch")
              + f"  {time.perf_counter() - started:6.1f}s", flush=True)
        if args.diagnose:
            stats.update(health_record(params, X_train[:1000], ratios, *activation))
            ratios.clear()
        history.append(stats)
        return args.patience is not None and waited >= args.patience

    options.update(schedule=SCHEDULES[args.lr_schedule], activation=activation, l1=args.l1,
                   l2=args.l2, dropout=args.dropout,
                   transform=augment_first_epochs(args.epochs) if args.augment else None)
    interrupted = False
    try:
        with np.errstate(all="ignore"):         # a diverging run: one sentence, not warnings
            gradient_descent(params, X_train, y_train, args.epochs, args.batch_size, args.lr,
                             rng, optimizer, after_epoch, options)
    except KeyboardInterrupt:                   # Ctrl-C, or SIGTERM and SIGHUP (see main)
        print("interrupted: keeping the network trained so far", flush=True)
        interrupted = True
    except FloatingPointError as err:
        raise InputError(f"training diverged ({err}); try a smaller learning rate, e.g. "
                         f"--lr {args.lr / 10:g}.")
    if best and (args.patience or interrupted):
        params.update(best["params"])
        print(f"using the network of epoch {best['epoch']}, the best on the validation data")
    if args.diagnose and history:
        for sentence in health_warnings(history) or ["nothing looks wrong"]:
            print("training health: " + sentence)
    return history, time.perf_counter() - started, interrupted


def train_digits(args):
    """The default run, the story of the file: data -> split, scale -> initialise -> train ->
    validate -> use -> pictures. --toy: on 2-D points; --load: a saved network, no training."""
    uses = {"test": args.test_csv and load_digits_csv(args.test_csv),   # read now: a bad file
            "predict": args.predict and load_digits_csv(args.predict, labelled=False),  # fails
            "images": [preprocess_digit_image(path) for path in args.image or []]}  # at once
    if args.load:
        if not (args.test_csv or args.predict or args.image):
            raise InputError("--load needs --test-csv, --predict or --image to use it on.")
        params, activation = load_model(args.load)
        print(f"loaded {args.load}: {len(params) // 2} layers, {activation} hidden units")
        use_network(args, params, ACTIVATIONS[activation][0], uses)
        return 0
    rng = np.random.default_rng(args.seed)
    X_train, y_train, X_val, y_val = training_data(args, rng)
    sizes = [X_train.shape[1], *args.hidden, int(y_train.max()) + 1 if args.toy else NUM_CLASSES]
    params = initialize_parameters(sizes, rng, init="he" if args.activation == "relu" else
                                   "xavier")
    print(f"training a {'-'.join(map(str, sizes))} network on {len(y_train)} examples, "
          f"validating on {len(y_val)}", flush=True)
    history, seconds, interrupted = fit(args, params, X_train, y_train, X_val, y_val, rng)
    if args.save:
        save_model(args.save, params, args.activation)
        print(f"model saved: {args.save}")
    f = ACTIVATIONS[args.activation][0]
    predictions = get_predictions(params, X_val, f)
    if args.robustness:
        sigmas = [0.0, 0.1, 0.2, 0.3, 0.5]
        accuracies = accuracy_under_noise(params, X_val, y_val, sigmas, rng, f)
        print("validation accuracy under pixel noise: " + "  ".join(
            f"sigma {s:g}: {a:.4f}" for s, a in zip(sigmas, accuracies)))
    use_network(args, params, f, uses)
    if args.no_plot:
        pass
    elif args.toy:
        plot_training_curves(history, "training_curves.png")
        plot_decision_boundary(params, np.concatenate([X_train, X_val]), np.concatenate(
            [y_train, y_val]), "decision_boundary.png", f, f"{args.toy}, hidden layers "
            f"{','.join(map(str, args.hidden)) or 'none'}")
    else:
        plot_training_curves(history, "training_curves.png",
                             int(AUGMENTED_SHARE * args.epochs) if args.augment else None)
        if len(y_val):
            plot_sample_predictions(X_val, y_val, predictions, "predictions.png")
            plot_confusion_matrix(confusion_matrix(y_val, predictions), "confusion_matrix.png",
                                  "validation confusion matrix")
        plot_first_layer_weights(params["W1"], "first_layer_weights.png")
        if args.diagnose and history:
            plot_training_health(history, "training_health.png")
        if args.robustness:
            plot_lines(sigmas, accuracies, "robustness.png", "noise sigma (pixels in 0..1)",
                       "validation accuracy", "accuracy under Gaussian pixel noise")
        if args.explain:
            plot_saliency(X_val, y_val, params, "saliency.png", args.activation)
    if len(y_val):
        print(f"validation accuracy: {get_accuracy(predictions, y_val):.4f}")
    print(f"train seconds: {seconds:.2f}")
    return 130 if interrupted else 0


def use_network(args, params, f, uses):
    """A network's uses, trained or loaded (f: its activation): test CSV, submission, pictures."""
    if uses["test"]:
        X_test, y_test = uses["test"]
        predictions = get_predictions(params, scale_pixels(X_test), f)
        C = confusion_matrix(y_test, predictions)
        print("test accuracy per digit: " + per_class_text(C))
        print(f"test accuracy: {get_accuracy(predictions, y_test):.4f}")
        if not args.no_plot:
            plot_confusion_matrix(C, "test_confusion_matrix.png", "test confusion matrix")
    if uses["predict"]:
        predictions = get_predictions(params, scale_pixels(uses["predict"][0]), f)
        write_submission("submission.csv", predictions)
        print(f"submission written: submission.csv ({len(predictions)} rows, ImageId,Label)")
    if uses["images"]:
        P, _ = forward_propagation(np.stack(uses["images"]), params, f)
        for path, p in zip(args.image, P):
            print(f"{path}: prediction {p.argmax()} (probability {p.max():.2f})")
        if not args.no_plot:
            plot_image_predictions(args.image, uses["images"], P, "my_digits.png")


def compare_settings(args):
    """--compare: train each setting from scratch, without augmentation; print its accuracy."""
    X_train, y_train, X_val, y_val = training_data(args, np.random.default_rng(args.seed))
    sizes = args.compare == "architectures"
    settings = ([[32], [128], [256, 128], [512, 256], [256, 128, 64]] if sizes else
                [args.lr * factor for factor in (0.1, 0.3, 1, 3, 10)])
    labels = [",".join(map(str, s)) if sizes else f"{s:g}" for s in settings]
    name = "hidden layers" if sizes else "learning rate"
    print(f"{name:>16}  validation accuracy  seconds   ({args.epochs} epochs, {args.optimizer})")
    accuracies = []
    for label, setting in zip(labels, settings):
        rng, started = np.random.default_rng(args.seed), time.perf_counter()
        params = initialize_parameters([NUM_PIXELS, *(setting if sizes else args.hidden),
                                        NUM_CLASSES], rng)
        try:
            with np.errstate(all="ignore"):
                gradient_descent(params, X_train, y_train, args.epochs, args.batch_size,
                                 args.lr if sizes else setting, rng, OPTIMIZERS[args.optimizer])
            accuracies.append(get_accuracy(get_predictions(params, X_val), y_val))
        except FloatingPointError:                      # diverged: no accuracy to give
            accuracies.append(math.nan)
        print(f"{label:>16}  {accuracies[-1]:19.4f}  {time.perf_counter() - started:7.2f}",
              flush=True)
    if not args.no_plot:
        plot_lines(labels if sizes else settings, accuracies, "compare_architectures.png" if
                   sizes else "compare_learning_rates.png", name,
                   "validation accuracy", f"{name} after {args.epochs} epochs", not sizes)


def check_gradients():
    """--check-gradients: each activation with each output layer, and dropout, L1 and L2."""
    cases = [(a, h, {}) for a in ACTIVATIONS for h in HEADS] + [
        ("relu", "softmax", dict(dropout=0.3, l1=1e-3, l2=1e-2))]
    worst = 0.0
    for activation, head, extra in cases:
        error = max(check_gradients_of_small_network(activation, head, **extra).values())
        worst = max(worst, error)
        extras = " ".join(f"{k} {v:g}" for k, v in extra.items())
        print(f"{activation:>8} hidden, {head:>7} output {extras:26} largest relative error "
              f"{error:.1e}  {'ok' if error < 1e-6 else 'WRONG'}")
    print("gradient check passed (every error below 1e-6)" if worst < 1e-6 else
          "gradient check FAILED: backward_propagation disagrees with the loss")
    return 0 if worst < 1e-6 else 1


# Six classic ways to get stuck, made on purpose by --break. After the run, --diagnose reads
# the run's own numbers (it is not told which break it was); then this paragraph explains.
BREAKS = {
    "raw-pixels": "The pixels went in as 0..255, not 0..1. He's initialisation picks Var(w) = "
    "2 / 784 so that z = sum_i x_i w_i is about 1 when each x_i is; at 255 times that, softmax "
    "is certain from the first step, the loss starts huge and every step moves z 255x too far. To "
    "see it: X.max() is 255, and the first loss is far above log 10 = 2.30. Fix: scale_pixels(X).",
    "zero-init": "Every weight started at 0, so every unit of a layer computes the same z, gets "
    "the same gradient and stays a copy of its neighbours; with ReLU, z = 0 gives relu'(0) = 0, "
    "so no gradient reaches any weight and only the last bias learns (how common each digit "
    "is). To see it: the norms ||W_l|| stay 0, the loss near log 10, the accuracy near 1 in 10. "
    "Fix: random initial weights.",
    "lr-too-high": "The learning rate is 100 times too large. Adam moves each weight by about "
    "the rate every step; 0.2 is more than most weights (~0.05), so each step lands far from "
    "where its gradient was measured: the loss jumps about and units pushed below 0 for every "
    "input die. To see it: a step's update/weight ratio is 1e-1 or more, not about 1e-3. "
    "Fix: divide the rate by 10 until that ratio is near 1e-3.",
    "saturated": "Sigmoid hidden units started with weights 20 times too large, so z sits far "
    "from 0, where sigmoid is flat: s'(z) = s (1 - s) is near 0 and backpropagation multiplies "
    "the gradient by almost nothing at each layer (vanishing gradients). To see it: most hidden "
    "outputs sit at 0 or 1 (makemore warns above a few percent). Fix: Xavier's initialisation "
    "(the default here for sigmoid and tanh), or ReLU.",
    "shuffled-labels": "The labels were shuffled apart from their images, so a label says "
    "nothing about its image: training can only lower the loss by memorising each image's "
    "label, which carries over to no new digit. To see it: the training loss falls while the "
    "validation accuracy stays at 1 in 10. Fix: shuffle X and y with ONE order: "
    "order = rng.permutation(N); X, y = X[order], y[order].",
    "sorted": "The file is sorted by label and the rows were never shuffled, so each mini-batch "
    "holds one digit and each step pulls toward 'everything is this digit'; an epoch ends "
    "answering the last digit it saw. A batch's gradient stands for the whole data only if the "
    "batch is a fair sample of it. To see it: count the answers (np.bincount of the predictions):"
    " they pile onto one digit, one bright column in the confusion matrix. Fix: a new "
    "rng.permutation every epoch.",
}


def break_training(args):
    """--break WHAT: 10 epochs on 1,600 of the digits (400 validate) with one classic mistake
    made on purpose, --diagnose's report from the numbers, then what went wrong and why."""
    X, y = load_digits_csv(args.csv)
    rng, mistake = np.random.default_rng(args.seed), args.mistake
    X_train, y_train, X_val, y_val = split_train_val(X[:2000], y[:2000], 0.2, rng)
    scale = (lambda X: X.astype(np.float32)) if mistake == "raw-pixels" else scale_pixels
    X_train, X_val = scale(X_train), scale(X_val)
    if mistake == "shuffled-labels":
        y_train = rng.permutation(y_train)
    if mistake == "sorted":                   # batches of 8: each digit fills 20 steps in a row
        order = np.argsort(y_train, kind="stable")
        X_train, y_train, args.batch_size = X_train[order], y_train[order], 8
    args.activation = "sigmoid" if mistake == "saturated" else "relu"
    args.lr *= 100 if mistake == "lr-too-high" else 1
    args.epochs, args.augment, args.diagnose, args.lr_schedule = 10, False, True, "constant"
    params = initialize_parameters([NUM_PIXELS, 256, 128, NUM_CLASSES], rng,
                                   init="xavier" if mistake == "saturated" else "he")
    for key in params:                            # the hidden layers' weights, for saturated
        params[key] *= 0 if mistake == "zero-init" else 20 if (
            mistake == "saturated" and key in ("W1", "W2")) else 1
    print(f"--break {mistake}: training a 784-256-128-10 network on {len(y_train)} digits")
    fit(args, params, X_train, y_train, X_val, y_val, rng, shuffle=mistake != "sorted")
    import textwrap
    print("\n" + textwrap.fill("what went wrong: " + BREAKS[mistake], 90,
                               break_on_hyphens=False))


def write_exercise(path):
    """--exercise PATH: this file as homework. The bodies of the functions of cells 1-4 become
    `raise NotImplementedError`; their docstrings and comment lines stay, as hints. The tests
    check a student's work: NN_MODULE=PATH python -m pytest test_nn.py -k core (see README)."""
    import ast
    lines = open(__file__, encoding="utf-8").read().splitlines(keepends=True)
    first, last = (next(i for i, line in enumerate(lines) if line.startswith(heading))
                   for heading in ("# ## 1. Data", "# ## 5. "))
    functions = [node for node in ast.parse("".join(lines)).body if isinstance(
        node, ast.FunctionDef) and first < node.lineno - 1 < last]
    for node in reversed(functions):           # from the end, so line numbers stay right
        body = range(node.body[1].lineno - 1, node.end_lineno)   # after the docstring
        hints = [lines[i] for i in body if lines[i].strip().startswith("#")]
        lines[body.start:body.stop] = hints + [f'    raise NotImplementedError("{node.name}: '
                                               'write it from its docstring")\n']
    write_atomically(path, lambda f: f.write("".join(lines).encode("utf-8")))
    print(f"exercise written: {path} ({len(functions)} functions to write: "
          f"{', '.join(node.name for node in functions)})")


# Flat argparse, as makemore's: a run trains on the digits, or does one of the things in the
# `mode` group. Every picture is a PNG file in the current folder (shown too, given a screen).
def number(kind, low, high=math.inf):
    """An argparse type: text -> a number of that kind with low <= value < high."""
    def parse(text):
        value = kind(text)              # a ValueError makes argparse say "invalid ... value"
        if not low <= value < high:     # (nan fails every comparison, so it is refused too)
            raise argparse.ArgumentTypeError(f"{text} is not in [{low:g}, {high:g})")
        return value
    parse.__name__ = kind.__name__
    return parse


def parse_args(argv=None):
    """The flags, with each mode's own defaults where none was typed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog="The README has examples of each use.")
    mode = parser.add_mutually_exclusive_group().add_argument    # at most one of these
    mode("--load", metavar="MODEL.npz", help="use a saved network instead of training one")
    mode("--toy", choices=TOY_DATASETS, help="learn 2-D points; draw the decision boundary")
    mode("--compare", choices=["architectures", "learning-rates"], help="train 5 settings briefly")
    mode("--check-gradients", action="store_true", help="check backpropagation, every layer")
    mode("--worked-example", action="store_true", help="every number of one training step")
    mode("--break", dest="mistake", choices=BREAKS, help="a classic mistake, on purpose")
    mode("--exercise", metavar="PATH", help="this file as homework: the core left to write")
    add = parser.add_argument
    add("--csv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.csv"),
        help="labelled digits, CSV or Kaggle's zip (default: train.csv beside this file)")
    add("--val-fraction", type=number(float, 0, 1), default=0.1, help="held out (default: 0.1)")
    add("--hidden", type=lambda text: [number(int, 1)(n) for n in text.split(",") if n.strip()],
        default=[256, 128], help="hidden layer sizes (default: 256,128; '' for none)")
    add("--epochs", type=number(int, 0), help="default: 40; --toy 100; --compare 5")
    add("--batch-size", type=number(int, 1), help="default: 64; --toy 32")
    add("--lr", type=number(float, 0), help="learning rate (default: " + ", ".join(
        f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATES.items()) + "; --toy 0.01)")
    add("--optimizer", choices=OPTIMIZERS, default="adam", help="default: adam")
    add("--lr-schedule", choices=SCHEDULES, default="cosine", help="default: cosine")
    add("--activation", choices=ACTIVATIONS, default="relu", help="hidden units (default: relu)")
    add("--dropout", type=number(float, 0, 1), default=0.0, help="default: 0")
    add("--l1", type=number(float, 0), default=0.0, help="L1 weight penalty (default: 0)")
    add("--l2", type=number(float, 0), default=0.0, help="L2 weight penalty (default: 0)")
    add("--no-augment", dest="augment", action="store_false", help="no distorted digit copies")
    add("--patience", type=number(int, 1), help="epochs without gain before stopping (best kept)")
    add("--seed", type=number(int, 0), default=0, help="same seed, same numbers (default: 0)")
    add("--save", metavar="MODEL.npz", help="save the trained network")
    add("--test-csv", metavar="PATH", help="labelled digits to score: 'test accuracy'")
    add("--predict", metavar="TEST.csv", help="Kaggle's test.csv: write submission.csv")
    add("--image", nargs="+", action="extend", metavar="PATH", help="your own digit pictures")
    add("--diagnose", action="store_true", help="dead units and step sizes: is it healthy?")
    add("--robustness", action="store_true", help="validation accuracy under pixel noise")
    add("--explain", action="store_true", help="which pixels made it say what it said")
    add("--no-plot", action="store_true", help="draw no pictures")
    args = parser.parse_args(argv)
    if args.val_fraction == 0 and (args.patience or args.robustness or args.explain or
                                   args.compare):
        parser.error("--val-fraction 0 holds no digits out to measure on")
    if (args.toy or args.compare or args.check_gradients) and (args.save or args.test_csv or
                                                               args.predict or args.image):
        parser.error("--save, --test-csv, --predict and --image need a digit network: train "
                     "one (no mode flag) or --load one")
    if args.epochs is None:
        args.epochs = 100 if args.toy else 5 if args.compare else 40
    if args.batch_size is None:
        args.batch_size = 32 if args.toy else 64
    if args.lr is None:
        args.lr = 0.01 if args.toy else DEFAULT_LEARNING_RATES[args.optimizer]
    args.augment = args.augment and not args.toy and not args.compare
    return args


def main(argv=None):
    """Do what the flags ask; return the exit status (1: a failed gradient check, 130: Ctrl-C)."""
    args = parse_args(argv)
    # Before any work, refuse an output that is a folder, an input, another output or not
    # writable: no training wasted, no half-finished files, the user's data never overwritten.
    inputs = [path for path in [__file__, args.csv, args.load, args.test_csv, args.predict,
                                *(args.image or [])] if path]
    outputs = [path for path in [args.save, args.predict and "submission.csv", args.exercise]
               + ([] if args.no_plot else PICTURES) if path]
    for i, path in enumerate(outputs):
        for other in inputs + outputs[:i]:
            both = os.path.exists(path) and os.path.exists(other)
            if os.path.realpath(path) == os.path.realpath(other) or (
                    both and os.path.samefile(path, other)):
                raise InputError(f"{path} would be written over by this run, which also reads or "
                                 "writes it elsewhere; choose another output name.")
        if os.path.isdir(path) or not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            raise InputError(f"cannot write {path}: it is a folder, or its folder does not exist "
                             "or is not writable; choose another path.")
    for name in ("SIGTERM", "SIGHUP"):      # kill, or a closed terminal: stop as Ctrl-C does
        if hasattr(signal, name):           # (Windows has no SIGHUP)
            signal.signal(getattr(signal, name), signal.default_int_handler)
    status = 0                              # each mode prints its own closing lines
    if args.exercise:
        write_exercise(args.exercise)
    elif args.worked_example:
        print(worked_example())
    elif args.mistake:
        break_training(args)
    elif args.check_gradients:
        status = check_gradients()
    elif args.compare:
        compare_settings(args)
    else:
        status = train_digits(args)
    if "matplotlib.pyplot" in sys.modules:  # a picture was drawn: show it, given a screen
        sys.modules["matplotlib.pyplot"].show()
    return status


# %% [markdown]
# ## Run it
# From a shell, `python nn_from_scratch.py` runs the command line here. In a notebook this
# cell does nothing, and the cells below tell the story step by step.
# %%
if __name__ == "__main__" and not IN_NOTEBOOK:
    try:
        sys.exit(main())
    except (InputError, OSError, FloatingPointError) as err:    # our sentences, the system's
        if isinstance(err, OSError) and err.filename:
            err = f"{err.filename}: {err.strerror}; check the path and its permissions."
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        sys.exit(130)

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
# Before any training every digit looks about equally likely, roughly 1/10 each, so the loss
# starts near -log(1/10) = log(10) = 2.30.
# %%
if IN_NOTEBOOK:
    params = initialize_parameters([NUM_PIXELS, 256, 128, NUM_CLASSES], rng)
    P, cache = forward_propagation(X_train[:64], params)   # a mini-batch of N = 64
    for name, array in {**params, **cache}.items():
        print(f"{name:>3} {array.shape}")
    print(f"  P {P.shape}: each row sums to 1, e.g. {P[0].sum():.4f}")
    print(f"loss before training: {cross_entropy(P, y_train[:64]):.3f} "
          f"(log(10) = {np.log(10):.3f})")

# %% [markdown]
# Training: 10 epochs of gradient_descent (the command line runs 40, with augmentation),
# then the curves and the mistakes, which come first, in red.
# %%
if IN_NOTEBOOK:
    history = gradient_descent(params, X_train, y_train, 10, 64, 0.002, rng,
                               options=dict(schedule=cosine_schedule))
    plot_training_curves(history, None)
    predictions = get_predictions(params, X_val)
    print(f"validation accuracy: {get_accuracy(predictions, y_val):.4f}")
    plot_sample_predictions(X_val, y_val, predictions, None)
