"""Sentences as token ids, and the BLEU score of translations.

The small text toolkit of the translation lab (EE-559 11.3), written here so that every
step can be read:

- :func:`tokenize`: lower-case, then words and punctuation marks as separate tokens.
- :class:`Vocab`: token <-> id, with the four special tokens of a sequence model
  (``<pad>`` 0, ``<sos>`` 1, ``<eos>`` 2, ``<unk>`` 3).
- :func:`pad`: id sequences of different lengths -> one N x L tensor (a batch, or a
  whole data set to cut into batches), padded with 0.
- :func:`corpus_bleu`: BLEU (Papineni et al., 2002), corpus-level, against one or more
  references per sentence.

BLEU compares n-grams (n = 1..4 by default) of the candidate translations with those of
the references, over the whole corpus at once::

    p_n  = sum over sentences of matched n-grams / sum of the candidate's n-grams
    BP   = 1 if c > r else exp(1 - r / c)          (the brevity penalty)
    BLEU = BP * exp(sum_n log(p_n) / N)

A candidate n-gram is matched at most as many times as it occurs in the one reference
that holds it most often ("clipped" counts: "the the the" against "the cat" matches one
"the"). c is the candidates' total length and r the sum, over sentences, of the
reference length closest to the candidate's (the shorter one on a tie). Without
smoothing, an order with no match at all gives BLEU = 0; ``epsilon > 0`` replaces such a
zero count by epsilon (Chen & Cherry, 2014, "method 1"; NLTK uses 0.1). The score is in
[0, 1]; papers print 100 x BLEU.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from dlc.errors import InvalidArgument

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<sos>", "<eos>", "<unk>")

# a word: letters or digits, possibly joined by apostrophes or hyphens (don't, j'ai,
# est-ce); anything else that is not a space is a token of its own (. ! ? , « »)
_TOKEN = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens: words (with their inner apostrophes and hyphens) and single
    punctuation marks. ``"I'm so tired!"`` -> ``["i'm", "so", "tired", "!"]``.

    Unicode is normalised (NFC) and the typographic apostrophe ’ read as '. Every kind
    of space separates tokens, including the narrow no-break space French puts before
    ! and ?."""
    if not isinstance(text, str):
        raise InvalidArgument(f"tokenize needs a string, got {type(text).__name__}")
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower().replace("\u2019", "'"))


def _check_tokens(tokens, what: str) -> None:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise InvalidArgument(
            f"{what} must be a list of tokens (e.g. tokenize(sentence)), got {type(tokens).__name__}"
            + (f" {tokens[:40]!r}" if isinstance(tokens, str) else "")
        )
    for t in tokens:
        if not isinstance(t, str):
            raise InvalidArgument(f"{what} must hold strings (tokens), found {type(t).__name__} {t!r}")


class Vocab:
    """Tokens <-> ids. Ids 0-3 are ``<pad>``, ``<sos>``, ``<eos>``, ``<unk>``; then the
    tokens seen at least ``min_count`` times, most frequent first (ties: first seen
    first), at most ``max_size`` of them (None: all)."""

    def __init__(self, sentences: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None):
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise InvalidArgument(f"min_count must be a whole number >= 1, got {min_count!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0):
            raise InvalidArgument(f"max_size must be None or a whole number >= 0, got {max_size!r}")
        counts: Counter = Counter()
        for i, s in enumerate(sentences):
            _check_tokens(s, f"sentence {i}")
            counts.update(s)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in SPECIALS]
        self.itos: list[str] = list(SPECIALS) + kept[:max_size]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {', '.join(self.itos[4:10])}, ...)"

    def index(self, token: str) -> int:
        """The token's id; ``UNK`` for a token not in the vocabulary."""
        return self.stoi.get(token, UNK)

    def encode(self, tokens: Sequence[str], sos: bool = False, eos: bool = True) -> list[int]:
        """Ids of the tokens, with ``<sos>`` in front and ``<eos>`` at the end if asked."""
        _check_tokens(tokens, "tokens")
        return [SOS] * sos + [self.index(t) for t in tokens] + [EOS] * eos

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of the ids up to the first ``<eos>``, without ``<pad>`` and ``<sos>``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise InvalidArgument(f"id {i} is outside the vocabulary (0..{len(self.itos) - 1})")
            if i == EOS:
                break
            if i not in (PAD, SOS):
                out.append(self.itos[i])
        return out


