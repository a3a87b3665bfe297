"""The text foundation of stages 3 and 4 (kata.text, kata.corpus, kata.sequences).

What the topics build on: the special tokens' fixed ids, tokenizing and the vocabulary,
padded batches with masks and lengths, BERT's sentence pairs, ELMo's character ids,
the learner's corpus and embedding files (written here to tmp_path), the generated
corpus and its ground truth, and the sequence tasks. Every generator is deterministic
per seed, and its train and test splits are independent samples.
"""

from __future__ import annotations

import pytest
import torch

from kata import corpus as gen
from kata import sequences, text
from kata.text import Vocab, pad_sequences, tokenize


# ------------------------------------------------------------------ tokens and the vocabulary
def test_special_token_ids_are_fixed():
    assert text.SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert (text.PAD_ID, text.UNK_ID, text.CLS_ID, text.SEP_ID, text.MASK_ID) == (0, 1, 2, 3, 4)
    assert text.NUM_SPECIAL == 5 and (text.BOS_ID, text.EOS_ID) == (2, 3) and text.IGNORE_INDEX == -100
    vocab = Vocab(["cat"])
    assert vocab.itos[:5] == list(text.SPECIAL_TOKENS) and vocab["cat"] == 5 and len(vocab) == 6


def test_tokenize():
    assert tokenize("The Cat's toy, please!") == ["the", "cat's", "toy", ",", "please", "!"]
    assert tokenize("a well-known [MASK] .") == ["a", "well-known", "[MASK]", "."]
    assert tokenize("'quoted'  \t twice\n") == ["'", "quoted", "'", "twice"]
    assert tokenize("[mask]") == ["[", "mask", "]"]  # only the upper-case special tokens stay whole
    assert tokenize("") == []
    with pytest.raises(TypeError, match="string"):
        tokenize(["a", "list"])


def test_vocab_build_orders_by_count_then_alphabet():
    sentences = ["the dog eats", "the cat eats the fish", ["the", "cat"], "a [MASK] zebra"]
    vocab = Vocab.build(sentences)
    # the 4, cat 2, eats 2 (tie: alphabetical), then the words seen once, alphabetically.
    assert vocab.itos[5:] == ["the", "cat", "eats", "a", "dog", "fish", "zebra"]
    assert vocab.counts.dtype == torch.int64 and vocab.counts.tolist() == [0] * 5 + [4, 2, 2, 1, 1, 1, 1]
    assert Vocab.build(reversed(sentences)).itos == vocab.itos  # the order of the sentences does not matter

    assert Vocab.build(sentences, min_count=2).itos[5:] == ["the", "cat", "eats"]
    small = Vocab.build(sentences, max_size=7)
    assert len(small) == 7 and small.itos[5:] == ["the", "cat"]  # max_size counts the special tokens
    assert len(Vocab.build(sentences, max_size=5)) == 5
    for bad, match in (({"min_count": 0}, "min_count"), ({"max_size": 4}, "max_size")):
        with pytest.raises(ValueError, match=match):
            Vocab.build(sentences, **bad)


def test_vocab_rejects_bad_words():
    for words, match in ((["cat", "cat"], "twice"), (["[MASK]"], "special"), (["two words"], "spaces"),
                         ([""], "non-empty")):
        with pytest.raises(ValueError, match=match):
            Vocab(words)
    with pytest.raises(ValueError, match="counts"):
        Vocab(["a", "b"], counts=[1])


def test_encode_decode_round_trip():
    vocab = Vocab.build(["the cat eats the fish", "the dog eats"])
    ids = vocab.encode("The cat eats a fish")
    assert ids == [vocab["the"], vocab["cat"], vocab["eats"], text.UNK_ID, vocab["fish"]]
    assert vocab["zebra"] == text.UNK_ID and "zebra" not in vocab and "cat" in vocab
    assert vocab.decode(ids) == "the cat eats [UNK] fish"
    assert vocab.encode(["the", "dog"]) == [vocab["the"], vocab["dog"]]  # tokens are taken as they are
    for sentence in ("the cat eats the fish", "the dog", "eats"):
        assert vocab.decode(vocab.encode(sentence)) == sentence
        assert vocab.decode(torch.tensor(vocab.encode(sentence))) == sentence

    with_special = [text.CLS_ID, vocab["cat"], text.MASK_ID, text.SEP_ID, text.PAD_ID, text.PAD_ID]
    assert vocab.decode(with_special) == "[CLS] cat [MASK] [SEP]"  # padding is always dropped
    assert vocab.decode(with_special, skip_special=True) == "cat"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.decode([len(vocab)])
    with pytest.raises(ValueError, match="one sequence"):
        vocab.decode(torch.zeros(2, 3, dtype=torch.long))


# ------------------------------------------------------------------ padded batches
def test_pad_sequences_shapes_masks_and_lengths():
    ids, mask, lengths = pad_sequences([[5, 6, 7], [8], [9, 10]])
    assert ids.dtype == torch.int64 and mask.dtype == torch.bool and lengths.dtype == torch.int64
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert lengths.tolist() == [3, 1, 2]

    ids, mask, lengths = pad_sequences([torch.tensor([5, 6], dtype=torch.int32), torch.tensor([7])], pad_id=-1)
    assert ids.dtype == torch.int64 and ids.tolist() == [[5, 6], [7, -1]] and mask.tolist() == [[True, True],
                                                                                                 [True, False]]
    ids, mask, lengths = pad_sequences([[], [5]])
    assert ids.tolist() == [[0], [5]] and lengths.tolist() == [0, 1] and mask.tolist() == [[False], [True]]

    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([])
    for bad in ([torch.tensor([0.5, 1.0])], [[5, 6], [0.5]], [[True, False]]):
        with pytest.raises(ValueError, match="integers"):  # refused, not truncated to 0
            pad_sequences(bad)
    with pytest.raises(ValueError, match="integer ids"):
        pad_sequences([["the", "cat"]])
    with pytest.raises(ValueError, match="1-D"):
        pad_sequences([torch.zeros(2, 2, dtype=torch.long)])


