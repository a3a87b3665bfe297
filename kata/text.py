"""Text for stages 3 and 4: tokens, a vocabulary, padded batches, and text files.

The ids, once for every topic:

    [PAD] = 0   padding: every padded batch fills with it, and a loss must skip it
    [UNK] = 1   a word the vocabulary does not know
    [CLS] = 2   starts a BERT input (and a decoder's input: BOS_ID is CLS_ID)
    [SEP] = 3   ends a BERT segment (and a decoder's output: EOS_ID is SEP_ID)
    [MASK] = 4  a hidden word for a masked language model
    5, 6, ...   the words, most frequent first

Batches are batch-first: `pad_sequences` turns B sequences of ids into
ids (B, T) int64 padded with 0, a mask (B, T) bool that is True at real tokens,
and lengths (B,) int64, T being the longest length.

    vocab = Vocab.build(sentences, min_count=2)      # sentences: strings or token lists
    ids, mask, lengths = vocab.encode_batch(["the cat eats", "the dog"])  # (2, 3), (2, 3), (2,)
    vocab.decode(ids[1])                              # "the dog" (padding dropped)
    ids, segments = vocab.encode_pair("the cat eats", "the dog")  # [CLS] A [SEP] B [SEP]

Ids below NUM_SPECIAL (5) are special tokens: a masked language model never masks them.

`tokenize` is word-level: lowercase words (letters and digits, with ' or - inside:
"cat's", "well-known"), and each other symbol (".", "?") a token of its own (dropped with punctuation=False); the
special tokens written in a text ("[MASK]") stay whole. `char_ids` spells words as
byte ids for a character CNN (ELMo). For a topic's `main()`, `read_corpus` reads a learner's text file (one
sentence per line) and `save_embeddings`/`load_embeddings` write and read word
vectors in the word2vec and GloVe text formats. A file that is missing, empty or
not UTF-8 raises an OSError (FileNotFoundError) or a ValueError whose message is one
sentence naming the file, for `main()` to print:

    try:
        sentences = read_corpus(args.corpus) if args.corpus else corpus(5000, seed=args.seed).sentences
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)  # in id order
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
NUM_SPECIAL = len(SPECIAL_TOKENS)  # the first word's id
# A sequence-to-sequence decoder starts from [CLS] and stops at [SEP]: no extra ids.
BOS_ID, EOS_ID = CLS_ID, SEP_ID
# Targets that a loss must skip (F.cross_entropy's default ignore_index).
IGNORE_INDEX = -100

_TOKEN = re.compile(r"\[(?:PAD|UNK|CLS|SEP|MASK)\]|\w+(?:['-]\w+)*|[^\w\s]")
_SYMBOL = re.compile(r"[^\w\s]")  # the last alternative of _TOKEN: one character that is not a word's

Text = str | Sequence[str]  # a sentence: a string to tokenize, or its tokens


def tokenize(text: str, *, punctuation: bool = True) -> list[str]:
    """Lowercase words and single symbols: "The cat's toy, please!" -> ["the", "cat's", "toy", ",", "please", "!"].

    Special tokens written in the text stay whole and upper-case: "the [MASK] eats" ->
    ["the", "[MASK]", "eats"]. punctuation=False drops the symbols (every token that is
    not a word, a number or a special token: "." "," "!" "(" "$"), and keeps the ' and -
    inside words: "The cat's toy, please!" -> ["the", "cat's", "toy", "please"].
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize takes a string, got {type(text).__name__}")
    tokens = [t if t in SPECIAL_TOKENS else t.lower() for t in _TOKEN.findall(text)]
    return tokens if punctuation else [t for t in tokens if not is_punctuation(t)]


def is_punctuation(token: str) -> bool:
    """True for a symbol token of `tokenize` ("." "," "?" "("), False for words, numbers and special tokens."""
    return _SYMBOL.fullmatch(token) is not None


def _tokens(text: Text) -> list[str]:
    """A sentence's tokens: a string is tokenized, a list of tokens is taken as it is."""
    return tokenize(text) if isinstance(text, str) else list(text)