def pad(sequences: Sequence[Sequence[int]], length: int | None = None, value: int = PAD) -> torch.Tensor:
    """N id sequences -> an N x L int64 tensor, each row padded on the right with
    ``value``; L is the longest sequence's length, or ``length`` (sequences longer than
    that are an error, not cut)."""
    if len(sequences) == 0:
        raise InvalidArgument("pad needs at least one sequence")
    longest = max(len(s) for s in sequences)
    if length is None:
        length = longest
    elif longest > length:
        raise InvalidArgument(f"a sequence has {longest} ids, more than length={length}")
    return torch.tensor([[int(i) for i in s] + [value] * (length - len(s)) for s in sequences], dtype=torch.long)


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """The n-grams of a token list with their counts."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass
class Bleu:
    """A corpus BLEU: the score in [0, 1] and what it is made of."""

    score: float
    precisions: list[float]  # p_1 .. p_N (after smoothing)
    matches: list[int]  # clipped matched n-grams, per order
    totals: list[int]  # candidate n-grams, per order
    brevity_penalty: float
    candidate_length: int  # c
    reference_length: int  # r

    def __float__(self) -> float:
        return self.score

    def __str__(self) -> str:
        ps = "/".join(f"{100 * p:.1f}" for p in self.precisions)
        return (
            f"BLEU {100 * self.score:.2f} ({ps}, BP {self.brevity_penalty:.3f}, "
            f"c/r {self.candidate_length}/{self.reference_length})"
        )


def corpus_bleu(
    candidates: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    max_n: int = 4,
    epsilon: float = 0.0,
) -> Bleu:
    """Corpus-level BLEU of tokenised ``candidates`` against their ``references``.

    references[i] is the list of reference translations (each a token list) of
    candidates[i]: ``[["le", "chat"], ["un", "chat"]]``; a single reference is given as
    ``[ref]``. Uniform weights 1 / max_n over the orders 1..max_n. ``epsilon``: the count
    used for an order with no match at all (0: none, then BLEU = 0; see the module's
    docstring). An empty candidate counts with length 0.
    """
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise InvalidArgument(f"max_n must be a whole number >= 1, got {max_n!r}")
    if not (isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool)) or not 0 <= epsilon < 1:
        raise InvalidArgument(f"epsilon must be a number in [0, 1), got {epsilon!r}")
    if isinstance(candidates, str) or isinstance(references, str):
        raise InvalidArgument("candidates and references must be lists of token lists, not strings")
    if len(candidates) != len(references):
        raise InvalidArgument(f"{len(candidates)} candidates but {len(references)} lists of references")
    if len(candidates) == 0:
        raise InvalidArgument("BLEU needs at least one candidate sentence")
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for i, (cand, refs) in enumerate(zip(candidates, references)):
        _check_tokens(cand, f"candidate {i}")
        if isinstance(refs, str) or not isinstance(refs, Sequence) or len(refs) == 0:
            raise InvalidArgument(f"references[{i}] must be a non-empty list of reference token lists")
        if all(isinstance(t, str) for t in refs):
            raise InvalidArgument(
                f"references[{i}] is one token list; give each candidate a list of references: [reference]"
            )
        for j, ref in enumerate(refs):
            _check_tokens(ref, f"reference {j} of sentence {i}")
        c += len(cand)
        r += min((abs(len(ref) - len(cand)), len(ref)) for ref in refs)[1]  # closest; the shorter on a tie
        for n in range(1, max_n + 1):
            cand_counts = ngrams(cand, n)
            most: Counter = Counter()
            for ref in refs:
                most |= ngrams(ref, n)  # the most occurrences of each n-gram in any one reference
            matches[n - 1] += sum(min(k, most[g]) for g, k in cand_counts.items())
            totals[n - 1] += sum(cand_counts.values())
    if c == 0:
        return Bleu(0.0, [0.0] * max_n, matches, totals, 0.0, 0, r)
    precisions = []
    for m, t in zip(matches, totals):
        if t == 0:  # candidates all shorter than n: no n-gram to count
            precisions.append(0.0)
        else:
            precisions.append((epsilon if m == 0 else m) / t)
    bp = 1.0 if c > r else math.exp(1 - r / c)
    if min(precisions) == 0:
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    return Bleu(score, precisions, matches, totals, bp, c, r)