def test_encode_batch_and_sentence_pairs():
    vocab = Vocab.build(["the cat eats the fish", "the dog sleeps"])
    ids, mask, lengths = vocab.encode_batch(["the cat eats", "the dog"])
    assert ids.shape == mask.shape == (2, 3) and lengths.tolist() == [3, 2]
    assert ids[1].tolist() == [vocab["the"], vocab["dog"], text.PAD_ID]

    pair, segments = vocab.encode_pair("the cat", "eats fish")
    cat, eats, fish, the = vocab["cat"], vocab["eats"], vocab["fish"], vocab["the"]
    assert pair == [text.CLS_ID, the, cat, text.SEP_ID, eats, fish, text.SEP_ID]
    assert segments == [0, 0, 0, 0, 1, 1, 1]

    ids, segments, mask, lengths = vocab.encode_pairs([("the cat", "eats fish"), ("the dog", "sleeps")])
    assert ids.shape == segments.shape == mask.shape == (2, 7) and lengths.tolist() == [7, 6]
    assert ids[1].tolist() == [text.CLS_ID, the, vocab["dog"], text.SEP_ID, vocab["sleeps"], text.SEP_ID, 0]
    assert segments[1].tolist() == [0, 0, 0, 0, 1, 1, 0]  # padding is segment 0
    assert segments.dtype == torch.int64 and mask[1].tolist() == [True] * 6 + [False]


def test_char_ids_spell_words_as_bytes():
    assert text.word_char_ids("cat", 6) == [text.BOW_ID, 99 + 3, 97 + 3, 116 + 3, text.EOW_ID, text.CHAR_PAD_ID]
    assert text.word_char_ids("über", 8) == [1, 0xC3 + 3, 0xBC + 3, 98 + 3, 101 + 3, 114 + 3, 2, 0]  # UTF-8 bytes
    assert text.word_char_ids("abcdefgh", 5) == [1, 100, 101, 102, 2]  # too long: cut, BOW and EOW kept
    chars, mask, lengths = text.char_ids(["the cat", "a"], max_word_len=6)
    assert chars.shape == (2, 2, 6) and chars.dtype == torch.int64 and max(chars.max(), 0) < text.NUM_CHARS
    assert chars[0, 1].tolist() == text.word_char_ids("cat", 6)
    assert chars[1, 1].tolist() == [0] * 6 and mask.tolist() == [[True, True], [True, False]]
    assert lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="max_word_len"):
        text.word_char_ids("cat", 2)


# ------------------------------------------------------------------ the learner's files
def test_read_corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\ufeffThe cat eats.\n\n  the dog sleeps  \r\nlast line without newline", encoding="utf-8")
    assert text.read_corpus(path) == ["The cat eats.", "the dog sleeps", "last line without newline"]
    assert text.read_corpus(str(path)) == text.read_corpus(path)


def test_read_corpus_errors_are_one_sentence(tmp_path):
    cases = {
        "missing.txt": (None, FileNotFoundError, "does not exist"),
        "empty.txt": (b"", ValueError, "has no sentences"),
        "blank.txt": (b"\n  \n\t\n", ValueError, "has no sentences"),
        "latin1.txt": ("ok line\ncaf\u00e9 au lait\n".encode("latin-1"), ValueError,
                       r"not UTF-8 text \(byte 0xe9 on line 2\)"),
    }
    for name, (content, error, match) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(error, match=match) as info:
            text.read_corpus(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message and info.value.__cause__ is None
    with pytest.raises(ValueError, match="is not a file"):
        text.read_corpus(tmp_path)


def test_read_pairs_takes_two_tab_separated_columns(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("\ufeffGo.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n\n Hi. \t Salut ! \r\n"
                    "the cat\tle chat", encoding="utf-8")
    assert text.read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !"), ("the cat", "le chat")]
    for content, match in (("one side only\n", "line 1: expected 'source<TAB>target'"),
                           ("a\tb\n\t  b\n", "line 2: expected"), ("\n \n", "has no pairs")):
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=match) as info:
            text.read_pairs(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="pairs file .* does not exist"):
        text.read_pairs(tmp_path / "missing.txt")


def test_hold_out_keeps_a_tenth_of_a_file_to_test_on_drawn_from_the_seed():
    from kata.common import hold_out

    items = [f"line {i}" for i in range(25)]
    train, test = hold_out(items, 3)
    assert len(test) == 2 and len(train) == 23 and sorted(train + test) == sorted(items)
    assert hold_out(items, 3) == (train, test), "the same seed must give the same split"
    assert hold_out(items, 4) != (train, test), "another seed should give another split"
    assert test != items[:2] and test != items[-2:], "the held-out items are drawn, not the file's ends"
    assert hold_out(["a", "b"], 0)[1] in (["a"], ["b"]), "two items: one to train on, one to test on"
    for few in ([], ["only"]):
        with pytest.raises(ValueError, match=r"^pairs.txt has \d pairs: give it at least two"):
            hold_out(few, 0, source="pairs.txt", what="pairs")


def test_embeddings_round_trip_in_both_formats(tmp_path):
    words = ["the", "cat", "ünïcode", "x-ray"]
    vectors = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)) * 10 ** torch.arange(-3.0, 1.0)[:, None]
    for format, first_line in (("word2vec", "4 3"), ("glove", None)):
        path = tmp_path / f"{format}.txt"
        text.save_embeddings(path, words, vectors, format=format)
        lines = path.read_text(encoding="utf-8").splitlines()
        if first_line:
            assert lines[0] == first_line and len(lines) == 5
        else:
            assert lines[0].split(" ")[0] == "the" and len(lines) == 4 and len(lines[0].split(" ")) == 4
        for detect in (format, None):
            read_words, read_vectors = text.load_embeddings(path, format=detect)
            assert read_words == words and read_vectors.dtype == torch.float32
            assert torch.equal(read_vectors, vectors)  # exactly: 9 significant digits keep every float32
        words2, vectors2 = text.load_embeddings(path, limit=2)
        assert words2 == words[:2] and torch.equal(vectors2, vectors[:2])