class Vocab:
    """Token <-> id: the five special tokens (ids 0-4), then the words.

    itos: list of tokens by id; stoi: dict token -> id; counts: (V,) int64, how often
    each token occurred in the sentences the vocabulary was built from (0 for the
    special tokens and for words given without counts). `vocab[token]` is the token's
    id, [UNK]'s (1) for a token the vocabulary does not know.
    """

    def __init__(self, words: Iterable[str], counts: Iterable[int] | None = None):
        """A vocabulary of `words` in the given order, ids from 5 on (e.g. the words of loaded embeddings)."""
        words = list(words)
        counts = [0] * len(words) if counts is None else list(counts)
        if len(counts) != len(words):
            raise ValueError(f"got {len(words)} words but {len(counts)} counts")
        for word in words:
            _check_word(word)
            if word in SPECIAL_TOKENS:
                raise ValueError(f"{word} is a special token: Vocab adds the special tokens itself, with ids 0-4")
        self.itos: list[str] = [*SPECIAL_TOKENS, *words]
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            duplicate = next(w for w, n in Counter(words).items() if n > 1)
            raise ValueError(f"the word {duplicate!r} appears twice")
        self.counts: Tensor = torch.tensor([0] * NUM_SPECIAL + counts, dtype=torch.int64)  # (V,)

    @classmethod
    def build(cls, sentences: Iterable[Text], *, min_count: int = 1, max_size: int | None = None) -> Vocab:
        """The words of `sentences` that occur at least `min_count` times, most frequent first.

        Ties are broken alphabetically, so the ids do not depend on the sentences' order.
        max_size: at most this many entries in all, the 5 special tokens included (the
        rarest words are dropped); None keeps every word.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < NUM_SPECIAL:
            raise ValueError(f"max_size must be at least {NUM_SPECIAL} (the special tokens), got {max_size}")
        counter = Counter(token for sentence in sentences for token in _tokens(sentence)
                          if token not in SPECIAL_TOKENS)
        kept = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[:max_size - NUM_SPECIAL]
        return cls([w for w, _ in kept], [c for _, c in kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self.itos[:12])}{' ...' if len(self) > 12 else ''})"

    def encode(self, text: Text) -> list[int]:
        """A sentence's ids, [UNK] for unknown words: "the cat" -> [5, 9]."""
        return [self[token] for token in _tokens(text)]

    def decode(self, ids: Sequence[int] | Tensor, *, skip_special: bool = False) -> str:
        """Ids back to a string of space-separated tokens; [PAD] is always dropped.

        skip_special: drop [CLS], [SEP] and [MASK] too ([UNK] stays: it stands for a word).
        """
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode takes one sequence of ids (T,), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        drop = {PAD_ID, CLS_ID, SEP_ID, MASK_ID} if skip_special else {PAD_ID}
        for i in ids:
            if not 0 <= i < len(self):
                raise ValueError(f"id {i} is not in the vocabulary (ids 0-{len(self) - 1})")
        return " ".join(self.itos[i] for i in ids if i not in drop)

    def encode_batch(self, texts: Sequence[Text]) -> tuple[Tensor, Tensor, Tensor]:
        """Sentences to ids (B, T) int64 padded with 0, mask (B, T) bool, lengths (B,) int64."""
        return pad_sequences([self.encode(text) for text in texts])

    def encode_pair(self, a: Text, b: Text) -> tuple[list[int], list[int]]:
        """BERT's input for two sentences: ids of [CLS] A [SEP] B [SEP], and segment ids
        0 for [CLS] A [SEP] and 1 for B [SEP]."""
        first, second = self.encode(a), self.encode(b)
        ids = [CLS_ID, *first, SEP_ID, *second, SEP_ID]
        segments = [0] * (len(first) + 2) + [1] * (len(second) + 1)
        return ids, segments

    def encode_pairs(self, pairs: Sequence[tuple[Text, Text]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Sentence pairs to ids (B, T), segment ids (B, T) (0 at padding), mask (B, T) bool, lengths (B,)."""
        encoded = [self.encode_pair(a, b) for a, b in pairs]
        ids, mask, lengths = pad_sequences([ids for ids, _ in encoded])
        segments, _, _ = pad_sequences([segments for _, segments in encoded])
        return ids, segments, mask, lengths


def pad_sequences(seqs: Sequence[Sequence[int] | Tensor], pad_id: int = PAD_ID) -> tuple[Tensor, Tensor, Tensor]:
    """B sequences of ids (lists or 1-D integer tensors) as one batch-first batch.

    Returns ids (B, T) int64 with `pad_id` after each sequence's end, mask (B, T) bool
    (True at real tokens), and lengths (B,) int64; T is the longest length. Tensors
    keep their device (all must share one); lists give CPU tensors.
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    rows = []
    for i, seq in enumerate(seqs):
        if isinstance(seq, Tensor):
            row = seq
        else:
            seq = list(seq)
            try:  # no dtype here: 0.5 must be refused, not truncated to 0
                row = torch.tensor(seq) if seq else torch.zeros(0, dtype=torch.int64)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"sequence {i} is not a sequence of integer ids: {seq[:5]!r}") from None
        if row.dim() != 1:
            raise ValueError(f"sequence {i} has shape {tuple(row.shape)}: pad_sequences takes 1-D sequences of ids")
        if row.is_floating_point() or row.is_complex() or row.dtype == torch.bool:
            raise ValueError(f"sequence {i} holds {row.dtype} values: ids must be integers")
        rows.append(row.long())
    device = rows[0].device
    if any(row.device != device for row in rows):
        raise ValueError(f"the sequences are on different devices: {sorted({str(row.device) for row in rows})}")
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64, device=device)  # (B,)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.int64, device=device)  # (B, T)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    mask = torch.arange(ids.shape[1], device=device) < lengths[:, None]  # (B, T)
    return ids, mask, lengths


