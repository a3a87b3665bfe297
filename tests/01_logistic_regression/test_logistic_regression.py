"""Hidden suite for 01 logistic regression: shapes, gradients, accuracy."""

import functools

import pytest
import torch
import torch.nn.functional as F

from grader import checks
from grader.checks import assert_at_least, assert_close, calling, check_on_meta, check_tensor, clones, on_meta
from kata.data import two_blobs

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

# Likely causes of an exception raised inside the learner's code (shown by grader.checks.calling).
ELEMENTWISE = "work on the tensor with torch operations (torch.exp, torch.where), not math.exp or a Python loop"
BCE = "logits and y are tensors of the same shape (N,): combine them elementwise with torch operations, then .mean()"
GRADIENTS = "X is (N, D), w is (D,) and b a scalar: the scores X @ w + b are (N,), dw = X.T @ r / N is (D,)"
MODEL = ("__init__ creates self.linear = nn.Linear(in_features, 1) after super().__init__(); forward returns "
         "self.linear(x).squeeze(-1)")
TRAIN = ("train(model, X, y, *, epochs, lr): one full-batch step per epoch with an optimizer over model.parameters(), "
         "the loss from your bce_with_logits on model(X) and y")

DEVICE_HINT = ("a tensor made without device= lands on the CPU: make new tensors from the input "
               "(torch.zeros_like(z), torch.where(c, z, 0.0)) or pass device=z.device")
IN_PLACE = ("an in-place operation on an input (add_, mul_, div_, +=, x[mask] = ..., or out = x where a new "
            "tensor was meant): no task here promises to work in place, so compute into new tensors")


# The inputs left alone, with this topic's likely cause.
check_unchanged = functools.partial(checks.check_unchanged, hint=IN_PLACE)


def pair(result, name: str) -> tuple:
    """The two tensors a function promises, as a tuple, or a failure that says what came instead."""
    __tracebackhide__ = True
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"{name}: expected a pair of tensors (dw, db), got "
                             f"{type(result).__name__}: {result!r:.200}")
    return tuple(result)


@shapes
@task("sigmoid")
def test_sigmoid_keeps_shape_and_range(topic):
    with calling(ELEMENTWISE):
        z = torch.linspace(-100, 100, 24).reshape(2, 3, 4)  # (2, 3, 4)
        before = clones(z=z)
        p = check_tensor(topic.sigmoid(z), "sigmoid(z) for z of shape (2, 3, 4)", shape=(2, 3, 4), dtype=torch.float32,
                         hint="the output must have the input's shape and dtype; compute elementwise, no reduction")
        check_unchanged("sigmoid(z)", before, z=z)
        assert ((p >= 0) & (p <= 1)).all(), (
            f"sigmoid(z) must lie in [0, 1]; got values from {p.min():.3g} to {p.max():.3g}")