def test_load_embeddings_reads_files_written_by_others(tmp_path):
    # word2vec.c ends every value with a space; GloVe's files have none and no header.
    (tmp_path / "w2v.txt").write_text("2 2\nking 0.5 -1 \nqueen 1e-3 2 \n", encoding="utf-8")
    words, vectors = text.load_embeddings(tmp_path / "w2v.txt")
    assert words == ["king", "queen"] and torch.equal(vectors, torch.tensor([[0.5, -1.0], [1e-3, 2.0]]))
    (tmp_path / "glove.txt").write_text("the 0.1 0.2 0.3\n, -0.5 0 1\n", encoding="utf-8")
    words, vectors = text.load_embeddings(tmp_path / "glove.txt")
    assert words == ["the", ","] and vectors.shape == (2, 3)


def test_embeddings_errors(tmp_path):
    bad = {
        "short.txt": ("2 3\na 1 2 3\nb 1 2\n", "line 3: expected a word and 3 values, got 3 fields"),
        "count.txt": ("3 2\na 1 2\nb 1 2\n", "says 3 words on line 1 but holds 2"),
        "nan.txt": ("a 1 2\nb 1 x\n", "line 2: a value is not a number"),
        "twice.txt": ("a 1 2\na 1 2\n", "line 2: the word 'a' appears twice"),
        "empty.txt": ("", "has no vectors"),
    }
    for name, (content, match) in bad.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=match):
            text.load_embeddings(tmp_path / name)
    with pytest.raises(ValueError, match="no word2vec header"):
        text.load_embeddings(tmp_path / "nan.txt", format="word2vec")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        text.load_embeddings(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9 1 2\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        text.load_embeddings(tmp_path / "latin1.txt")

    for words, vectors, match in ((["a b"], torch.zeros(1, 2), "spaces"), (["a"], torch.zeros(2, 2), "shape"),
                                  (["a", "a"], torch.zeros(2, 2), "twice")):
        with pytest.raises(ValueError, match=match):
            text.save_embeddings(tmp_path / "out.txt", words, vectors)
    with pytest.raises(ValueError, match="format"):
        text.save_embeddings(tmp_path / "out.txt", ["a"], torch.zeros(1, 2), format="fasttext")


# ------------------------------------------------------------------ the generated corpus
LEMMA = {participle: verb for verb, (participle, _) in gen.VERBS.items()}


def _members(category):
    return set(gen.CATEGORIES[category]) | {w for w, senses in gen.SENSES.items() if category in senses}


def test_corpus_is_deterministic_per_seed_and_split():
    a, b = gen.corpus(300, seed=3), gen.corpus(300, seed=3)
    assert a.sentences == b.sentences and a.senses == b.senses and a.documents == b.documents
    test = gen.corpus(300, seed=3, split="test")
    other = gen.corpus(300, seed=4)
    # The grammar is small, so single sentences recur; the samples as a whole do not.
    for c in (test, other):
        assert sum(x == y for x, y in zip(a.sentences, c.sentences)) < 60
    assert test.facts == a.facts and other.facts != a.facts  # the facts are the seed's, shared by its splits



def test_generators_neither_use_nor_move_torch_global_random_state():
    makers = [lambda: gen.corpus(100, seed=1).sentences, lambda: gen.paraphrases(20, seed=1),
              lambda: gen.translation_pairs(20, seed=1), lambda: gen.next_sentence_pairs(20, seed=1),
              lambda: gen.retrieval(10, seed=1), lambda: gen.facts(1),
              *(lambda task=task: task(20, length=(2, 6), seed=1)[0].tolist() for task in TASKS)]
    for make in makers:
        torch.manual_seed(0)
        first = make()
        torch.rand(3)  # a learner's own random calls in between
        state = torch.get_rng_state()
        assert make() == first and torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="split"):
        gen.corpus(10, split="valid")
    with pytest.raises(ValueError, match="n must be"):
        gen.corpus(0)


