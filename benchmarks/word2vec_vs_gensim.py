"""Topic 08's skip-gram, trained as its main() trains it, against gensim's Word2Vec on a real corpus.

Run it from the repository's root (gensim is not a dependency of the project; uv brings it for this run only):

    uv run --with gensim python benchmarks/word2vec_vs_gensim.py [--epochs 20] [--seeds 3] [--drop-punctuation]
    uv run --with gensim python benchmarks/word2vec_vs_gensim.py --file exercises/08_word2vec_glove/word2vec_glove.py

The data are gensim's own test files, installed with it: the Lee background corpus
(test_data/lee_background.cor, 300 news stories, one per line, about 60,000 words) and
WordSim-353 (test_data/wordsim353.tsv, 353 word pairs with human similarity scores).

Both models get the same tokens (kata.text.tokenize, as main()'s --corpus reads a file: one
story a line, punctuation tokens included unless --drop-punctuation), every word of them
(min_count 1) and main()'s settings: skip-gram, dimension 32, window 2, 5 negative words,
subsampling t = 1e-3, one thread (torch.set_num_threads(1), gensim's workers=1). Each
trains its own way: main() with its optimizer, learning rate and batch size (RowAdagrad,
0.2, 4096) and its sampler (a unigram table of 10^6 slots), gensim with word2vec.c's SGD,
one word at a time from alpha 0.025 down, and its own sampler (a binary search of the
cumulative distribution). The topic's side runs main() itself (--corpus ... --save ...),
with train_word2vec timed from outside; gensim's side times Word2Vec.train after build_vocab.

Printed for each, over the seeds (min / mean / max): CPU seconds per epoch of training
(time.process_time, every thread of the process counted), CPU seconds of the whole run
(reading the corpus and the vocabulary included), and the Spearman correlation between the
cosine similarity of two words' vectors and the human score, on the pairs of WordSim-353
whose two words are in the vocabulary (the same pairs for both). A shared machine slows
both sides; compare the two lines of one run, not runs made at different times.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kata.text import load_embeddings, read_corpus, tokenize  # noqa: E402

DIM, WINDOW, NEGATIVES, SAMPLE, ALPHA = 32, 2, 5, 1e-3, 0.025  # main()'s defaults


def load_topic(path: Path):
    spec = importlib.util.spec_from_file_location("word2vec_glove_benchmarked", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def word_pairs(path: str) -> list[tuple[str, str, float]]:
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, score = line.split("\t")
        pairs.append((a.lower(), b.lower(), float(score)))
    return pairs


def spearman(vectors: dict[str, torch.Tensor], pairs: list[tuple[str, str, float]]) -> float:
    from scipy.stats import spearmanr

    cosine = [F.cosine_similarity(vectors[a], vectors[b], dim=0).item() for a, b, _ in pairs]
    return float(spearmanr(cosine, [score for *_, score in pairs]).statistic)


def run_topic(topic, corpus: str, epochs: int, seed: int, drop_punctuation: bool) -> dict:
    """main() on the corpus; returns the CPU time of train_word2vec, of the whole main(), and the vectors."""
    trained = {}
    train_word2vec = topic.train_word2vec

    def timed(*args, **kwargs):
        start = time.process_time()
        losses = train_word2vec(*args, **kwargs)
        trained["cpu"] = time.process_time() - start
        return losses

    topic.train_word2vec = timed
    try:
        with tempfile.TemporaryDirectory() as folder:
            saved = Path(folder) / "vectors.txt"
            argv = ["--corpus", corpus, "--model", "skipgram", "--epochs", str(epochs), "--seed", str(seed),
                    "--embed-dim", str(DIM), "--window", str(WINDOW), "--negatives", str(NEGATIVES),
                    "--subsample", str(SAMPLE), "--device", "cpu", "--save", str(saved)]
            if drop_punctuation:
                argv.append("--drop-punctuation")
            start = time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):
                code = topic.main(argv)
            total = time.process_time() - start
            if code != 0:
                raise SystemExit(f"main({argv}) returned {code}")
            words, vectors = load_embeddings(saved)
    finally:
        topic.train_word2vec = train_word2vec
    return {"epoch": trained["cpu"] / epochs, "total": total, "vectors": dict(zip(words, vectors))}


def run_gensim(sentences: list[list[str]], epochs: int, seed: int) -> dict:
    from gensim.models import Word2Vec

    start = time.process_time()
    model = Word2Vec(vector_size=DIM, window=WINDOW, negative=NEGATIVES, sample=SAMPLE, alpha=ALPHA, min_count=1,
                     sg=1, hs=0, workers=1, seed=seed, epochs=epochs)
    model.build_vocab(sentences)
    trained = time.process_time()
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    end = time.process_time()
    vectors = {w: torch.from_numpy(model.wv[w].copy()) for w in model.wv.index_to_key}
    return {"epoch": (end - trained) / epochs, "total": end - start, "vectors": vectors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    solution = ROOT / "solutions/08_word2vec_glove/word2vec_glove.py"
    default = solution if solution.exists() else ROOT / "exercises/08_word2vec_glove/word2vec_glove.py"
    parser.add_argument("--file", type=Path, default=default,
                        help="the topic's file whose main() is measured (default: the solution; in a learner's "
                             "copy, which has none, your file)")
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs for both (default 20: after 5, neither has learned much from 60,000 words)")
    parser.add_argument("--seeds", type=int, default=3, help="runs of each, seeds 0, 1, ...")
    parser.add_argument("--drop-punctuation", action="store_true", help="leave punctuation tokens out, for both")
    args = parser.parse_args(argv)
    try:
        from gensim.test.utils import datapath
    except ImportError:
        print("error: gensim is not installed: run uv run --with gensim python benchmarks/word2vec_vs_gensim.py",
              file=sys.stderr)
        return 1

    torch.set_num_threads(1)
    # A process's first optimizer imports torch._dynamo (seconds, once): not a cost of training.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    corpus = datapath("lee_background.cor")
    topic = load_topic(args.file)
    sentences = [tokenize(line) for line in read_corpus(corpus)]
    if args.drop_punctuation:
        sentences = [[t for t in s if not topic.is_punctuation(t)] for s in sentences]
    words = {t for s in sentences for t in s}
    pairs = [p for p in word_pairs(datapath("wordsim353.tsv")) if p[0] in words and p[1] in words]
    print(f"corpus: {corpus}\n  {len(sentences)} lines, {sum(map(len, sentences))} tokens, {len(words)} words; "
          f"{len(pairs)} of WordSim-353's pairs in the vocabulary")
    print(f"settings: skip-gram, dimension {DIM}, window {WINDOW}, {NEGATIVES} negatives, sample {SAMPLE}, "
          f"min_count 1, {args.epochs} epochs, one thread; topic 08: main()'s optimizer and batches; gensim: SGD "
          f"from alpha {ALPHA} down, one word at a time; torch {torch.__version__}")

    results = {"topic 08": [], "gensim": []}
    for seed in range(args.seeds):  # the two alternate, so that both see the same load on a shared machine
        results["topic 08"].append(run_topic(topic, corpus, args.epochs, seed, args.drop_punctuation))
        results["gensim"].append(run_gensim(sentences, args.epochs, seed))

    def line(values, digits):
        return f"{min(values):.{digits}f} / {statistics.mean(values):.{digits}f} / {max(values):.{digits}f}"

    # The pairs both sides have vectors for (all of them, unless the file's main() drops words).
    known = set.intersection(*(set(run["vectors"]) for runs in results.values() for run in runs))
    if len(known) < len(words):
        pairs = [p for p in pairs if p[0] in known and p[1] in known]
        print(f"  Spearman on the {len(pairs)} pairs whose words both sides kept")
    print(f"\n{'':10s} {'CPU s per epoch':>22s} {'CPU s, whole run':>22s} {'Spearman, WordSim-353':>24s}")
    for name, runs in results.items():
        for run in runs:
            run["spearman"] = spearman(run["vectors"], pairs)
        print(f"{name:10s} {line([r['epoch'] for r in runs], 3):>22s} {line([r['total'] for r in runs], 2):>22s} "
              f"{line([r['spearman'] for r in runs], 3):>24s}")
    ratio = min(r["epoch"] for r in results["topic 08"]) / min(r["epoch"] for r in results["gensim"])
    print(f"\n(min / mean / max over seeds 0-{args.seeds - 1})  topic 08 / gensim, fastest epoch of each: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