@shapes
@task("sigmoid")
def test_sigmoid_follows_the_inputs_device_and_dtype(topic):
    with calling(ELEMENTWISE):
        z = torch.linspace(-5, 5, 6, dtype=torch.float64)
        check_tensor(topic.sigmoid(z), "sigmoid(z) for float64 z", shape=(6,), dtype=torch.float64,
                     hint="compute in z's own dtype: no .float(), .double() or torch.tensor(...) of a new dtype")
        check_on_meta("sigmoid(z) for z (2, 3)", topic.sigmoid, torch.empty(2, 3, device="meta"), shape=(2, 3),
                      dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("sigmoid")
def test_sigmoid_matches_torch_and_stays_finite(topic):
    with calling(ELEMENTWISE):
        z = torch.tensor([-1000.0, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1000.0])
        assert_close(topic.sigmoid(z), torch.sigmoid(z), "sigmoid(z) for z from -1000 to 1000", atol=1e-6,
                     hint="exp(-z) overflows to inf for very negative z: use exp(z) / (1 + exp(z)) there")
        z = torch.cat([torch.randn(50, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]).requires_grad_()
        p = check_tensor(topic.sigmoid(z), "sigmoid(z) for z of shape (51,)", shape=(51,))
        assert p.requires_grad, ("sigmoid(z) carries no gradient: build it from torch operations on z "
                                 "(no detach, no .item())")
        (grad,) = torch.autograd.grad(p.sum(), z)
        assert_close(grad, torch.sigmoid(z) * (1 - torch.sigmoid(z)), "d sigmoid(z) / dz (z random, and z = 0 last)",
                     atol=1e-8, hint="build sigmoid from differentiable torch operations (no detach, no .item()). "
                     "If only z = 0 is wrong: autograd gives z.abs() the slope 0 at 0, so exp(-z.abs()) has no "
                     "gradient there; write -|z| as torch.where(z >= 0, -z, z)")
        z = torch.tensor([-1000.0, -100.0, 100.0, 1000.0], requires_grad=True)
        (grad,) = torch.autograd.grad(
            check_tensor(topic.sigmoid(z), "sigmoid(z) for z = ±100, ±1000", shape=(4,)).sum(), z)
        check_tensor(grad, "d sigmoid(z) / dz at z = ±100 and ±1000",
                     hint="1 / (1 + exp(-z)) has the gradient inf / inf = NaN once exp(-z) overflows; "
                          "compute exp(-|z|) instead, which stays in (0, 1]")


@shapes
@task("bce_with_logits")
def test_bce_is_a_scalar(topic):
    with calling(BCE):
        loss = topic.bce_with_logits(torch.randn(8), torch.ones(8))
        check_tensor(loss, "bce_with_logits(logits (8,), y (8,))", shape=(), dtype=torch.float32,
                     hint="return the mean over the batch, a 0-dimensional tensor (not a list, not .item())")


@shapes
@task("bce_with_logits")
def test_bce_follows_the_inputs_device_and_dtype(topic):
    with calling(BCE):
        logits, y = torch.linspace(-3, 3, 6, dtype=torch.float64), torch.tensor([0.0, 1.0] * 3, dtype=torch.float64)
        check_tensor(topic.bce_with_logits(logits, y), "bce_with_logits for float64 logits and y", shape=(),
                     dtype=torch.float64,
                     hint="compute in the logits' own dtype: no .float() and no new float32 tensors")
        check_on_meta("bce_with_logits(logits (5,), y (5,))", topic.bce_with_logits, torch.empty(5, device="meta"),
                      torch.empty(5, device="meta"), shape=(), dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("bce_with_logits")
def test_bce_matches_torch(topic):
    with calling(BCE):
        g = torch.Generator().manual_seed(1)
        logits = torch.randn(64, generator=g, dtype=torch.float64) * 3
        y = (torch.rand(64, generator=g) < 0.5).double()
        expected = F.binary_cross_entropy_with_logits(logits, y)
        before = clones(logits=logits, y=y)
        assert_close(topic.bce_with_logits(logits, y), expected, "bce_with_logits on random logits", atol=1e-10,
                     hint="the loss is -[y log σ(z) + (1-y) log(1-σ(z))], averaged (mean, not sum) over the batch; "
                          "it takes logits, not probabilities")
        check_unchanged("bce_with_logits(logits, y)", before, logits=logits, y=y)


@gradients
@task("bce_with_logits")
def test_bce_is_finite_for_extreme_logits(topic):
    with calling(BCE):
        logits = torch.tensor([100.0, -100.0, 100.0, -100.0], requires_grad=True)
        y = torch.tensor([1.0, 0.0, 0.0, 1.0])  # two confident right answers, two confident wrong ones
        loss = topic.bce_with_logits(logits, y)
        assert_close(loss, torch.tensor(50.0), "bce_with_logits for logits ±100", atol=1e-4,
                     hint="log(sigmoid(z)) is log(0) = -inf once sigmoid(z) rounds to 0: use softplus(z) - y*z with "
                          "softplus(z) = max(z, 0) + log1p(exp(-|z|)), both pieces written with "
                          "torch.where(z >= 0, ...)")
        (grad,) = torch.autograd.grad(loss, logits)
        assert_close(grad, torch.tensor([0.0, 0.0, 0.25, -0.25]), "d loss / d logits for logits ±100", atol=1e-6,
                     hint="the gradient of the mean loss is (σ(z) - y) / N; a NaN means an inf crept in")


@gradients
@task("bce_with_logits")
def test_bce_gradient_at_zero_logits(topic):
    # A zero-initialised model starts exactly here: every logit is 0, every σ(z) = 1/2.
    with calling(BCE):
        logits = torch.zeros(4, requires_grad=True)
        y = torch.tensor([1.0, 0.0, 1.0, 0.0])
        loss = check_tensor(topic.bce_with_logits(logits, y), "bce_with_logits at logits = 0", shape=())
        (grad,) = torch.autograd.grad(loss, logits)
        assert_close(grad, torch.tensor([-0.125, 0.125, -0.125, 0.125]), "d loss / d logits at logits = 0", atol=1e-6,
                     hint="the gradient is (σ(0) - y) / N = (0.5 - y) / 4. Autograd gives clamp(min=0) and abs() the "
                          "slope 0 at z = 0, so softplus written with them has slope 0 there instead of 1/2: write "
                          "both pieces with torch.where(z >= 0, ...), whose slopes at 0 are 1 and -1/2")


@shapes
@task("bce_gradients")
def test_hand_gradient_shapes(topic):
    with calling(GRADIENTS):
        X, y = torch.randn(10, 3), torch.ones(10)
        dw, db = pair(topic.bce_gradients(X, y, torch.zeros(3), torch.tensor(0.0)), "bce_gradients(X (10, 3), ...)")
        check_tensor(dw, "dw from bce_gradients(X (10, 3), ...)", shape=(3,), dtype=torch.float32,
                     hint="dw has one entry per feature: Xᵀ r")
        check_tensor(db, "db from bce_gradients(X (10, 3), ...)", shape=(), dtype=torch.float32,
                     hint="db is a scalar: the mean of r")


@shapes
@task("bce_gradients")
def test_hand_gradient_follows_the_inputs_device_and_dtype(topic):
    with calling(GRADIENTS):
        X, y = torch.randn(6, 2, dtype=torch.float64), torch.tensor([0.0, 1.0] * 3, dtype=torch.float64)
        w, b = torch.zeros(2, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64)
        for grad, shape in zip(pair(topic.bce_gradients(X, y, w, b), "bce_gradients for float64 inputs"), ((2,), ())):
            check_tensor(grad, "the gradients for float64 X, y, w, b", shape=shape, dtype=torch.float64,
                         hint="compute in the inputs' own dtype: no .float() and no new float32 tensors")
        meta = [torch.empty(6, 2, device="meta"), torch.empty(6, device="meta"), torch.empty(2, device="meta"),
                torch.empty((), device="meta")]
        with on_meta("bce_gradients(X, y, w, b)", hint=DEVICE_HINT) as run:
            grads = topic.bce_gradients(*meta)
        if run.ran:
            for grad, shape in zip(pair(grads, "bce_gradients on the meta device"), ((2,), ())):
                check_tensor(grad, "the gradients for inputs on the meta device", shape=shape, device="meta",
                             hint=DEVICE_HINT)


@gradients
@task("bce_gradients")
def test_hand_gradient_equals_autograd(topic):
    with calling(GRADIENTS):
        g = torch.Generator().manual_seed(2)
        X = torch.randn(40, 5, generator=g, dtype=torch.float64)
        y = (torch.rand(40, generator=g) < 0.5).double()
        w = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        F.binary_cross_entropy_with_logits(X @ w + b, y).backward()
        before = clones(X=X, y=y, w=w, b=b)
        with torch.no_grad():
            dw, db = pair(topic.bce_gradients(X, y, w, b), "bce_gradients(X (40, 5), y, w, b)")
        check_unchanged("bce_gradients(X, y, w, b)", before, X=X, y=y, w=w, b=b)
        assert_close(dw, w.grad, "dw = d loss / d w", atol=1e-10,
                     hint="dw = Xᵀ(σ(Xw+b) - y) / N: check the sign of the residual and the 1/N of the mean")
        assert_close(db, b.grad, "db = d loss / d b", atol=1e-10, hint="db = mean(σ(Xw+b) - y)")


@shapes
@task("LogisticRegression")
def test_model_outputs(topic):
    with calling(MODEL):
        model = topic.LogisticRegression(in_features=4)
        X = torch.randn(7, 4)
        check_tensor(model(X), "model(X) for X of shape (7, 4)", shape=(7,),
                     hint="nn.Linear gives (N, 1): squeeze the last dimension")
        check_tensor(model(X[:1]), "model(X) for a single sample, X of shape (1, 4)", shape=(1,),
                     hint="squeeze(-1), not squeeze(): squeeze() also removes the batch dimension when N = 1")
        p = check_tensor(model.predict_proba(X), "model.predict_proba(X)", shape=(7,))
        assert ((p >= 0) & (p <= 1)).all(), "predict_proba must return probabilities in [0, 1]; did you return logits?"
        labels = check_tensor(model.predict(X), "model.predict(X)", shape=(7,), dtype=torch.int64,
                              hint="return integer labels: (condition).long()")
        assert set(labels.tolist()) <= {0, 1}, f"predict must return labels 0 or 1, got {sorted(set(labels.tolist()))}"


@shapes
@task("LogisticRegression")
def test_model_runs_on_the_inputs_device(topic):
    with calling(MODEL):
        model = topic.LogisticRegression(in_features=3).to("meta")
        X = torch.empty(5, 3, device="meta")
        for name, dtype in (("forward", torch.float32), ("predict_proba", torch.float32), ("predict", torch.int64)):
            method = model if name == "forward" else getattr(model, name)
            check_on_meta(f"model.{name}(X) for X of shape (5, 3)", method, X, shape=(5,), dtype=dtype,
                          hint=DEVICE_HINT)


@gradients
@task("LogisticRegression")
def test_model_is_linear_then_threshold(topic):
    with calling(MODEL):
        model = topic.LogisticRegression(in_features=2)
        params = dict(model.named_parameters())
        assert sum(p.numel() for p in params.values()) == 3, (
            f"LogisticRegression(in_features=2) should have 3 parameters (w: 2, b: 1), got "
            f"{ {k: tuple(v.shape) for k, v in params.items()} }"
        )
        with torch.no_grad():
            model.linear.weight.copy_(torch.tensor([[2.0, -1.0]]))
            model.linear.bias.fill_(0.5)
        X = torch.tensor([[1.0, 1.0], [0.0, 3.0], [-1.0, -1.0], [0.0, 0.5]])  # logits 1.5, -2.5, -0.5, 0.0
        before = clones(X=X)
        logits = torch.tensor([1.5, -2.5, -0.5, 0.0])
        assert_close(model(X), logits, "model(X) with w = (2, -1), b = 0.5",
                     hint="forward must return the raw score w·x + b (logits), with no sigmoid")
        assert_close(model.predict_proba(X), torch.sigmoid(logits),
                     "predict_proba(X) for logits (1.5, -2.5, -0.5, 0.0)",
                     hint="predict_proba is p(y = 1 | x) = sigmoid(logit), the probability of class 1")
        labels = check_tensor(model.predict(X), "predict(X) for logits (1.5, -2.5, -0.5, 0.0)", shape=(4,))
        assert labels.tolist() == [1, 0, 0, 1], (
            f"predict(X) for logits (1.5, -2.5, -0.5, 0.0): expected [1, 0, 0, 1], got {labels.tolist()}. "
            "Likely cause: thresholding the logits at 0.5 instead of the probabilities (or the logits at 0); "
            "the last sample has p = 0.5 exactly, which is class 1: p >= 0.5 (logit >= 0), not p > 0.5"
        )
        check_unchanged("model(X), model.predict_proba(X) and model.predict(X)", before, X=X)


@gradients
@task("train")
def test_train_takes_plain_gradient_steps(topic):
    with calling(TRAIN):
        g = torch.Generator().manual_seed(3)
        X, y = torch.randn(30, 2, generator=g), (torch.rand(30, generator=g) < 0.5).float()
        model = topic.LogisticRegression(in_features=2)
        w0, b0 = model.linear.weight.detach().clone(), model.linear.bias.detach().clone()
        before = clones(X=X, y=y)
        losses = topic.train(model, X, y, epochs=3, lr=0.1)
        check_unchanged("train(model, X, y, epochs=3, lr=0.1)", before, X=X, y=y)
        assert isinstance(losses, list) and len(losses) == 3 and all(isinstance(v, float) for v in losses), (
            f"train(epochs=3) should return a list of 3 floats, got {losses!r:.200}")
        # Three steps of plain gradient descent on the mean BCE, from the same start.
        w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
        expected = []
        for _ in range(3):
            loss = F.binary_cross_entropy_with_logits((X @ w.T).squeeze(-1) + b, y)
            expected.append(loss.item())
            gw, gb = torch.autograd.grad(loss, (w, b))
            w, b = (w - 0.1 * gw).detach().requires_grad_(), (b - 0.1 * gb).detach().requires_grad_()
        assert_close(model.linear.weight, w, "weights after train(epochs=3, lr=0.1)", atol=1e-5,
                     hint="each epoch must be one step: optimizer.zero_grad(), loss.backward(), optimizer.step(). "
                          "Without zero_grad() the gradients of earlier steps add up")
        assert_close(model.linear.bias, b, "bias after train(epochs=3, lr=0.1)", atol=1e-5)
        assert_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                     "the losses train(epochs=3, lr=0.1) returns", atol=1e-5,
                     hint="train returns the loss before each step: the loss the step's gradient comes from, "
                          "not one computed again after optimizer.step()")


@gradients
@task("train")
def test_train_with_zero_epochs_or_zero_lr_leaves_the_model(topic):
    # 0 and 0.0 are values, not "not given": `lr or 0.5` would step at the default rate.
    with calling(TRAIN):
        g = torch.Generator().manual_seed(4)
        X, y = torch.randn(20, 3, generator=g), (torch.rand(20, generator=g) < 0.5).float()
        model = topic.LogisticRegression(in_features=3)
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        losses = topic.train(model, X, y, epochs=0, lr=0.1)
        assert losses == [], f"train(epochs=0) should take no step and return [], got {losses!r:.200}"
        for key, value in model.state_dict().items():
            assert_close(value, start[key], f"model.{key} after train(epochs=0, lr=0.1)", atol=0, rtol=0,
                         hint="epochs=0 means no step at all, not a default number of epochs")
        losses = topic.train(model, X, y, epochs=2, lr=0.0)
        expected = F.binary_cross_entropy_with_logits(X @ start["linear.weight"][0] + start["linear.bias"], y)
        assert isinstance(losses, list) and len(losses) == 2, (
            f"train(epochs=2, lr=0.0) should return 2 losses, got {losses!r:.200}")
        assert_close(torch.tensor(losses, dtype=torch.float64), expected.double().repeat(2),
                     "the losses train(epochs=2, lr=0.0) returns: twice the loss of the untouched model", atol=1e-6,
                     hint="lr=0.0 is a step of size 0, not 'no lr given': nothing may move, so both losses are the "
                          "starting loss. `lr or 0.5` (or `if lr:`) reads 0.0 as missing")
        for key, value in model.state_dict().items():
            assert_close(value, start[key], f"model.{key} after train(epochs=2, lr=0.0)", atol=0, rtol=0,
                         hint="a step of size lr = 0.0 changes nothing: pass lr on as it is, never `lr or default`")


@accuracy
@task("train")
def test_learns_two_blobs(topic, seed, device):
    with calling(TRAIN):
        torch.manual_seed(seed)
        X, y = (t.to(device) for t in two_blobs(400, seed=seed))
        X_test, y_test = (t.to(device) for t in two_blobs(1000, seed=seed, split="test"))
        model = topic.LogisticRegression(in_features=2).to(device)
        losses = topic.train(model, X, y, epochs=100, lr=0.5)
        assert losses[-1] < losses[0], (
            f"the loss should fall during training: first {losses[0]:.4f}, last {losses[-1]:.4f}")
        with torch.no_grad():
            labels = check_tensor(model.predict(X_test), "model.predict(X_test) for 1,000 test points", shape=(1000,))
            acc = (labels == y_test.long()).float().mean().item()
        assert_at_least(acc, 0.95, "test accuracy on two blobs after 100 epochs", chance=0.5,
                        hint="check predict() and the sign of the loss; the solution reaches 0.97-0.98")