def test_corpus_layout_and_lexicon():
    c = gen.corpus(2000, seed=1)
    assert len(c.sentences) == 2000 and [s for d in c.documents for s in d] == c.sentences
    assert all(3 <= len(d) <= 6 for d in c.documents[:-1]) and 1 <= len(c.documents[-1]) <= 6
    words = set(gen.WORDS)
    assert len(words) == len(gen.WORDS) and all(set(s.split()) <= words for s in c.sentences)
    vocab = Vocab.build(c.sentences)
    assert 50 <= len(vocab) - text.NUM_SPECIAL <= 150  # small enough for topic 08's seconds of training
    assert c.category == {w: cat for cat, ws in gen.CATEGORIES.items() for w in ws}  # every category word occurs
    assert not set(c.category) & set(gen.SENSES)
    for document in c.documents:  # a story: one person, one place, said in its first sentence
        first = document[0].split()
        assert first[:1] + first[2:4] == ["the", "visits", "the"]
        assert all(first[1] in s.split() for s in document)


def test_verbs_select_their_objects():
    c = gen.corpus(1000, seed=2)
    checked = 0
    for sentence in c.sentences:
        tokens = sentence.split()
        for i, token in enumerate(tokens):
            if token in gen.VERBS:  # active: "<verb> the <object>"
                assert tokens[i + 1] == "the" and tokens[i + 2] in _members(gen.VERBS[token][1]), sentence
                assert tokens[i - 1] in gen.CATEGORIES["people"]
                checked += 1
            elif token in LEMMA:  # passive: "the <object> is <participle> by the <person>"
                assert tokens[i - 1] == "is" and tokens[i - 2] in _members(gen.VERBS[LEMMA[token]][1]), sentence
                assert tokens[i + 1:i + 3] == ["by", "the"] and tokens[i + 3] in gen.CATEGORIES["people"]
                checked += 1
    assert checked > 700


def test_category_words_share_contexts():
    """Counts of the words within 2 tokens make each category word's nearest neighbour one of its category."""
    c = gen.corpus(2000, seed=0)
    vocab = Vocab.build(c.sentences)
    counts = torch.zeros(len(vocab), len(vocab))
    for sentence in c.sentences:
        ids = vocab.encode(sentence)
        for i, w in enumerate(ids):
            for j in range(max(0, i - 2), min(len(ids), i + 3)):
                counts[w, ids[j]] += i != j
    words = list(c.category)
    rows = torch.nn.functional.normalize(counts[[vocab[w] for w in words]], dim=1)  # (W, V)
    similarity = rows @ rows.T - 2 * torch.eye(len(words))  # a word is not its own neighbour
    nearest = similarity.argmax(1).tolist()
    wrong = [(w, words[j]) for w, j in zip(words, nearest) if c.category[w] != c.category[words[j]]]
    assert not wrong


def test_two_sense_words_are_listed_and_their_contexts_tell_the_sense():
    c = gen.corpus(3000, seed=0)
    listed = {(s.sentence, s.position) for s in c.senses}
    found = {(i, p) for i, s in enumerate(c.sentences) for p, w in enumerate(s.split()) if w in gen.SENSES}
    assert listed == found  # every occurrence, and only those
    contexts = {}
    for s in c.senses:
        tokens = ["<s>", "<s>", *c.sentences[s.sentence].split(), "</s>", "</s>"]
        assert tokens[s.position + 2] == s.word and s.sense in gen.SENSES[s.word]
        context = tuple(tokens[s.position:s.position + 2] + tokens[s.position + 3:s.position + 5])
        contexts.setdefault((s.word, context), set()).add(s.sense)
    assert all(len(senses) == 1 for senses in contexts.values())  # the 2 tokens either side always tell
    seen = {(s.word, s.sense) for s in c.senses}
    assert seen == {(w, sense) for w, senses in gen.SENSES.items() for sense in senses}  # both senses of each


def test_facts_are_stated_and_askable():
    facts = gen.facts(5)
    assert len(facts) == 16 and facts == gen.corpus(50, seed=5).facts
    homes = [f.obj for f in facts if f.relation == "lives in"]
    pets = [f.obj for f in facts if f.relation == "owns"]
    assert sorted(homes) == sorted(gen.CATEGORIES["places"]) and sorted(pets) == sorted(gen.CATEGORIES["animals"])
    farmer = next(f for f in facts if f.subject == "farmer" and f.relation == "lives in")
    assert farmer.statement == f"the farmer lives in the {farmer.obj}"
    assert farmer.question == "where does the farmer live ?"
    assert gen.Fact("boy", "owns", "cat").question == "what does the boy own ?"
    stated = [s for s in gen.corpus(2000, seed=5).sentences if " lives in " in s or " owns " in s]
    assert len(stated) > 100 and set(stated) <= {f.statement for f in facts}  # never contradicted


def test_paraphrases():
    triplets = gen.paraphrases(500, seed=0)
    assert len(triplets) == 500 and triplets == gen.paraphrases(500, seed=0)
    assert triplets != gen.paraphrases(500, seed=0, split="test")

    def meaning(sentence):  # the content words, the participle read as its verb
        return sorted(LEMMA.get(w, w) for w in sentence.split() if w not in ("the", "in", "is", "by"))

    def bag(sentence):
        counts = torch.zeros(len(gen.WORDS))
        for w in sentence.split():
            counts[gen.WORDS.index(w)] += 1
        return torch.nn.functional.normalize(counts, dim=0)

    for anchor, positive, negative in triplets:
        assert anchor != positive and meaning(anchor) == meaning(positive)
        a, n = meaning(anchor), meaning(negative)
        assert len(a) == len(n) and len(set(a) ^ set(n)) == 2  # one word changed
    # Bag-of-words cosine (what an untrained mean-pooled encoder sees) does not tell them apart: AUC about 0.47.
    positives = torch.stack([bag(a) @ bag(p) for a, p, _ in triplets])
    negatives = torch.stack([bag(a) @ bag(n) for a, _, n in triplets])
    auc = ((positives[:, None] > negatives[None]).float() + 0.5 * (positives[:, None] == negatives[None])).mean()
    assert auc < 0.55