# ---------------------------------------------------------------- characters (ELMo)
# Character ids: 0 pads a word (and fills a padded word position entirely), 1 begins a
# word, 2 ends it, and each UTF-8 byte b of the word is b + 3, so any word can be spelled.
CHAR_PAD_ID, BOW_ID, EOW_ID = 0, 1, 2
NUM_CHARS = 256 + 3


def word_char_ids(word: str, max_word_len: int = 16) -> list[int]:
    """A word's character ids: [BOW, bytes..., EOW], padded with 0 to `max_word_len`.

    A longer word keeps its first max_word_len - 2 bytes (and its BOW and EOW).
    """
    if max_word_len < 3:
        raise ValueError(f"max_word_len must be >= 3 (begin, one byte, end), got {max_word_len}")
    spelled = [b + 3 for b in word.encode("utf-8")][:max_word_len - 2]
    ids = [BOW_ID, *spelled, EOW_ID]
    return ids + [CHAR_PAD_ID] * (max_word_len - len(ids))


def char_ids(sentences: Sequence[Text], *, max_word_len: int = 16) -> tuple[Tensor, Tensor, Tensor]:
    """Sentences spelled for a character CNN: char ids (B, T, max_word_len) int64, mask (B, T) bool, lengths (B,).

    Position t of sentence b holds word_char_ids of its t-th token; padded positions
    are all 0. T is the longest sentence, as in pad_sequences.
    """
    if len(sentences) == 0:
        raise ValueError("char_ids needs at least one sentence")
    tokens = [_tokens(sentence) for sentence in sentences]
    lengths = torch.tensor([len(t) for t in tokens], dtype=torch.int64)  # (B,)
    chars = torch.zeros(len(tokens), int(lengths.max()), max_word_len, dtype=torch.int64)  # (B, T, L)
    for b, sentence in enumerate(tokens):
        if sentence:
            chars[b, :len(sentence)] = torch.tensor([word_char_ids(w, max_word_len) for w in sentence])
    mask = torch.arange(chars.shape[1]) < lengths[:, None]  # (B, T)
    return chars, mask, lengths


# ---------------------------------------------------------------- text files
def _lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file, read lazily; one-sentence errors for a
    missing file, a folder, or bytes that are not UTF-8."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if not path.is_file():
        raise ValueError(f"{what} {path} is not a file")
    try:
        file = path.open("rb")
    except OSError as exc:  # e.g. no permission to read it
        raise OSError(f"{what} {path} cannot be read: {exc.strerror}") from None
    with file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {number}): "
                                 "save it with UTF-8 encoding") from None
            if number == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark is not part of the first word
            yield number, line.rstrip("\r\n")


def read_corpus(path: str | Path) -> list[str]:
    """A learner's plain-text corpus for `--corpus FILE`: one sentence per line, UTF-8.

    Returns the non-blank lines, stripped, as strings (tokenize them with `tokenize`
    or `Vocab.build`). Raises FileNotFoundError for a missing file, OSError for one
    that cannot be read, ValueError for a folder, a file that is not UTF-8, or one
    with no sentences.
    """
    path = Path(path).expanduser()
    sentences = [line.strip() for _, line in _lines(path, "corpus file")]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise ValueError(f"corpus file {path} has no sentences: write one sentence per line")
    return sentences


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """A learner's parallel text for `--pairs FILE` (topics 12-13): one pair per line, source TAB target, UTF-8.

    The format of Tatoeba's and the PyTorch translation tutorial's files: columns after the
    second (Tatoeba's attribution) are ignored, blank lines skipped. Returns (source,
    target) strings, stripped. Raises what read_corpus raises, and ValueError naming the
    line for a line without a tab or with an empty side, or a file with no pairs.
    """
    path = Path(path).expanduser()
    pairs = []
    for number, line in _lines(path, "pairs file"):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise ValueError(f"pairs file {path}, line {number}: expected 'source<TAB>target', got {line[:60]!r}")
        pairs.append((columns[0].strip(), columns[1].strip()))
    if not pairs:
        raise ValueError(f"pairs file {path} has no pairs: write one 'source<TAB>target' per line")
    return pairs


