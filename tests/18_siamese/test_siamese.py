"""Hidden suite for 18 Siamese network: one encoder for both branches, the pairwise distance, the
contrastive loss with its label convention, the triplet loss against nn.TripletMarginLoss, triplet
mining against a brute-force search, the verification threshold, the training step against
hand-written Adam steps, and verification of glyph classes the network never saw.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kata.datasets
from grader.checks import (
    assert_at_least,
    assert_close,
    assert_equal,
    calling,
    check_on_meta,
    check_tensor,
    check_unchanged,
    clones,
    on_meta,
)
from kata import pictures
from kata.images import glyphs

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

ENCODER = "the given Encoder raised inside SiameseNet: pass x to self.encoder as it is, (B, C, H, W)"


def _net(topic, normalize=True, embed_dim=6):
    torch.manual_seed(0)
    return topic.SiameseNet(topic.Encoder(1, embed_dim, width=2), normalize=normalize)


def _distance(x1, x2):
    return (x1 - x2).pow(2).sum(-1).sqrt()


# ------------------------------------------------------------------ SiameseNet
@shapes
@task("SiameseNet")
def test_siamese_net_shapes_and_one_set_of_parameters(topic):
    encoder = topic.Encoder(1, 6, width=2)
    model = topic.SiameseNet(encoder)
    assert getattr(model, "encoder", None) is encoder, (
        "SiameseNet(encoder).encoder should be the encoder given, the very same module (not a copy): both branches "
        "run it")
    own = {id(p) for p in model.parameters()}
    given = {id(p) for p in encoder.parameters()}
    assert own == given, (
        f"SiameseNet's parameters should be exactly its encoder's ({len(given)} tensors), got {len(own)} tensors, "
        f"{len(own & given)} of them the encoder's. Likely cause: a second encoder (copy.deepcopy) for the second "
        "branch: two sets of weights, where a Siamese network has one")
    with torch.device("meta"):
        meta_model = topic.SiameseNet(topic.Encoder(1, 6, width=2))
    x1, x2 = torch.zeros(3, 1, 12, 12, device="meta"), torch.zeros(3, 1, 12, 12, device="meta")
    with calling(ENCODER):
        check_on_meta("SiameseNet.embed(x (3, 1, 12, 12))", meta_model.embed, x1, shape=(3, 6),
                      hint="embed returns one embedding per image: (B, D)")
        out = meta_model(x1, x2)
    assert isinstance(out, tuple) and len(out) == 2, f"SiameseNet(x1, x2) should return (z1, z2), got {type(out)}"
    for name, z in zip(("z1", "z2"), out):
        check_tensor(z, f"SiameseNet(x1, x2) {name} on the meta device", shape=(3, 6), device="meta", finite=False)
    model = _net(topic, normalize=False).double()
    with calling(ENCODER):
        z = model.embed(torch.rand(2, 1, 10, 10, dtype=torch.float64))
    check_tensor(z, "SiameseNet(..., normalize=False).double().embed(x float64)", shape=(2, 6), dtype=torch.float64)


@gradients
@task("SiameseNet")
def test_embed_normalises_each_embedding_and_forward_keeps_the_order(topic):
    g = torch.Generator().manual_seed(1)
    x1 = torch.rand(3, 1, 10, 10, generator=g)
    x1[0] *= 20  # rows of very different scales: normalising the wrong dimension shows
    x2 = torch.rand(3, 1, 10, 10, generator=g)
    for normalize in (True, False):
        model = _net(topic, normalize=normalize)
        raw = model.encoder(x1).detach()
        expected = F.normalize(raw, dim=1) if normalize else raw
        with calling(ENCODER):
            got = model.embed(x1)
        assert_close(got, expected, f"SiameseNet(encoder, normalize={normalize}).embed(x)", atol=1e-6,
                     hint="normalize=True divides each row (each embedding) by its Euclidean norm, F.normalize(z, "
                          "dim=1); normalize=False returns self.encoder(x) as it is")
    model = _net(topic, normalize=False)  # normalize's default is True: a default of False shows here
    model = topic.SiameseNet(model.encoder)
    with calling(ENCODER):
        z1, z2 = model(x1, x2)
    assert_close(z1, F.normalize(model.encoder(x1), dim=1).detach(), "z1 of SiameseNet(encoder)(x1, x2)", atol=1e-6,
                 hint="normalize defaults to True; z1 is the embedding of x1, the first input")
    assert_close(z2, F.normalize(model.encoder(x2), dim=1).detach(), "z2 of SiameseNet(encoder)(x1, x2)", atol=1e-6,
                 hint="z2 is the embedding of x2, through the same encoder")
    one, _ = model(x1[:1], x2[:1])
    assert_close(one, z1[:1].detach(), "SiameseNet(x1[:1], x2[:1]): a batch of one", atol=1e-6,
                 hint="a batch of one image is a batch too: no squeeze()")


@gradients
@task("SiameseNet")
def test_gradients_reach_the_one_encoder_from_both_branches(topic):
    g = torch.Generator().manual_seed(2)
    x1, x2 = torch.rand(4, 1, 10, 10, generator=g), torch.rand(4, 1, 10, 10, generator=g)
    w1, w2 = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    model = _net(topic)
    reference = copy.deepcopy(model.encoder)
    with calling(ENCODER):
        z1, z2 = model(x1, x2)
    params = list(model.encoder.parameters())
    grads = {}
    for name, loss in (("the first branch", (z1 * w1).sum()), ("the second branch", (z2 * w2).sum())):
        grads[name] = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    for branch, r1, r2 in (("the first branch", w1, 0 * w2), ("the second branch", 0 * w1, w2)):
        ref_loss = (F.normalize(reference(x1), dim=1) * r1).sum() + (F.normalize(reference(x2), dim=1) * r2).sum()
        expected = torch.autograd.grad(ref_loss, list(reference.parameters()))
        for (pname, _), got, want in zip(model.encoder.named_parameters(), grads[branch], expected):
            assert got is not None, (
                f"the encoder's {pname} gets no gradient from {branch}. Likely cause: that branch runs under "
                "torch.no_grad(), is detached, or runs another module than self.encoder")
            assert_close(got, want, f"the gradient of encoder.{pname} from {branch}", atol=1e-5,
                         hint="both branches run self.encoder with gradients; nothing detached, no second encoder")


# ------------------------------------------------------------------ pairwise_distance
@shapes
@task("pairwise_distance")
def test_pairwise_distance_shapes_dtype_and_device(topic):
    meta = torch.zeros(5, 4, device="meta")
    check_on_meta("pairwise_distance(x1 (5, 4), x2 (5, 4))", topic.pairwise_distance, meta, meta, shape=(5,),
                  hint="one distance per row: reduce the last dimension")
    got = topic.pairwise_distance(torch.rand(2, 3, 4, dtype=torch.float64), torch.rand(4, dtype=torch.float64))
    check_tensor(got, "pairwise_distance(x1 (2, 3, 4) float64, x2 (4,) float64)", shape=(2, 3), dtype=torch.float64,
                 hint="reduce the last dimension only (dim=-1), and let x1 and x2 broadcast")


@gradients
@task("pairwise_distance")
def test_pairwise_distance_equals_f_pairwise_distance(topic):
    g = torch.Generator().manual_seed(3)
    x1 = torch.randn(5, 4, generator=g, dtype=torch.float64)
    x2 = torch.randn(5, 4, generator=g, dtype=torch.float64)
    x2[2] = x1[2]  # identical rows: the distance is eps * D ** (1 / p), not 0
    before = clones(x1=x1, x2=x2)
    got = topic.pairwise_distance(x1, x2)
    check_unchanged("pairwise_distance(x1, x2)", before, x1=x1, x2=x2,
                    hint="x1 - x2 makes a new tensor; x1.sub_(x2) changes the caller's x1")
    assert_close(got, F.pairwise_distance(x1, x2), "pairwise_distance(x1, x2) with the defaults p=2, eps=1e-6",
                 atol=1e-12, hint="eps defaults to 1e-6 and is added to the difference: identical rows are "
                                  "1e-6 * sqrt(D) apart, not 0")
    for p in (1.0, 3.0, 2.0):
        for eps in (0.3, 0.0):
            a, b = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
            got = topic.pairwise_distance(a, b, p=p, eps=eps)
            want = F.pairwise_distance(x1, x2, p=p, eps=eps)
            where = f"pairwise_distance(x1, x2, p={p}, eps={eps})"
            assert_close(got, want, where, atol=1e-10,
                         hint="||x1 - x2 + eps||_p over the last dimension: eps goes into the difference, and "
                              "eps=0.0 means no eps at all (not the default)")
            if eps:  # where x1 == x2 and eps = 0, the norm has no gradient to compare
                a2, b2 = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
                weights = torch.randn(5, generator=g, dtype=torch.float64)
                ours = torch.autograd.grad((got * weights).sum(), (a, b))
                theirs = torch.autograd.grad((F.pairwise_distance(a2, b2, p=p, eps=eps) * weights).sum(), (a2, b2))
                for name, o, t in zip(("x1", "x2"), ours, theirs):
                    assert_close(o, t, f"the gradient of {where} with respect to {name}", atol=1e-10,
                                 hint="compute with differentiable torch operations on the tensors themselves")


# ------------------------------------------------------------------ contrastive_loss
def _contrastive(d, y, margin):
    return ((1 - y) * d**2 / 2 + y * torch.clamp(margin - d, min=0) ** 2 / 2).mean()


@shapes
@task("contrastive_loss")
def test_contrastive_loss_is_a_scalar_on_the_input_device(topic):
    meta = torch.zeros(5, device="meta")
    check_on_meta("contrastive_loss(distance (5,), y (5,))", topic.contrastive_loss, meta, meta, shape=(),
                  hint="the mean over the pairs: one number, a 0-dimensional tensor")
    d = torch.rand(5, dtype=torch.float64)
    got = topic.contrastive_loss(d, torch.ones(5, dtype=torch.float64), margin=2.0)
    check_tensor(got, "contrastive_loss(distance float64, y float64)", shape=(), dtype=torch.float64)


@gradients
@task("contrastive_loss")
def test_contrastive_loss_uses_y_one_for_dissimilar_pairs(topic):
    zero, one = torch.zeros(1), torch.ones(1)
    similar = topic.contrastive_loss(torch.zeros(1), zero, margin=2.0)
    dissimilar = topic.contrastive_loss(torch.zeros(1), one, margin=2.0)
    hint = ("y = 0 is a SIMILAR pair (it costs d^2 / 2) and y = 1 a DISSIMILAR one (max(0, margin - d)^2 / 2), as in "
            "Hadsell et al. Libraries that use y = 1 for similar pairs have the opposite convention")
    assert_close(similar, torch.tensor(0.0), "contrastive_loss(distance 0, y = 0 (similar), margin=2)", atol=1e-7,
                 hint=hint)
    assert_close(dissimilar, torch.tensor(2.0), "contrastive_loss(distance 0, y = 1 (dissimilar), margin=2): 2^2 / 2",
                 atol=1e-6, hint=hint + "; keep the 1/2")
    d = torch.tensor([0.0, 0.3, 0.8, 1.5, 2.5, 0.6, 0.05], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    for margin in (2.0, 0.5, 0.0, None):
        dd = d.clone().requires_grad_(True)
        if margin is None:
            got, margin, where = topic.contrastive_loss(dd, y), 1.0, "contrastive_loss(d, y), margin's default 1.0"
        else:
            got, where = topic.contrastive_loss(dd, y, margin=margin), f"contrastive_loss(d, y, margin={margin})"
        want = _contrastive(d, y, margin)
        assert_close(got, want, where, atol=1e-12,
                     hint="the mean over the pairs of (1 - y) d^2 / 2 + y max(0, margin - d)^2 / 2; the margin as "
                          "given (0.0: dissimilar pairs cost nothing), 1.0 when not given")
        (grad,) = torch.autograd.grad(got, dd)
        dd2 = d.clone().requires_grad_(True)
        (want_grad,) = torch.autograd.grad(_contrastive(dd2, y, margin), dd2)
        assert_close(grad, want_grad, f"the gradient of {where}", atol=1e-12,
                     hint="a dissimilar pair farther than the margin gets no gradient: clamp(min=0) before squaring")


# ------------------------------------------------------------------ triplet_loss
@shapes
@task("triplet_loss")
def test_triplet_loss_is_a_scalar_on_the_input_device(topic):
    meta = torch.zeros(5, 3, device="meta")
    check_on_meta("triplet_loss(anchor, positive, negative (5, 3) each)", topic.triplet_loss, meta, meta, meta,
                  shape=(), hint="the mean over the triplets: one number")
    x = torch.rand(4, 3, dtype=torch.float64)
    got = topic.triplet_loss(x, x.flip(0), x + 1, swap=True)
    check_tensor(got, "triplet_loss(float64 inputs, swap=True)", shape=(), dtype=torch.float64)


@gradients
@task("triplet_loss")
def test_triplet_loss_equals_nn_triplet_margin_loss(topic):
    g = torch.Generator().manual_seed(5)
    anchor = torch.randn(8, 4, generator=g, dtype=torch.float64)
    positive = anchor + 0.6 * torch.randn(8, 4, generator=g, dtype=torch.float64)
    negative = anchor + 1.0 * torch.randn(8, 4, generator=g, dtype=torch.float64)
    negative[:3] = positive[:3] + 0.1 * torch.randn(3, 4, generator=g, dtype=torch.float64)  # swap matters here
    settings = [dict(), dict(margin=0.3), dict(margin=0.05), dict(margin=2.0, p=1.0), dict(p=3.0, eps=0.2),
                dict(swap=True), dict(margin=0.5, swap=True, p=1.0)]
    for kwargs in settings:
        a, p, n = (t.clone().requires_grad_(True) for t in (anchor, positive, negative))
        got = topic.triplet_loss(a, p, n, **kwargs)
        reference = nn.TripletMarginLoss(**kwargs)
        a2, p2, n2 = (t.clone().requires_grad_(True) for t in (anchor, positive, negative))
        want = reference(a2, p2, n2)
        where = f"triplet_loss(anchor, positive, negative{''.join(f', {k}={v}' for k, v in kwargs.items())})"
        assert_close(got, want, where, atol=1e-10,
                     hint="mean of max(0, d(a, p) - d(a, n) + margin) with your pairwise_distance(., ., p=p, eps=eps); "
                          "swap=True replaces d(a, n) by min(d(a, n), d(p, n))")
        ours = torch.autograd.grad(got, (a, p, n))
        theirs = torch.autograd.grad(want, (a2, p2, n2))
        for name, o, t in zip(("anchor", "positive", "negative"), ours, theirs):
            assert_close(o, t, f"the gradient of {where} with respect to {name}", atol=1e-10,
                         hint="triplets already margin apart get no gradient: clamp(min=0) before the mean")


# ------------------------------------------------------------------ mine_triplets
MINING = ("positive[i]: the farthest row of i's class other than i; negative[i]: semi_hard=False the nearest row of "
          "another class, semi_hard=True the nearest row of another class farther than the positive (none: the "
          "farthest negative)")


def _brute_force(z, labels, semi_hard):
    """Per anchor, by loops: (the positive's distance, the negative's distance, valid)."""
    B = len(labels)
    d = _distance(z[:, None], z[None, :])
    found = []
    for i in range(B):
        pos = [d[i, j].item() for j in range(B) if j != i and labels[j] == labels[i]]
        neg = [d[i, j].item() for j in range(B) if labels[j] != labels[i]]
        if not pos or not neg:
            found.append((None, None, False))
            continue
        dp = max(pos)
        if semi_hard:
            beyond = [x for x in neg if x > dp]
            dn = min(beyond) if beyond else max(neg)
        else:
            dn = min(neg)
        found.append((dp, dn, True))
    return d, found


@shapes
@task("mine_triplets")
def test_mine_triplets_shapes_on_the_input_device(topic):
    labels = torch.tensor([3, 3, 7, 7, 7, 9], device="meta")
    hint = "make every mask on the embeddings' device (torch.eye(B, dtype=torch.bool, device=embeddings.device))"
    with on_meta("mine_triplets(embeddings (6, 4), labels (6,))", hint=hint) as meta:
        out = topic.mine_triplets(torch.zeros(6, 4, device="meta"), labels)
    if meta.ran:  # code that reads values (a loop over the anchors) cannot run on meta, and is not wrong
        assert isinstance(out, tuple) and len(out) == 3, "mine_triplets should return (positive, negative, valid)"
        for name, value, dtype in zip(("positive", "negative", "valid"), out, (torch.int64, torch.int64, torch.bool)):
            check_tensor(value, f"mine_triplets(...) {name} on the meta device", shape=(6,), dtype=dtype,
                         device="meta", finite=False, hint="one entry per anchor (B,), on the embeddings' device")
    out = topic.mine_triplets(torch.zeros(5, 2, dtype=torch.float64), torch.tensor([1, 1, 2, 2, 2]))
    assert isinstance(out, tuple) and len(out) == 3, "mine_triplets should return (positive, negative, valid)"
    for name, value, dtype in zip(("positive", "negative", "valid"), out, (torch.int64, torch.int64, torch.bool)):
        check_tensor(value, f"mine_triplets(embeddings (5, 2) float64, labels) {name}", shape=(5,), dtype=dtype)


@gradients
@task("mine_triplets")
def test_mine_triplets_match_a_brute_force_search(topic):
    g = torch.Generator().manual_seed(6)
    labels = torch.tensor([4, 9, 4, 2, 9, 4, 2, 7, 9, 4, 2, 9])  # class 7 is seen once: anchor 7 has no positive
    for semi_hard in (False, True):
        for trial in range(3):
            z = torch.randn(12, 3, generator=g, dtype=torch.float64) * (1 + trial)
            before = clones(z=z)
            positive, negative, valid = topic.mine_triplets(z, labels, semi_hard=semi_hard)
            check_unchanged("mine_triplets(z, labels)", before, z=z)
            d, found = _brute_force(z, labels, semi_hard)
            where = f"mine_triplets(z (12, 3), labels, semi_hard={semi_hard})"
            assert_equal(valid, torch.tensor([f[2] for f in found]), f"{where} valid",
                         hint="valid: the anchor has another row of its class (not itself) and a row of another class")
            for i, (dp, dn, ok) in enumerate(found):
                if not ok:
                    continue
                p, n = int(positive[i]), int(negative[i])
                assert p != i and labels[p] == labels[i], (
                    f"{where}: positive[{i}] = {p} is {'the anchor itself' if p == i else 'of another class'}. "
                    f"Likely cause: the positive mask must be same class and not the diagonal")
                assert labels[n] != labels[i], f"{where}: negative[{i}] = {n} is of the anchor's own class"
                assert abs(d[i, p].item() - dp) < 1e-9 and abs(d[i, n].item() - dn) < 1e-9, (
                    f"{where}, anchor {i}: picked a positive at distance {d[i, p].item():.4f} and a negative at "
                    f"{d[i, n].item():.4f}; a brute-force search finds {dp:.4f} and {dn:.4f}. Likely cause: {MINING}")
    default = topic.mine_triplets(z, labels)
    _, found = _brute_force(z, labels, True)
    picked = [d[i, int(default[1][i])].item() for i in range(12) if found[i][2]]
    assert_close(torch.tensor(picked), torch.tensor([f[1] for f in found if f[2]]),
                 "the negatives' distances of mine_triplets(z, labels) (semi_hard's default is True)", atol=1e-9,
                 hint="semi_hard defaults to True")
    one_class = topic.mine_triplets(torch.randn(4, 3, generator=g), torch.tensor([5, 5, 5, 5]))
    assert_equal(one_class[2], torch.zeros(4, dtype=torch.bool), "valid for a batch of one class",
                 hint="an anchor with no row of another class has no negative: not valid")


# ------------------------------------------------------------------ choose_threshold
def _accuracy(d, same, t):
    return ((d <= t) == same).double().mean().item()


def _best_accuracy(d, same):
    candidates = torch.cat([d.unique(), d.min()[None] - 1])
    return max(_accuracy(d, same, t) for t in candidates.tolist())


@gradients
@task("choose_threshold")
def test_choose_threshold_is_the_best_on_the_training_pairs(topic):
    g = torch.Generator().manual_seed(7)
    cases = {
        "separable pairs": (torch.tensor([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]),
                            torch.tensor([True, True, True, False, False, False])),
        "overlapping pairs, more different than same": (
            torch.cat([torch.rand(10, generator=g) * 0.6, 0.4 + torch.rand(30, generator=g) * 0.6]),
            torch.cat([torch.ones(10, dtype=torch.bool), torch.zeros(30, dtype=torch.bool)])),
        # Ties: three pairs at 0.5, one same and two different; the same pairs below them.
        "tied distances": (torch.tensor([0.2, 0.5, 0.5, 0.5, 0.3, 0.9, 0.4]),
                           torch.tensor([True, True, False, False, True, False, True])),
        "only different pairs": (torch.tensor([0.3, 0.1, 0.2]), torch.tensor([False, False, False])),
        "one pair": (torch.tensor([0.4]), torch.tensor([True])),
    }
    for name, (d, same) in cases.items():
        before = clones(distances=d)
        t = topic.choose_threshold(d, same)
        check_unchanged("choose_threshold(distances, same)", before, distances=d)
        assert isinstance(t, float), f"choose_threshold should return a Python float (.item()), got {type(t)}"
        got, best = _accuracy(d, same, t), _best_accuracy(d, same)
        assert got >= best - 1e-12, (
            f"choose_threshold on {name} (distances {[round(x, 3) for x in d.tolist()][:8]}...) returned {t:.4f}, "
            f"right on {got:.3f} of the pairs with 'same when distance <= threshold'; the best threshold is right on "
            f"{best:.3f}. Likely cause: the threshold is not the one with the most right answers (a mean or a "
            "midpoint of the classes' means is not), ties were split (pairs at one distance are called the same "
            "way), or calling no pair 'same' was never tried")


# ------------------------------------------------------------------ train_step
def _semi_hard(z, labels):
    """The test's own mining, by loops: (anchors, positives, negatives) index lists of the valid anchors."""
    d = _distance(z[:, None], z[None, :])
    anchors, positives, negatives = [], [], []
    for i in range(len(labels)):
        pos = [j for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(len(labels)) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        p = max(pos, key=lambda j: d[i, j].item())
        beyond = [j for j in neg if d[i, j] > d[i, p]]
        n = min(beyond, key=lambda j: d[i, j].item()) if beyond else max(neg, key=lambda j: d[i, j].item())
        anchors.append(i), positives.append(p), negatives.append(n)
    return anchors, positives, negatives


@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    g = torch.Generator().manual_seed(8)
    X = torch.rand(12, 1, 10, 10, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 3, 0, 1, 5, 5, 5])  # class 3 is seen once
    for objective in ("triplet", "contrastive"):
        model = _net(topic)
        reference = copy.deepcopy(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        with calling(f"train_step(model, optimizer, (X, y), objective={objective!r}, margin=0.3)"):
            losses = [topic.train_step(model, optimizer, (X[:6], y[:6]), objective=objective, margin=0.3),
                      topic.train_step(model, optimizer, (X[6:], y[6:]), objective=objective, margin=0.3)]
        assert all(isinstance(loss, float) for loss in losses), (
            f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
        optimizer = torch.optim.Adam(reference.encoder.parameters(), lr=0.01)
        expected = []
        for batch in (slice(0, 6), slice(6, 12)):
            optimizer.zero_grad()
            z = F.normalize(reference.encoder(X[batch]), dim=1)
            labels = y[batch]
            if objective == "triplet":
                a, p, n = _semi_hard(z.detach(), labels)
                d_ap = (z[a] - z[p] + 1e-6).norm(dim=1)
                d_an = (z[a] - z[n] + 1e-6).norm(dim=1)
                loss = (d_ap - d_an + 0.3).clamp(min=0).mean()
            else:
                i, j = torch.triu_indices(6, 6, offset=1)
                loss = _contrastive((z[i] - z[j] + 1e-6).norm(dim=1), (labels[i] != labels[j]).float(), 0.3)
            loss.backward()
            optimizer.step()
            expected.append(loss.item())
        hint = (f"objective={objective!r}: zero_grad, z = model.embed(X), " + (
            "the triplet_loss of the valid anchors with mine_triplets(z.detach(), y)'s positives and semi-hard "
            "negatives" if objective == "triplet" else
            "the contrastive_loss of pairwise_distance(z[i], z[j]) for every pair i < j, y = 1.0 where the labels "
            "differ") + ", both with the margin given; backward, step, return loss.item()")
        assert_close(torch.tensor(losses), torch.tensor(expected), f"the losses of two train_step calls ({objective})",
                     atol=1e-5, hint=hint)
        for (name, got), want in zip(model.encoder.named_parameters(), reference.encoder.parameters()):
            assert_close(got, want, f"encoder.{name} after two train_step calls ({objective})", atol=1e-5, hint=hint)


def _verification(model, X, y, seed):
    """AUC on pairs of the given images: the probability that a same pair is nearer than a different pair."""
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, len(y), (2, 3000), generator=g)
    keep = i != j
    i, j = i[keep], j[keep]
    same = y[i] == y[j]
    model.eval()
    with torch.no_grad():
        z = model.embed(X).cpu()
    y = y.cpu()
    return _auc(_distance(z[i], z[j]), same), (i, j, same)


def _auc(d, same):
    ds, dd = d[same].double(), d[~same].double()
    return ((ds[:, None] < dd[None, :]).double() + 0.5 * (ds[:, None] == dd[None, :])).mean().item()


def _train_and_verify(topic, seed, device, objective, margin):
    torch.manual_seed(seed)
    X, y = glyphs(600, classes=range(20), seed=seed)  # (600, 1, 20, 20): classes 0-19
    X_new, y_new = glyphs(400, classes=range(20, 40), seed=seed, split="test")  # classes never seen in training
    model = topic.SiameseNet(topic.Encoder(1, 32, width=8)).to(device)
    untrained, _ = _verification(model, X_new.to(device), y_new, seed)  # random convolutions already beat raw pixels
    model.train()
    topic.train(model, X.to(device), y.to(device), objective=objective, margin=margin, epochs=4, lr=3e-3,
                batch_size=64, seed=seed)
    auc, (i, j, same) = _verification(model, X_new.to(device), y_new, seed)
    flat = X_new.flatten(1)
    raw = _auc(_distance(flat[i], flat[j]), same)
    return auc, raw, untrained


@accuracy
@task("train_step")
def test_triplet_training_verifies_glyphs_never_seen(topic, seed, device):
    auc, raw, untrained = _train_and_verify(topic, seed, device, "triplet", 0.2)
    hint = (f"raw pixel distances reach AUC {raw:.3f} on these pairs, the untrained network {untrained:.3f}; the "
            "solution's embedding about 0.89 after 4 "
            "epochs of semi-hard triplets. Likely cause: the wrong mining (the hardest negatives collapse every "
            "embedding to one point: the loss stays at the margin), or the loss built from detached embeddings")
    assert_at_least(auc, 0.83, "verification AUC on unseen glyph classes after triplet training", chance=0.5,
                    hint=hint)
    assert_at_least(auc - raw, 0.1, "verification AUC above raw pixel distances' (triplet)", hint=hint)
    assert_at_least(auc - untrained, 0.015, "verification AUC above the untrained network's (triplet)", hint=hint)


@accuracy
@task("train_step")
def test_contrastive_training_verifies_glyphs_never_seen(topic, seed, device):
    auc, raw, untrained = _train_and_verify(topic, seed, device, "contrastive", 1.0)
    hint = (f"raw pixel distances reach AUC {raw:.3f} on these pairs, the untrained network {untrained:.3f}; the "
            "solution's embedding about 0.86 after 4 "
            "epochs of the contrastive loss. Likely cause: the label convention flipped (y = 1.0 must mark the pairs "
            "of different classes), or a pair of an image with itself")
    assert_at_least(auc, 0.79, "verification AUC on unseen glyph classes after contrastive training", chance=0.5,
                    hint=hint)
    assert_at_least(auc - raw, 0.08, "verification AUC above raw pixel distances' (contrastive)", hint=hint)
    assert_at_least(auc - untrained, 0.01, "verification AUC above the untrained network's (contrastive)",
                    hint=hint)


@shapes
@task("train_step")
def test_main_draws_the_embedding_and_reads_omniglot_through_kata(topic, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KATA_PICTURES", str(tmp_path))
    small = ["--epochs", "1", "--pairs", "40", "--device", "cpu", "--embed-dim", "4"]
    with calling("main() on generated glyphs"):
        code = topic.main(["--classes", "4", "--train-size", "40", "--test-size", "40", *small])
    assert code == 0, f"main([...]) should return 0, got {code!r}"
    out = capsys.readouterr().out
    assert "AUC" in out, "main() should print the verification AUC on the unseen classes"
    for name, size in (("18_embedding.png", (400, 400)), ("18_loss.png", (480, 240))):
        path = tmp_path / name
        assert path.exists(), f"main() should save {name} through kata.pictures, found {sorted(tmp_path.iterdir())}"
        assert pictures.png_size(path) == size and not pictures.is_blank(path), (
            f"{name}: a valid PNG of {size} pixels that is not blank")
    calls = []

    # A stand-in for kata.datasets' loader: tests never download.
    def load_omniglot(*, root="data", background=True, image_size=28, classes=None, download=True):
        calls.append((background, image_size))
        g = torch.Generator().manual_seed(0 if background else 1)
        labels = torch.arange(classes).repeat_interleave(5)
        return torch.rand(len(labels), 1, image_size, image_size, generator=g), labels

    monkeypatch.setattr(kata.datasets, "load_omniglot", load_omniglot)
    with calling("main(['--data', 'omniglot', ...])"):
        code = topic.main(["--data", "omniglot", "--classes", "4", "--image-size", "12", *small])
    assert code == 0, f"main(['--data', 'omniglot', ...]) should return 0, got {code!r}"
    assert calls == [(True, 12), (False, 12)], (
        f"main(['--data', 'omniglot', '--image-size', '12']) should load Omniglot's background alphabets to train and "
        f"its evaluation alphabets to verify, through kata.datasets.load_omniglot; got calls {calls}")