def test_translation():
    assert gen.translate("the farmer eats the bread in the park") == "remraf ga krap eseo daerb reul stae"
    assert gen.translate("the boy drinks the tea") == "yob ga aet reul sknird"
    assert gen.translate("the cat sleeps in the garden") == "tac ga nedrag eseo speels"
    for bad in ("the bread is eaten by the farmer", "the cat eats the bread", "the farmer eats the car", ""):
        with pytest.raises(ValueError, match="cannot translate"):
            gen.translate(bad)
    pairs = gen.translation_pairs(300, seed=1)
    assert pairs == gen.translation_pairs(300, seed=1) and pairs != gen.translation_pairs(300, seed=1, split="test")
    assert all(gen.translate(source) == target for source, target in pairs)
    assert {len(s.split()) for s, _ in pairs} == {5, 6, 8} and {len(t.split()) for _, t in pairs} == {5, 7}
    english = {w for s, _ in pairs for w in s.split()}
    foreign = {w for _, t in pairs for w in t.split()}
    assert set(gen.PARTICLES) <= foreign and not english & foreign - {"saw"[::-1]} - english


def test_next_sentence_pairs():
    pairs = gen.next_sentence_pairs(1000, seed=0)
    assert pairs == gen.next_sentence_pairs(1000, seed=0) and pairs != gen.next_sentence_pairs(1000, split="test")
    is_next = [p[2] for p in pairs]
    assert 400 < sum(is_next) < 600
    def person(sentence):
        return next(w for w in sentence.split() if w in gen.CATEGORIES["people"])

    same = [person(a) == person(b) for a, b, _ in pairs]  # every story sentence names its person
    assert all(s for s, n in zip(same, is_next) if n)
    assert sum(s for s, n in zip(same, is_next) if not n) < 0.2 * (len(pairs) - sum(is_next))  # 1 in 8 by chance
    assert not any(" visits " in b for a, b, n in pairs if not n)  # a random B is never a story's opening


def _passage_triples(passage):
    """(verb, object, place) of each thing its person does, read back from the text."""
    sentences = [s.split() for s in passage.removesuffix(" .").split(" . ")]
    place = sentences[0][4]
    triples = set()
    for tokens in sentences[1:]:
        if len(tokens) >= 5 and tokens[2] in gen.VERBS:
            triples.add((tokens[2], tokens[4], place))
        elif len(tokens) >= 7 and tokens[3] in LEMMA:
            triples.add((LEMMA[tokens[3]], tokens[1], place))
    return triples


def test_retrieval_queries_have_one_relevant_passage():
    r = gen.retrieval(100, seed=0)
    assert len(r.queries) == len(r.passages) == 100 and r.relevant == list(range(100))
    assert r == gen.retrieval(100, seed=0) and r.passages != gen.retrieval(100, seed=0, split="test").passages
    triples = [_passage_triples(p) for p in r.passages]
    for i, query in enumerate(r.queries):
        words = query.split()
        assert words[0] == "who" and words[-1] == "?" and words[3] != words[-2]
        asked = (words[1], words[3], words[-2])
        assert [j for j, t in enumerate(triples) if asked in t] == [i], query
    assert all(p.endswith(" .") for p in r.passages)
    with pytest.raises(ValueError, match="fewer"):
        gen.retrieval(2000)


def test_every_generated_english_token_is_in_words():
    vocab = Vocab(gen.WORDS)
    texts = [*gen.corpus(500).sentences, *(s for t in gen.paraphrases(200) for s in t),
             *(s for s, _ in gen.translation_pairs(200)),
             *(s for a, b, _ in gen.next_sentence_pairs(200) for s in (a, b)),
             *gen.retrieval(50).queries, *gen.retrieval(50).passages, *(f.question for f in gen.facts())]
    assert all(text.UNK_ID not in vocab.encode(t) for t in texts)


# ------------------------------------------------------------------ sequence tasks
TASKS = (sequences.copy_task, sequences.reverse_task, sequences.recall_task, sequences.next_token_task)


def test_sequence_tasks_shapes_padding_and_vocabulary():
    for task in TASKS:
        for length in (6, (3, 9)):
            inputs, targets, lengths = task(200, vocab_size=9, length=length, seed=1)
            T = lengths.max().item()
            assert inputs.dtype == targets.dtype == lengths.dtype == torch.int64, task.__name__
            assert inputs.shape == (200, T) and lengths.shape == (200,)
            lo, hi = (length, length) if isinstance(length, int) else length
            assert lo <= lengths.min() and lengths.max() <= hi
            if not isinstance(length, int):
                assert T == hi and lengths.min() == lo  # 200 draws cover the range
            real = torch.arange(T) < lengths[:, None]
            assert (inputs[~real] == text.PAD_ID).all()
            assert set(inputs[real].unique().tolist()) == {5, 6, 7, 8}  # the word ids 5..vocab_size-1, all used
            assert targets.shape == ((200,) if task is sequences.recall_task else (200, T))