EMBEDDING_FORMATS = ("word2vec", "glove")


def _check_word(word: object) -> None:
    if not isinstance(word, str) or not word or any(c.isspace() for c in word):
        raise ValueError(f"a word must be a non-empty string without spaces, got {word!r}")


def save_embeddings(path: str | Path, words: Sequence[str], vectors: Tensor, *, format: str = "word2vec") -> None:
    """Write word vectors as text: one line per word, the word then its values, space-separated.

    words: V words (no spaces inside); vectors: (V, D). format "word2vec" starts
    with a header line "V D" (word2vec.c's text output); "glove" has no header
    (GloVe's released files). Values are written with 9 significant digits, enough
    to read float32 back exactly.
    """
    if format not in EMBEDDING_FORMATS:
        raise ValueError(f"format must be one of {EMBEDDING_FORMATS}, got {format!r}")
    if vectors.dim() != 2 or len(words) != vectors.shape[0] or vectors.shape[1] == 0:
        raise ValueError(f"need vectors of shape (V, D) for V = {len(words)} words and D >= 1, "
                         f"got {tuple(vectors.shape)}")
    for word in words:
        _check_word(word)
    if len(set(words)) != len(words):
        raise ValueError("a word appears twice: each word gets one vector")
    rows = vectors.detach().to("cpu", torch.float64).tolist()
    lines = [f"{len(words)} {vectors.shape[1]}"] if format == "word2vec" else []
    lines += [" ".join([word, *(f"{x:.9g}" for x in row)]) for word, row in zip(words, rows)]
    Path(path).expanduser().write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_embeddings(path: str | Path, *, format: str | None = None,
                    limit: int | None = None) -> tuple[list[str], Tensor]:
    """Read word vectors written in the word2vec or GloVe text format.

    format: "word2vec" (a "V D" header line), "glove" (none), or None to tell by the
    first line (two integers: word2vec). limit: read only the first `limit` words
    (the released files are sorted by frequency, and the large ones take minutes to
    read whole). Returns the words and vectors (V, D) float32. Lines split on single
    spaces (a trailing space is allowed). A line with the wrong number of values, a
    value that is not a number, a header that disagrees with the file, or a repeated
    word raises ValueError naming the line.
    """
    if format not in (None, *EMBEDDING_FORMATS):
        raise ValueError(f"format must be None (detect) or one of {EMBEDDING_FORMATS}, got {format!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None (all words) or >= 0, got {limit}")
    path = Path(path).expanduser()
    words: list[str] = []
    rows: list[list[float]] = []
    seen: set[str] = set()
    count = dim = None
    for number, line in _lines(path, "embeddings file"):
        fields = line.rstrip(" ").split(" ")
        if number == 1:
            header = len(fields) == 2 and all(f.isdigit() for f in fields)
            format = format or ("word2vec" if header else "glove")
            if format == "word2vec":
                if not header:
                    raise ValueError(f"embeddings file {path} has no word2vec header (\"count dim\") on line 1")
                count, dim = int(fields[0]), int(fields[1])
                continue
        if not line.strip():
            continue
        if limit is not None and len(words) == limit:
            break
        if dim is None:  # GloVe: the first vector tells the dimension
            dim = len(fields) - 1
        if dim < 1 or len(fields) != dim + 1:
            raise ValueError(f"embeddings file {path}, line {number}: expected a word and {max(dim, 1)} values, "
                             f"got {len(fields)} fields")
        try:
            rows.append([float(x) for x in fields[1:]])
        except ValueError:
            raise ValueError(f"embeddings file {path}, line {number}: a value is not a number") from None
        if fields[0] in seen:
            raise ValueError(f"embeddings file {path}, line {number}: the word {fields[0]!r} appears twice")
        seen.add(fields[0])
        words.append(fields[0])
    if not words and limit != 0:
        raise ValueError(f"embeddings file {path} has no vectors")
    if count is not None and limit is None and count != len(words):
        raise ValueError(f"embeddings file {path} says {count} words on line 1 but holds {len(words)}")
    return words, torch.tensor(rows, dtype=torch.float32).reshape(len(rows), dim if dim is not None else 0)  # (V, D)
