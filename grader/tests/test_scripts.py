"""The scripts of topics 09-11 on real text at real size (issue 13), run through main(argv).

A learner's `--corpus FILE` is not the generated corpus: a line may hold a whole
paragraph (86-689 tokens on real text), every punctuation mark is a token, and the
vocabulary may hold tens of thousands of words. Each script must cap the sentences at
--max-len and the vocabulary at --max-vocab, keep or drop the punctuation as its
--help says, say in --help what a line is, and print how long each epoch took and,
after the first, how long the whole run will take. Each test runs the reference
solutions' main() on a tiny file in tmp_path, with tiny models, for a second or two.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

from grader import roadmap
from kata.text import NUM_SPECIAL

SCRIPTS = ("09_rnn", "10_lstm_gru", "11_bilstm")
TINY = ["--embed-dim", "4", "--hidden-size", "4", "--epochs", "2", "--seed", "0", "--device", "cpu"]
MARKS = (".", ",", "!", "?")  # the distinct punctuation marks of the corpus below
LONGEST = 201  # tokens on the file's longest line


def _module(slug: str) -> ModuleType:
    path = roadmap.load().find(slug).solution()
    spec = importlib.util.spec_from_file_location(f"script_{slug}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    return {slug: _module(slug) for slug in SCRIPTS}


@pytest.fixture
def corpus(tmp_path) -> Path:
    """20 short sentences with punctuation, and 3 lines of 201 tokens (a paragraph on one line; 3, so that
    the training sentences, all but a tenth, hold one)."""
    lines = ["The cat eats the fish.", "The dog eats, the cat sleeps!", "Does the bird sing?",
             "A dog, a cat and a bird."] * 5
    for i in (3, 9, 15):
        lines.insert(i, " ".join(f"word{i}" for i in range(LONGEST - 1)) + " .")
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(module: ModuleType, argv: list[str], monkeypatch, capsys) -> tuple[list[tuple], str]:
    """main(argv) with its train() recorded: [(model, X), ...] for each model trained, and what it printed."""
    calls = []
    real_train = module.train

    def train(model, X, *args, **kwargs):
        calls.append((model, X))
        return real_train(model, X, *args, **kwargs)

    monkeypatch.setattr(module, "train", train)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models, as in the hidden suites: a second thread only waits on a busy machine
    try:
        code = module.main(argv)
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert code == 0, f"main({argv}) returned {code}:\n{out}"
    assert calls, f"main({argv}) trained nothing:\n{out}"
    return calls, out


@pytest.mark.parametrize("slug", SCRIPTS)
def test_long_lines_are_cut_to_max_len_and_the_vocabulary_to_max_vocab(slug, modules, corpus, monkeypatch, capsys):
    calls, out = _run(modules[slug], ["--corpus", str(corpus), *TINY], monkeypatch, capsys)
    for model, X in calls:  # the default --max-len 50: not padded to the 201-token line
        assert X.shape[1] == 50, f"{slug}: batches of {X.shape[1]} tokens with the default --max-len"
    assert f"cut to their first 50 (the longest has {LONGEST})" in out, out
    classes = {model.head.out_features for model, _ in calls}
    # 11 words, 4 marks and word0-word49: the words past the cut are never read, so not in the vocabulary
    assert classes == {NUM_SPECIAL + 11 + len(MARKS) + 50}, classes

    calls, out = _run(modules[slug], ["--corpus", str(corpus), "--max-len", "6", "--max-vocab", "7", *TINY],
                      monkeypatch, capsys)
    for model, X in calls:
        assert X.shape[1] == 6 and model.head.out_features == 7 + NUM_SPECIAL, (slug, X.shape, model.head)
    assert "cut to their first 6" in out and "the 7 most frequent of" in out and "[UNK]" in out, out


@pytest.mark.parametrize("slug", SCRIPTS)
def test_punctuation_is_a_token_unless_dropped(slug, modules, corpus, monkeypatch, capsys):
    calls, out = _run(modules[slug], ["--corpus", str(corpus), *TINY], monkeypatch, capsys)
    kept = calls[0][0].head.out_features
    assert "each mark a token to predict" in out, out
    calls, out = _run(modules[slug], ["--corpus", str(corpus), "--drop-punctuation", *TINY], monkeypatch, capsys)
    assert calls[0][0].head.out_features == kept - len(MARKS), "--drop-punctuation should drop . , ! and ?"
    assert "punctuation: " in out and "dropped" in out, out


@pytest.mark.parametrize("slug", SCRIPTS)
def test_epochs_are_timed_and_the_whole_run_estimated(slug, modules, corpus, monkeypatch, capsys):
    calls, out = _run(modules[slug], ["--corpus", str(corpus), *TINY], monkeypatch, capsys)
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 * len(calls) and all("epoch time (s) " in line for line in epochs), out
    estimate = [i for i, line in enumerate(lines) if line.startswith("first epoch: ")]
    assert len(estimate) == 1 and " epochs take about " in lines[estimate[0]], out  # once, before the first line
    assert lines[estimate[0] + 1].startswith("epoch   1/2"), out
    assert sum("2 epochs in " in line and " an epoch)" in line for line in lines) == len(calls), out
    if len(calls) > 1:
        assert f"{len(calls)} runs x 2 epochs take about" in out and "training took " in out, out


def test_lstm_gru_says_up_front_what_it_will_train(modules, corpus, monkeypatch, capsys):
    calls, out = _run(modules["10_lstm_gru"], ["--corpus", str(corpus), "--batch-size", "8", *TINY], monkeypatch,
                      capsys)
    racing = out.index("racing 4 models x 2 epochs of 3 batches of up to 8 sequences of up to 50 tokens")
    assert racing < out.index("first epoch: ") < out.index("epoch   1/2"), out
    assert len(calls) == 4


@pytest.mark.parametrize("slug", SCRIPTS)
def test_help_says_what_a_line_is(slug, modules, capsys):
    with pytest.raises(SystemExit):
        modules[slug].main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for promise in ("one sentence per line", "split it into sentences first", "--max-len", "--max-vocab",
                    "--drop-punctuation", "each mark is a token"):
        assert promise in text, f"{slug} --help should say {promise!r}:\n{text}"


def test_bad_caps_are_one_line_errors(modules, corpus, capsys):
    for slug in SCRIPTS:
        assert modules[slug].main(["--corpus", str(corpus), "--max-vocab", "0", *TINY]) == 1
        assert "error: --max-vocab must be >= 1" in capsys.readouterr().err
        assert modules[slug].main(["--corpus", str(corpus), "--max-len", "1", *TINY]) == 1
        assert "error: --max-len must be >= 2" in capsys.readouterr().err
    torch.manual_seed(0)  # the scripts seed torch's global generator: leave it seeded for whoever runs next