def test_sequence_tasks_targets():
    inputs, targets, lengths = sequences.copy_task(50, length=(2, 7), seed=2)
    assert torch.equal(inputs, targets)
    inputs, targets, lengths = sequences.reverse_task(50, length=(2, 7), seed=2)
    for x, y, n in zip(inputs.tolist(), targets.tolist(), lengths.tolist()):
        assert y == x[:n][::-1] + [0] * (len(x) - n)
    inputs, targets, lengths = sequences.recall_task(50, length=(20, 30), seed=2)
    assert torch.equal(targets, inputs[:, 0])
    inputs, targets, lengths = sequences.next_token_task(50, length=(2, 7), seed=2)
    for x, y, n in zip(inputs.tolist(), targets.tolist(), lengths.tolist()):
        assert y == x[1:n] + [text.IGNORE_INDEX] * (len(x) - n + 1)


def test_sequence_tasks_are_deterministic_and_splits_independent():
    for task in TASKS:
        a = task(100, length=(3, 8), seed=5)
        assert all(torch.equal(x, y) for x, y in zip(a, task(100, length=(3, 8), seed=5)))
        for other in (task(100, length=(3, 8), seed=5, split="test"), task(100, length=(3, 8), seed=6)):
            assert (a[0][:, :3] == other[0][:, :3]).float().mean() < 0.5  # as unrelated as two draws


def test_sequence_tasks_leave_nothing_to_guess():
    """No shortcut: the first token is uniform and independent of the last one, and the next token of the
    current one, so a model that cannot remember (recall) or look ahead (tagging) stays at chance."""
    inputs, targets, lengths = sequences.recall_task(20_000, vocab_size=10, length=(20, 30), seed=0)
    frequencies = torch.bincount(targets, minlength=10)[5:] / len(targets)
    assert (frequencies - 0.2).abs().max() < 0.02
    last = inputs[torch.arange(len(inputs)), lengths - 1]
    assert (last == targets).float().mean() < 0.22
    inputs, targets, _ = sequences.next_token_task(2_000, vocab_size=10, length=20, seed=0)
    keep = targets != text.IGNORE_INDEX
    pairs = torch.zeros(10, 10)
    pairs.index_put_((inputs[keep], targets[keep]), torch.ones(int(keep.sum())), accumulate=True)
    best_table = pairs.max(1).values.sum() / keep.sum()  # the best guess of t+1 from the token at t
    assert best_table < 0.22


def test_bos_eos():
    targets = torch.tensor([[7, 8, 9], [5, 6, 0]])
    inputs, labels = sequences.bos_eos(targets, torch.tensor([3, 2]))
    assert inputs.tolist() == [[text.BOS_ID, 7, 8, 9], [text.BOS_ID, 5, 6, 0]]
    assert labels.tolist() == [[7, 8, 9, text.EOS_ID], [5, 6, text.EOS_ID, 0]]
    _, targets, lengths = sequences.reverse_task(30, length=(1, 6), seed=0)
    inputs, labels = sequences.bos_eos(targets, lengths)
    assert inputs.shape == labels.shape == (30, targets.shape[1] + 1)
    inside = torch.arange(targets.shape[1]) < lengths[:, None]  # (30, T): the target tokens
    assert torch.equal(inputs[:, 1:][inside], targets[inside]) and torch.equal(labels[:, :-1][inside], targets[inside])
    assert (inputs[:, 0] == text.BOS_ID).all() and (labels[torch.arange(30), lengths] == text.EOS_ID).all()
    assert ((labels != 0).sum(1) == lengths + 1).all() and ((inputs != 0).sum(1) == lengths + 1).all()
    # Only the first `length` tokens count, whatever follows them.
    inputs, labels = sequences.bos_eos(torch.tensor([[7, 8, 9]]), torch.tensor([1]))
    assert inputs.tolist() == [[text.BOS_ID, 7, 0, 0]] and labels.tolist() == [[7, text.EOS_ID, 0, 0]]
    with pytest.raises(ValueError, match="lengths"):
        sequences.bos_eos(targets, lengths[:3])


def test_sequence_task_errors():
    for kwargs, match in (({"vocab_size": 6}, "vocab_size"), ({"length": 0}, "length"),
                          ({"length": (5, 3)}, "length"), ({"n": 0}, "n must")):
        with pytest.raises(ValueError, match=match):
            sequences.copy_task(**{"n": 10, **kwargs})
    with pytest.raises(ValueError, match="length"):
        sequences.next_token_task(10, length=1)  # a next token needs two
    with pytest.raises(ValueError, match="split"):
        sequences.recall_task(10, split="validation")


# ------------------------------------------------------------------ per-position targets, their score, text data
def test_next_token_targets():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [7, 0, 0, 0]])
    y = sequences.next_token_targets(ids, torch.tensor([3, 2, 1]))
    assert y.dtype == torch.int64
    assert y.tolist() == [[6, 7, -100, -100], [9, -100, -100, -100], [-100, -100, -100, -100]]
    # Only the lengths say where a sequence ends: a token id after it is not a target.
    assert sequences.next_token_targets(torch.tensor([[5, 6, 7, 8]]), torch.tensor([2])).tolist() == [[6] + [-100] * 3]
    # next_token_task's targets are these targets of its inputs.
    inputs, targets, lengths = sequences.next_token_task(40, length=(2, 9), seed=3)
    assert torch.equal(sequences.next_token_targets(inputs, lengths), targets)
    # On ids' device, whatever device the lengths are on.
    meta = sequences.next_token_targets(torch.zeros(2, 3, dtype=torch.int64, device="meta"), torch.tensor([3, 1]))
    assert meta.device.type == "meta" and meta.shape == (2, 3)
    for bad_ids, bad_lengths, match in ((ids, torch.tensor([3, 2]), r"\(3,\)"), (ids, torch.tensor([3, 2, 5]), "0..4"),
                                        (ids, torch.tensor([3.0, 2.0, 1.0]), "integer"),
                                        (ids.float(), torch.tensor([3, 2, 1]), "integers"),
                                        (ids[0], torch.tensor([3]), r"\(n, T\)")):
        with pytest.raises(ValueError, match=match):
            sequences.next_token_targets(bad_ids, bad_lengths)


def test_last_token_targets():
    y = sequences.last_token_targets(torch.tensor([7, 8, 9]), torch.tensor([2, 4, 1]), 5)
    assert y.dtype == torch.int64 and y.tolist() == [[-100, 7, -100, -100, -100], [-100, -100, -100, 8, -100],
                                                     [9, -100, -100, -100, -100]]
    # recall_task's answer, scored where the whole sequence has been read.
    inputs, targets, lengths = sequences.recall_task(30, length=(2, 6), seed=1)
    y = sequences.last_token_targets(targets, lengths, inputs.shape[1])
    assert y.shape == inputs.shape and ((y != text.IGNORE_INDEX).sum(1) == 1).all()
    assert torch.equal(y[torch.arange(30), lengths - 1], inputs[:, 0])
    meta = sequences.last_token_targets(torch.tensor([5, 6], device="meta"), torch.tensor([1, 2]), 3)
    assert meta.device.type == "meta" and meta.shape == (2, 3)
    for bad_targets, bad_lengths, match in ((torch.tensor([7, 8]), torch.tensor([1, 0]), "1..5"),
                                            (torch.tensor([7, 8]), torch.tensor([6, 1]), "1..5"),
                                            (torch.tensor([7, 8]), torch.tensor([1]), r"\(2,\)"),
                                            (torch.tensor([[7, 8]]), torch.tensor([1]), r"\(n,\)")):
        with pytest.raises(ValueError, match=match):
            sequences.last_token_targets(bad_targets, bad_lengths, 5)


class _FixedLogits(torch.nn.Module):
    """Logits (B, T, C) that vote for a given token at each position; records how it was called."""

    def __init__(self, guesses, num_classes=10):
        super().__init__()
        self.guesses, self.num_classes, self.calls = guesses, num_classes, []

    def forward(self, X, lengths=None):
        self.calls.append((len(X), None if lengths is None else lengths.tolist(), self.training))
        rows = self.guesses[X[:, 0] - 100]  # (b, T): row i of X starts with the id 100 + i
        return torch.nn.functional.one_hot(rows, self.num_classes).float()  # (b, T, C)


def test_token_accuracy_scores_only_the_scored_positions():
    guesses = torch.tensor([[5, 6, 7], [8, 9, 5], [6, 6, 6], [7, 7, 7], [5, 5, 5]])  # (5, T=3)
    X = torch.arange(100, 105)[:, None].expand(5, 3)  # row i is known by its first id, 100 + i
    y = torch.tensor([[5, 6, -100], [8, 5, -100], [-100, -100, -100], [7, -100, 9], [5, -100, -100]])
    model = _FixedLogits(guesses)
    # 5 of the 7 scored positions right (row 2 scores none); an ignored position counts neither way.
    assert sequences.token_accuracy(model, X, y, batch_size=2) == 5 / 7
    assert [c[0] for c in model.calls] == [2, 2, 1] and not any(c[2] for c in model.calls), model.calls  # eval mode
    assert not model.training
    model.calls.clear()
    lengths = torch.tensor([2, 2, 1, 3, 1])
    assert sequences.token_accuracy(model, X, y, lengths, batch_size=3) == 5 / 7
    assert [c[1] for c in model.calls] == [[2, 2, 1], [3, 1]]  # each batch's lengths go to the model
    with pytest.raises(ValueError, match="no position"):
        sequences.token_accuracy(model, X, torch.full((5, 3), text.IGNORE_INDEX))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        sequences.token_accuracy(model, X, y[:, :2])


def test_next_token_data_from_the_generated_corpus():
    (X, y, lengths), (X_test, y_test, test_lengths), vocab, _ = sequences.next_token_data(train_size=60, test_size=20,
                                                                                         seed=4)
    assert X.shape[0] == y.shape[0] == lengths.shape[0] == 60 and X_test.shape[0] == 20 and X.shape == y.shape
    assert X.dtype == y.dtype == lengths.dtype == torch.int64
    assert torch.equal(y, sequences.next_token_targets(X, lengths))
    assert torch.equal(y_test, sequences.next_token_targets(X_test, test_lengths))
    train_text = gen.corpus(60, seed=4).sentences
    assert vocab.itos == Vocab.build(train_text).itos  # built from the training sentences only
    assert [vocab.decode(row) for row in X[:3]] == train_text[:3]
    again = sequences.next_token_data(train_size=60, test_size=20, seed=4)
    assert torch.equal(again[0][0], X) and torch.equal(again[1][0], X_test)
    cut = sequences.next_token_data(train_size=60, test_size=20, seed=4, max_len=3, max_size=8)
    assert cut[0][0].shape[1] == 3 and cut[0][2].max() == 3 and len(cut[2]) == 8
    assert int(cut[0][0].max()) < 8  # words outside the vocabulary are [UNK]
    assert torch.equal(cut[0][1], sequences.next_token_targets(cut[0][0], cut[0][2]))


def test_next_token_data_from_a_file(tmp_path):
    path = tmp_path / "text.txt"
    sentences = [f"sentence number {i} ends here ." for i in range(20)]
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    held_out = []
    for seed in (0, 1):
        (X, _, lengths), (X_test, _, _), vocab, _ = sequences.next_token_data(path, seed=seed)
        assert len(X) == 18 and len(X_test) == 2 and (lengths == 6).all()
        trained = {vocab.decode(row) for row in X}
        assert len(trained) == 18 and trained <= set(sentences)
        # The vocabulary is the training sentences': the test sentences' numbers are unknown words.
        assert all(vocab.decode(row) == "sentence number [UNK] ends here ." for row in X_test)
        held_out.append(set(sentences) - trained)
    # A tenth of the file drawn from the seed, not its last lines.
    assert held_out[0] != held_out[1] and held_out != [set(sentences[-2:])] * 2
    two = tmp_path / "two.txt"
    two.write_text("the cat eats\nthe dog runs\n", encoding="utf-8")
    (X, _, _), (X_test, _, _), _, _ = sequences.next_token_data(two, max_len=2)
    assert len(X) == len(X_test) == 1 and X.shape[1] == 2
    one = tmp_path / "one.txt"
    one.write_text("the cat eats\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least two"):
        sequences.next_token_data(one)
    with pytest.raises(FileNotFoundError):
        sequences.next_token_data(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="max_len"):
        sequences.next_token_data(path, max_len=1)


def test_tagging_data_recall_and_lm(tmp_path):
    data = sequences.tagging_data("recall", train_size=40, test_size=30, seed=2, vocab_size=8, length=(3, 6))
    X, y, X_test, y_test, num_classes, description = data
    inputs, answers, lengths = sequences.recall_task(40, vocab_size=8, length=(3, 6), seed=2)
    assert torch.equal(X, inputs) and torch.equal(y, sequences.last_token_targets(answers, lengths, X.shape[1]))
    inputs, answers, lengths = sequences.recall_task(30, vocab_size=8, length=(3, 6), seed=2, split="test")
    assert torch.equal(X_test, inputs) and torch.equal(y_test, sequences.last_token_targets(answers, lengths,
                                                                                            X_test.shape[1]))
    assert num_classes == 8 and "3-6" in description and "0.33" in description  # 3 symbols: chance 1/3
    assert data.num_classes == 8 and data.X is X  # a named tuple
    (X, y, _), (X_test, y_test, _), vocab, _ = sequences.next_token_data(train_size=30, test_size=10, seed=1)
    lm = sequences.tagging_data("lm", train_size=30, test_size=10, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(lm[:4], (X, y, X_test, y_test))) and lm.num_classes == len(vocab)
    assert "30 training and 10 test sentences" in lm.description
    path = tmp_path / "text.txt"
    path.write_text("the cat eats\nthe dog runs\nthe bird sings\n", encoding="utf-8")
    assert len(sequences.tagging_data("lm", path).X) == 2
    with pytest.raises(ValueError, match="task must be"):
        sequences.tagging_data("translate")
    with pytest.raises(ValueError, match="'lm'"):
        sequences.tagging_data("recall", path)


def test_tokenize_can_drop_punctuation():
    assert tokenize("The cat's toy, please!", punctuation=False) == ["the", "cat's", "toy", "please"]
    assert tokenize("a well-known [MASK] ... (really) 3.5 $", punctuation=False) == [
        "a", "well-known", "[MASK]", "really", "3", "5"]
    assert tokenize("Hi, you.") == ["hi", ",", "you", "."]  # the default keeps every mark
    assert [text.is_punctuation(t) for t in (".", "?", "'", "(", "-", "a", "7", "_", "[MASK]", "cat's")] == [
        True] * 5 + [False] * 5


def test_next_token_data_on_real_sized_text(tmp_path):
    """A real corpus: a very long line, punctuation, more words than the vocabulary keeps, one-word lines."""
    path = tmp_path / "text.txt"
    lines = [f"The cat number {i} eats, then sleeps." for i in range(18)]
    lines += [" ".join(f"w{i}" for i in range(300)) + " .", "Hello!", "!!!"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (X, y, lengths), (X_test, _, _), vocab, description = sequences.next_token_data(path, max_len=10, max_size=12)
    assert max(X.shape[1], X_test.shape[1]) == 10 and lengths.max() <= 10  # padded to max_len, not to 301 tokens
    assert torch.equal(y, sequences.next_token_targets(X, lengths))
    assert len(vocab) == 12 and "[UNK]" in {vocab.itos[i] for i in X.flatten().tolist()}
    assert "," in vocab and "." in vocab  # a mark is a token of the vocabulary and a target
    assert len(X) + len(X_test) == 21  # "Hello!" has two tokens and "!!!" three: nothing is left out
    assert "1 sentence longer than 10 tokens cut to their first 10 (the longest has 301)" in description
    assert "the 7 most frequent of" in description and "each mark a token to predict" in description

    (X, _, lengths), (X_test, _, _), vocab, description = sequences.next_token_data(path, punctuation=False)
    assert not any(text.is_punctuation(t) for t in vocab.itos)
    assert X.shape[1] == 300 and len(X) + len(X_test) == 19  # no max_len: the longest line; "!!!" and "Hello" go
    assert "2 lines of fewer than two tokens left out" in description and "dropped" in description
    assert "cut" not in description
    generated = sequences.next_token_data(train_size=20, test_size=5).description
    assert "punctuation" not in generated and "cut" not in generated  # the generated corpus has neither
