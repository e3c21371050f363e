"""Word embeddings, a character-level language model and a translation model (EE-559 11.3).

Words as vectors: word2vec's skip-gram with negative sampling (Mikolov et al., 2013).
Each word w has an input vector v_w and an output vector u_w; for a word c and a word o
seen within ``window`` words of it, the loss is

    -log sigma(u_o . v_c) - sum_{k=1..K} log sigma(-u_{n_k} . v_c),

with K "negative" words n_k drawn from the unigram distribution raised to 3/4. Words
that appear in the same contexts get close input vectors. The corpus is
``tinyshakespeare`` (about 200,000 words), lower-cased; the first 90% trains, the last
10% is held out.

Measured against a baseline in the same run: for each of the ``probe`` most frequent
words (after the 20 most frequent), its nearest neighbour among them by cosine of the
input vectors; how similar are the two words' *contexts* in the held-out text (the
cosine of their positive-PMI context vectors, counted on the held-out 10% only)? The
trained embedding against the same model untrained (random vectors). Analogies
("a is to b as c is to ?", answered by the nearest word to v_b - v_a + v_c) are
reported for both, on a small list that makes sense for this corpus (he/she, king/queen,
thou/thee, ...).

Then a character-level language model: a GRU reads the text one character at a time
and predicts the next; its held-out loss in bits per character against the unigram
baseline (each character predicted by its frequency alone), and text sampled from it.

Last, translation from English to French with a sequence-to-sequence model (Sutskever et
al., 2014) with attention (Bahdanau et al., 2015; here in the dot-product form of Luong
et al., 2015). A GRU encoder reads the English words both ways; a GRU decoder, started
from a summary of it, writes French words one at a time. After each decoder step,
:func:`attend` scores every encoder state by its dot product with the decoder's state; the
softmax of the scores weights the encoder states into a context vector, from which (with
the decoder's state) the next word is predicted. Training uses teacher forcing (the
decoder reads the reference's previous word), testing greedy decoding (it reads its own,
and never writes <unk>).
The data are the 5,000 shortest Tatoeba pairs (``eng-fra``), tokenised by :mod:`dlc.text`
(lower-cased, punctuation split off), at most ``max_tokens`` tokens a side; ``held_out`` of
the English sentences are held out with all their translations, and those translations
are the references of BLEU (:func:`dlc.text.corpus_bleu`: corpus-level, 1- to 4-grams, the
brevity penalty, no smoothing).

Measured against baselines in the same run, on the held-out sentences: the BLEU of the
untrained model, of copying the English, and of a word-by-word dictionary (each English
word replaced by the French word found with it most often in the training pairs, by the
Dice coefficient; unknown words copied); the teacher-forced loss per French word, trained
against untrained.

Check: the trained embedding's neighbours share more held-out context than the
untrained one's (by a margin); the character model's held-out bits per character are
well below the unigram baseline's; the translation model's held-out loss per word is
below half the untrained model's, and its held-out BLEU beats the untrained model's (0)
by more than 2 points (of 100).

Check also: the correlation, over all pairs of probe words, between the cosine of their
vectors and the cosine of their held-out context vectors, trained minus untrained.
Measured (seed 0, a busy machine): default r = 0.30 trained vs 0.00 untrained (an
earlier setting, subsampling 1e-4 and 3 epochs at lr 2e-2, gave only 0.09), neighbours
such as king -> richmond, richard; the analogies mostly fail on a corpus this small
(0 to 2 of 10 in the top 5). The character GRU reached about 3.0 bits/char after 150
steps against 4.83 for the unigram baseline (3.6 at ``--tiny``). The translation model
(seed 0, 12 epochs over 4,215 pairs, 381 held-out English sentences, every French word of
the training pairs in the decoder's vocabulary): held-out BLEU 18.1 against 14.3 for the
word-by-word dictionary and 0.0 for copying and for the untrained model, in 35 s for the
whole lab on a quiet machine. With 6 epochs and the French words seen fewer than 3 times
replaced by <unk>, it stayed below the dictionary (11.8): 4,000 pairs are few for a
neural model, and it needs both the epochs and the words. At ``--tiny`` (3 epochs) BLEU
is 4 to 8, depending on the seed, and the teacher-forced loss is already a quarter of
the untrained model's. The model writes fluent French, right on some sentences ("je ne
suis pas ici ."), fluent and wrong on others ("je suis si malade ." for "I'm greedy."),
where the dictionary has the content words without the grammar ("suis sale ." for "I'm
dirty."). BLEU moves by a few points from epoch to epoch and with the seed. The attention
rests on the final "." (whose state has read the whole sentence) for some words, and moves
to the word being translated for others (want -> veux, job -> boulot, have -> j'ai).
``--full`` trains it for 16 epochs: BLEU 19.3.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlc import data as datasets
from dlc import text, viz
from dlc.engine import Callback, Step, Supervised, evaluate, fit, standard_callbacks
from dlc.errors import DataError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict

ANALOGIES = [  # a : b :: c : d
    ("he", "she", "him", "her"),
    ("he", "she", "his", "her"),
    ("king", "queen", "lord", "lady"),
    ("father", "mother", "son", "daughter"),
    ("brother", "sister", "father", "mother"),
    ("i", "me", "we", "us"),
    ("i", "my", "thou", "thy"),
    ("thou", "thee", "he", "him"),
    ("is", "are", "was", "were"),
    ("man", "men", "lord", "lords"),
]
GROUPS = {  # words drawn in the embedding figure, by kind
    "pronouns": ["i", "me", "he", "him", "she", "her", "thou", "thee", "we", "they"],
    "family": ["father", "mother", "son", "daughter", "brother", "sister", "wife", "husband"],
    "rank": ["king", "queen", "lord", "lady", "duke", "prince", "sir", "madam"],
    "verbs": ["say", "speak", "come", "go", "know", "think", "see", "hear"],
    "numbers": ["one", "two", "three", "four", "five", "ten", "hundred", "thousand"],
}


@dataclass
class Config:
    vocab: int = 2000  # words kept (the most frequent); the others are dropped from the pairs
    dim: int = 50  # size of the word vectors
    window: int = 2  # context: words up to this distance on each side
    negatives: int = 5  # negative words per (word, context) pair
    subsample: float = 1e-3  # frequent words are dropped with probability 1 - sqrt(t / frequency)
    probe: int = 300  # words whose nearest neighbours are measured (the next after the 20 most frequent)
    sgns_epochs: int = 2  # passes over the word pairs
    sgns_lr: float = 1e-2  # Adam's step size for the embeddings
    sgns_batch: int = 4096  # pairs per step
    hidden: int = 128  # size of the character model's GRU state
    seq_len: int = 48  # characters per training window
    windows: int = 1600  # training windows per epoch of the character model (drawn at random)
    lm_epochs: int = 3  # epochs of the character model
    lm_lr: float = 4e-3  # Adam's step size for the character model
    lm_batch: int = 32  # windows per step
    sample_chars: int = 400  # characters generated at the end
    temperature: float = 0.8  # sampling temperature (lower: more conservative)
    max_tokens: int = 6  # translation: pairs with more tokens (words and punctuation marks) on a side are dropped
    held_out: float = 0.15  # fraction of the English sentences held out, with all their translations
    mt_min_count: int = 1  # French words seen fewer times in the training pairs are <unk> to the decoder
    mt_emb: int = 64  # size of the translation model's word vectors
    mt_hidden: int = 128  # size of its GRU states
    mt_dropout: float = 0.0  # dropout on its word vectors and before its output layer
    mt_epochs: int = 12  # passes over the training pairs
    mt_lr: float = 5e-3  # Adam's step size for the translation model
    mt_batch: int = 64  # sentence pairs per step
    TINY = {
        "sgns_epochs": 1,
        "vocab": 1500,
        "probe": 200,
        "windows": 800,
        "lm_epochs": 2,
        "hidden": 96,
        "mt_epochs": 3,
    }
    FULL = {"mt_epochs": 16}
    THREADS = 1  # small matrices: one thread is fastest

    def __post_init__(self):
        for name in ("vocab", "dim", "window", "negatives", "probe", "sgns_batch", "hidden", "seq_len", "windows"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_tokens", "mt_min_count", "mt_emb", "mt_hidden", "mt_batch"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.mt_hidden % 2:
            raise UsageError(f"--mt_hidden must be even (half for each direction of the encoder), got {self.mt_hidden}")
        for name in ("sgns_epochs", "lm_epochs", "sample_chars", "mt_epochs"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name} must be at least 0, got {getattr(self, name)}")
        if self.lm_batch < 1:
            raise UsageError(f"--lm_batch must be at least 1, got {self.lm_batch}")
        if not 0 < self.subsample <= 1:
            raise UsageError(f"--subsample must be in (0, 1], got {self.subsample}")
        if not 0 < self.temperature <= 10:
            raise UsageError(f"--temperature must be in (0, 10], got {self.temperature}")
        if not 0 < self.held_out < 1:
            raise UsageError(f"--held_out must be between 0 and 1 (e.g. 0.15), got {self.held_out}")
        if not 0 <= self.mt_dropout < 1:
            raise UsageError(f"--mt_dropout must be in [0, 1), got {self.mt_dropout}")
        if not self.mt_lr > 0:
            raise UsageError(f"--mt_lr must be positive, got {self.mt_lr}")
        if self.probe + 20 > self.vocab:
            raise UsageError(f"--probe ({self.probe}) + 20 must be at most --vocab ({self.vocab})")


# -- words ------------------------------------------------------------------------------


def words_of(corpus: str) -> list[str]:
    """Lower-cased words (letters and apostrophes)."""
    return re.findall(r"[a-z']+", corpus.lower())


def context_pairs(ids: torch.Tensor, window: int) -> torch.Tensor:
    """All (word, context) pairs within ``window`` positions, P x 2; -1 ids (dropped words) excluded."""
    pairs = []
    for d in range(1, window + 1):
        for a, b in ((ids[:-d], ids[d:]), (ids[d:], ids[:-d])):
            pairs.append(torch.stack([a, b], 1))
    p = torch.cat(pairs)
    return p[(p >= 0).all(1)]


class SkipGram(nn.Module):
    """Input vectors v (the embedding) and output vectors u; score(c, o) = u_o . v_c."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.inp = nn.Embedding(vocab, dim)
        self.out = nn.Embedding(vocab, dim)
        nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out.weight)


class NegativeSampling(Step):
    """One step of skip-gram with negative sampling on a batch of (word, context) pairs."""

    def __init__(self, model: SkipGram, optimizer: torch.optim.Optimizer, noise: torch.Tensor, negatives: int):
        self.model, self.optimizer, self.noise, self.k = model, optimizer, noise, negatives

    def __call__(self, batch):
        (pairs,) = batch
        c, o = pairs[:, 0], pairs[:, 1]
        neg = torch.multinomial(self.noise.to(pairs.device), len(c) * self.k, replacement=True).view(len(c), self.k)
        v = self.model.inp(c)  # B x d
        pos = (self.model.out(o) * v).sum(1)
        negs = torch.bmm(self.model.out(neg), v.unsqueeze(2)).squeeze(2)  # B x K
        loss = -(F.logsigmoid(pos) + F.logsigmoid(-negs).sum(1)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}


def ppmi(ids: torch.Tensor, vocab: int, window: int) -> torch.Tensor:
    """Positive pointwise mutual information of (word, context) counts, vocab x vocab."""
    pairs = context_pairs(ids, window)
    counts = torch.zeros(vocab * vocab)
    counts.index_add_(0, pairs[:, 0] * vocab + pairs[:, 1], torch.ones(len(pairs)))
    counts = counts.view(vocab, vocab)
    total = counts.sum()
    rows, cols = counts.sum(1, keepdim=True), counts.sum(0, keepdim=True)
    pmi = torch.log(counts * total / (rows * cols).clamp_min(1e-12)).nan_to_num(neginf=0.0)
    return pmi.clamp_min(0)


def neighbours(vectors: torch.Tensor, among: torch.Tensor, k: int = 1) -> torch.Tensor:
    """For each row of ``among`` (word ids), the k nearest other words of ``among`` by cosine."""
    v = F.normalize(vectors[among], dim=1)
    sim = v @ v.T
    sim.fill_diagonal_(-2)
    return among[sim.topk(k, dim=1).indices]


def similarity_correlation(vectors: torch.Tensor, probe: torch.Tensor, contexts: torch.Tensor) -> float:
    """Pearson correlation, over all pairs of probe words, between the cosine of their
    vectors and the cosine of their held-out context vectors."""
    v, c = F.normalize(vectors[probe], dim=1), F.normalize(contexts[probe], dim=1)
    upper = torch.triu_indices(len(probe), len(probe), 1)
    a, b = (v @ v.T)[upper[0], upper[1]], (c @ c.T)[upper[0], upper[1]]
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def context_agreement(vectors: torch.Tensor, probe: torch.Tensor, contexts: torch.Tensor) -> float:
    """Mean cosine between each probe word's held-out context vector and its nearest neighbour's."""
    nn_ = neighbours(vectors, probe)[:, 0]
    a, b = F.normalize(contexts[probe], dim=1), F.normalize(contexts[nn_], dim=1)
    return float((a * b).sum(1).mean())


def analogy(vectors: torch.Tensor, index: dict, a: str, b: str, c: str, top: int = 5) -> list[int]:
    """The ``top`` words nearest to v_b - v_a + v_c (a, b, c excluded), by cosine."""
    v = F.normalize(vectors, dim=1)
    query = v[index[b]] - v[index[a]] + v[index[c]]
    sim = v @ query
    sim[[index[a], index[b], index[c]]] = -2
    return sim.topk(top).indices.tolist()


# -- characters -------------------------------------------------------------------------


class CharModel(nn.Module):
    """Embedding -> GRU -> linear: logits of the next character at every position."""

    def __init__(self, chars: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(chars, 32)
        self.gru = nn.GRU(32, hidden, batch_first=True)
        self.out = nn.Linear(hidden, chars)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None, keep_state: bool = False):
        y, h = self.gru(self.embed(x), h)
        logits = self.out(y)
        return (logits, h) if keep_state else logits


def next_char_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of next-character scores ``logits`` (B x T x V) against the
    characters that came next, ``target`` (B x T): every position of every window counts once."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))  # SOLUTION


def random_windows(codes: torch.Tensor, n: int, length: int, generator: torch.Generator):
    """n windows of length + 1 characters: inputs and next-character targets."""
    start = torch.randint(0, len(codes) - length - 1, (n,), generator=generator)
    idx = start[:, None] + torch.arange(length + 1)
    w = codes[idx]
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def sample(model: CharModel, prompt: torch.Tensor, n: int, temperature: float, generator: torch.Generator):
    model.eval()
    logits, h = model(prompt[None], keep_state=True)
    out = []
    for _ in range(n):
        p = torch.softmax(logits[0, -1] / temperature, 0)
        c = torch.multinomial(p, 1, generator=generator)
        out.append(int(c))
        logits, h = model(c[None], h, keep_state=True)
    return out


# -- translation ------------------------------------------------------------------------


def sentence_groups(pairs: list[tuple[str, str]], max_tokens: int) -> dict[tuple[str, ...], list[list[str]]]:
    """English sentence (tokens) -> its French translations (token lists), in file order;
    pairs with more than ``max_tokens`` tokens on either side are left out."""
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    for english, french in pairs:
        e, f = text.tokenize(english), text.tokenize(french)
        if 0 < len(e) <= max_tokens and 0 < len(f) <= max_tokens:
            groups.setdefault(tuple(e), []).append(f)
    return groups


def attend(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product attention (Luong et al., 2015): each decoder state (a query, B x T x H)
    scores every encoder state (a key, B x S x H) by their dot product; a softmax over the
    source positions (padding masked out: ``mask`` B x S is True on real words) gives the
    weights, and the context is the weighted mean of the encoder states.
    Returns (context B x T x H, weights B x T x S)."""
    ### BEGIN SOLUTION
    scores = query @ keys.transpose(1, 2)  # B x T x S
    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    weights = scores.softmax(dim=-1)
    context = weights @ keys
    ### END SOLUTION
    return context, weights


class Seq2Seq(nn.Module):
    """A bidirectional GRU encoder reads the English sentence; a GRU decoder writes the
    French one, word by word, starting from a summary of the encoder (``bridge``). After
    each decoder step, attention over the encoder's states gives a context vector; the
    next word's logits are ``out(tanh(combine([decoder state, context])))``.

    Attention comes after the recurrent step (Luong's "global attention"), so with
    teacher forcing the decoder reads the whole target at once, in one GRU call. The
    output layer (a row per French word) is a large part of the cost: :func:`token_loss`
    applies it to the real words only, not to the padding."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, emb, padding_idx=text.PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, emb, padding_idx=text.PAD)
        self.encoder = nn.GRU(emb, hidden // 2, batch_first=True, bidirectional=True)  # H/2 each way
        self.bridge = nn.Linear(hidden, hidden)  # the encoder's summary -> the decoder's first state
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor):
        """src B x S (padded) -> encoder states B x S x H, a summary 1 x B x H, mask B x S.

        The encoder reads the sentence both ways: each state is a word in its context, left
        and right. Packing makes each sentence end at its own last word, not in the padding;
        the summary joins the forward GRU's last state and the backward GRU's first."""
        mask = src != text.PAD
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(self.drop(self.src_embed(src)), lengths, batch_first=True, enforce_sorted=False)
        states, last = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
        return states, torch.tanh(self.bridge(torch.cat([last[0], last[1]], -1)))[None], mask

    def decode(self, y_in: torch.Tensor, states: torch.Tensor, mask: torch.Tensor, h: torch.Tensor):
        """Previous words y_in B x T -> features B x T x H (the output layer's input), the
        new state, attention weights B x T x S."""
        d, h = self.decoder(self.drop(self.tgt_embed(y_in)), h)
        context, weights = attend(d, states, mask)
        return torch.tanh(self.combine(torch.cat([d, context], -1))), h, weights

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(features))

    def forward(self, src: torch.Tensor, y_in: torch.Tensor) -> torch.Tensor:
        """Logits B x T x V of each next word, given the previous ones (teacher forcing)."""
        states, last, mask = self.encode(src)
        return self.logits(self.decode(y_in, states, mask, last)[0])


def token_loss(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per French word (and <eos>) of tgt = <sos> w1 .. wn <eos> <pad>..,
    the decoder reading the reference's previous words; padding is not scored."""
    states, last, mask = model.encode(src)
    features = model.decode(tgt[:, :-1], states, mask, last)[0]
    target = tgt[:, 1:]
    real = target != text.PAD
    return F.cross_entropy(model.logits(features[real]), target[real])


class TeacherForcing(Step):
    """One step on a batch of (source, target) id rows, target = <sos> w1 .. wn <eos>: the
    decoder reads the reference's words (not its own guesses) and predicts each next one."""

    def __init__(self, model: Seq2Seq, optimizer: torch.optim.Optimizer, grad_clip: float = 1.0):
        self.model, self.optimizer, self.grad_clip = model, optimizer, grad_clip

    def __call__(self, batch):
        src, tgt = batch
        loss = token_loss(self.model, src, tgt)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return {"loss": loss.detach()}

    def evaluate(self, batch):
        src, tgt = batch
        return {"loss": token_loss(self.model, src, tgt)}


@torch.no_grad()
def greedy_translate(model: Seq2Seq, src: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding: from <sos>, feed the most likely word back in, up to ``max_len``
    words (or <eos> in every sentence); <unk> is never written (nor <pad>, <sos>).
    Returns ids B x L and attention B x L x S."""
    was_training = model.training
    model.eval()
    try:
        src = src.to(next(model.parameters()).device)
        states, h, mask = model.encode(src)
        y = torch.full((len(src), 1), text.SOS, dtype=torch.long, device=src.device)
        words, attention = [], []
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        never = torch.tensor([text.PAD, text.SOS, text.UNK], device=src.device)  # <unk> can never match a reference
        for _ in range(max_len):
            features, h, w = model.decode(y, states, mask, h)
            y = model.logits(features[:, -1]).index_fill(1, never, float("-inf")).argmax(-1, keepdim=True)
            words.append(y)
            attention.append(w)
            done |= y[:, 0] == text.EOS
            if done.all():
                break
        return torch.cat(words, 1).cpu(), torch.cat(attention, 1).cpu()
    finally:
        model.train(was_training)


def word_by_word(train: list[tuple[tuple[str, ...], list[str]]]) -> dict[str, str]:
    """The baseline dictionary: each English word -> the French word that co-occurs with it
    most strongly in the training pairs, by the Dice coefficient 2 n(e, f) / (n(e) + n(f))
    over sentences (raw co-occurrence counts would pair every word with "je" or ".")."""
    n_e, n_f, n_ef = Counter(), Counter(), Counter()
    for e, f in train:
        se, sf = set(e), set(f)
        n_e.update(se)
        n_f.update(sf)
        n_ef.update((a, b) for a in se for b in sf)
    best: dict[str, tuple] = {}
    for (a, b), n in sorted(n_ef.items()):  # sorted: ties go to the first French word alphabetically
        score = (2 * n / (n_e[a] + n_f[b]), n)  # equal Dice: the more frequent pair
        if a not in best or score > best[a][0]:
            best[a] = (score, b)
    return {a: b for a, (_, b) in best.items()}


class HeldOutBleu(Callback):
    """After each epoch, the greedy translations' BLEU on the held-out sentences, added to
    the epoch's record (before the metrics file writes it)."""

    def __init__(self, src: torch.Tensor, references: list, vocab: text.Vocab, max_len: int):
        self.src, self.references, self.vocab, self.max_len = src, references, vocab, max_len

    def on_epoch_end(self, loop, record: dict) -> None:
        ids, _ = greedy_translate(loop.step.models()["model"], self.src, self.max_len)
        record["test_bleu"] = text.corpus_bleu([self.vocab.decode(r) for r in ids], self.references).score


@lab(
    "word-embeddings",
    source="EE-559 11.3",
    summary="skip-gram with negative sampling on Shakespeare (neighbours, analogies), a character-level GRU LM, "
    "and an English-French GRU encoder-decoder with attention (BLEU)",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    shakespeare = datasets.load("tinyshakespeare", data_dir=ctx.data_dir)
    if len(shakespeare) < 10_000:
        raise DataError(f"tinyshakespeare holds only {len(shakespeare)} characters; expected about 1.1 million")
    gen = torch.Generator().manual_seed(max(ctx.seed, 0))
    torch.manual_seed(ctx.seed)
    seconds, t0 = {}, time.perf_counter()  # wall time of each part

    # ---- skip-gram with negative sampling ----------------------------------------------
    words = words_of(shakespeare)
    split = int(0.9 * len(words))
    counts = Counter(words[:split])
    itos = [w for w, _ in counts.most_common(cfg.vocab)]
    index = {w: i for i, w in enumerate(itos)}
    ids = torch.tensor([index.get(w, -1) for w in words])
    train_ids, held_ids = ids[:split], ids[split:]
    freq = torch.tensor([counts[w] for w in itos], dtype=torch.float)
    freq = freq / freq.sum()
    keep = (cfg.subsample / freq).sqrt().clamp(max=1)  # word2vec's subsampling of frequent words
    kept = torch.where(
        (train_ids >= 0) & (torch.rand(len(train_ids), generator=gen) < keep[train_ids.clamp_min(0)]), train_ids, -1
    )
    pairs = context_pairs(kept[kept >= 0], cfg.window)  # dropped words shrink the distances, as in word2vec
    model = SkipGram(len(itos), cfg.dim)
    untrained = model.inp.weight.detach().clone()
    step = NegativeSampling(model, torch.optim.Adam(model.parameters(), lr=cfg.sgns_lr), freq**0.75, cfg.negatives)
    history = fit(
        step,
        (pairs,),
        ctx,
        epochs=cfg.sgns_epochs,
        batch_size=cfg.sgns_batch,
        name="skipgram",
        callbacks=standard_callbacks(ctx, "skipgram", curves=False, checkpoints=False, epoch_lines=False),
    )
    vectors = model.inp.weight.detach().cpu()

    probe = torch.arange(20, 20 + cfg.probe)
    contexts = ppmi(held_ids[held_ids >= 0], len(itos), cfg.window)
    agreement = context_agreement(vectors, probe, contexts)
    agreement_untrained = context_agreement(untrained, probe, contexts)
    correlation = similarity_correlation(vectors, probe, contexts)
    correlation_untrained = similarity_correlation(untrained, probe, contexts)
    shown = [w for w in ("king", "love", "father", "speak", "night", "sword", "three", "thee") if w in index]
    near = {w: [itos[i] for i in neighbours(vectors, torch.arange(len(itos)), 6)[index[w]].tolist()] for w in shown}
    analogies, solved, solved_untrained = [], 0, 0
    for a, b, c, d in ANALOGIES:
        if not all(w in index for w in (a, b, c, d)):
            continue
        top = analogy(vectors, index, a, b, c)
        solved += index[d] in top
        solved_untrained += index[d] in analogy(untrained, index, a, b, c)
        analogies.append(f"{a} : {b} :: {c} : ? -> {', '.join(itos[i] for i in top)} (expected {d})")
    table = ["nearest neighbours (cosine of the trained vectors):"]
    table += [f"  {w}: {', '.join(n)}" for w, n in near.items()]
    table += [f"analogies (top 5; {solved} of {len(analogies)} contain the expected word):"]
    table += [f"  {a}" for a in analogies]
    ctx.write_text("neighbours.txt", "\n".join(table) + "\n")
    ctx.save_figure(_embedding_figure(vectors, index), "embedding_pca")
    seconds["skipgram"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    # ---- character-level language model ------------------------------------------------
    chars = sorted(set(shakespeare))
    code = {ch: i for i, ch in enumerate(chars)}
    codes = torch.tensor([code[ch] for ch in shakespeare])
    cut = int(0.9 * len(codes))
    train_codes, held_codes = codes[:cut], codes[cut:]
    counts_c = torch.bincount(train_codes, minlength=len(chars)).float() + 1  # add-one: no zero probability
    unigram_bits = float(-(counts_c / counts_c.sum())[held_codes].log2().mean())
    train = random_windows(train_codes, cfg.windows * max(cfg.lm_epochs, 1), cfg.seq_len, gen)
    held = random_windows(held_codes, 500, cfg.seq_len, gen)
    lm = CharModel(len(chars), cfg.hidden)
    lm_step = Supervised(
        lm, torch.optim.Adam(lm.parameters(), lr=cfg.lm_lr), loss=next_char_loss, metric=None, grad_clip=1.0
    )
    held_before = evaluate(lm_step, held, ctx)["loss"] / math.log(2)
    curve = []
    for epoch in range(cfg.lm_epochs):  # a fresh draw of windows each epoch
        part = slice(epoch * cfg.windows, (epoch + 1) * cfg.windows)
        fit(
            lm_step,
            (train[0][part], train[1][part]),
            ctx,
            epochs=1,
            batch_size=cfg.lm_batch,
            name=f"charlm-{epoch + 1}",
            callbacks=standard_callbacks(ctx, "charlm", curves=False, checkpoints=False, epoch_lines=False),
        )
        curve.append(evaluate(lm_step, held, ctx)["loss"] / math.log(2))
    held_bits = curve[-1] if curve else held_before
    prompt = "ROMEO:\n"
    generated = sample(lm.cpu(), torch.tensor([code[ch] for ch in prompt]), cfg.sample_chars, cfg.temperature, gen)
    generated_text = prompt + "".join(chars[i] for i in generated)
    ctx.write_text("generated.txt", generated_text + "\n")
    fig = viz.curves(
        {"GRU, held-out text": [held_before, *curve]},
        x=list(range(0, cfg.lm_epochs + 1)),
        xlabel=f"epoch ({cfg.windows} windows of {cfg.seq_len} characters each)",
        ylabel="bits per character",
        title="Character-level language model on Shakespeare",
    )
    ax = fig.axes[0]
    ax.axhline(unigram_bits, color="gray", linestyle=":", label=f"unigram baseline ({unigram_bits:.2f})")
    ax.axhline(math.log2(len(chars)), color="k", linestyle="--", label=f"uniform ({math.log2(len(chars)):.2f})")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "char_lm_bits")
    seconds["char_lm"] = time.perf_counter() - t0

    # ---- translation: a GRU encoder-decoder with attention, English -> French -----------
    t0 = time.perf_counter()
    groups = sentence_groups(datasets.load("eng-fra", data_dir=ctx.data_dir), cfg.max_tokens)
    english = list(groups)
    if len(english) < 20:
        raise DataError(
            f"eng-fra: only {len(english)} English sentences of at most {cfg.max_tokens} tokens; "
            "expected about 2,600 in the 5,000 pairs (raise --max_tokens?)"
        )
    order = torch.randperm(len(english), generator=torch.Generator().manual_seed(max(ctx.seed, 0))).tolist()
    n_held = max(1, round(cfg.held_out * len(english)))
    held_en = [english[i] for i in order[:n_held]]  # never seen in training, in any translation
    train_pairs = [(english[i], f) for i in order[n_held:] for f in groups[english[i]]]
    held_pairs = [(e, f) for e in held_en for f in groups[e]]
    references = [groups[e] for e in held_en]  # every translation of a sentence is a reference
    if len(english) - n_held < 10:
        raise UsageError(f"--held_out {cfg.held_out} leaves {len(english) - n_held} English sentences to train on")
    src_vocab = text.Vocab([e for e, _ in train_pairs])
    tgt_vocab = text.Vocab([f for _, f in train_pairs], min_count=cfg.mt_min_count)

    def as_ids(pairs):
        return (
            text.pad([src_vocab.encode(e, eos=False) for e, _ in pairs]),
            text.pad([tgt_vocab.encode(f, sos=True) for _, f in pairs]),
        )

    train_mt, held_mt = as_ids(train_pairs), as_ids(held_pairs)
    held_src = text.pad([src_vocab.encode(e, eos=False) for e in held_en])
    max_len = cfg.max_tokens + 1  # words and <eos>

    def bleu_of(ids):
        return text.corpus_bleu([tgt_vocab.decode(r) for r in ids], references)

    dictionary = word_by_word(train_pairs)
    baseline_words = [[dictionary.get(w, w) for w in e] for e in held_en]  # unknown words are copied
    bleu_words = text.corpus_bleu(baseline_words, references)
    bleu_copy = text.corpus_bleu([list(e) for e in held_en], references)
    translator = Seq2Seq(len(src_vocab), len(tgt_vocab), cfg.mt_emb, cfg.mt_hidden, cfg.mt_dropout)
    mt_step = TeacherForcing(translator, torch.optim.Adam(translator.parameters(), lr=cfg.mt_lr))
    held_loss_untrained = evaluate(mt_step, held_mt, ctx, batch_size=len(held_pairs))["loss"]
    bleu_untrained = bleu_of(greedy_translate(translator, held_src, max_len)[0])
    mt_history = fit(
        mt_step,
        train_mt,
        ctx,
        epochs=cfg.mt_epochs,
        batch_size=cfg.mt_batch,
        val=held_mt,
        val_name="test",
        name="seq2seq",
        callbacks=[
            HeldOutBleu(held_src, references, tgt_vocab, max_len),
            *standard_callbacks(ctx, "seq2seq", curves=False, checkpoints=False, epoch_lines=False),
        ],
    )
    held_loss = evaluate(mt_step, held_mt, ctx, batch_size=len(held_pairs))["loss"]
    ids, attention = greedy_translate(translator, held_src, max_len)
    bleu = bleu_of(ids)
    outputs = [tgt_vocab.decode(r) for r in ids]
    rows = []
    for k, e in enumerate(held_en[:30]):
        rows += [
            f"english:      {' '.join(e)}",
            f"  seq2seq:      {' '.join(outputs[k])}",
            f"  word by word: {' '.join(baseline_words[k])}",
            f"  references:   {' | '.join(' '.join(f) for f in references[k])}",
        ]
    summary = [
        f"held-out: {len(held_en)} English sentences ({len(held_pairs)} pairs); training: {len(train_pairs)} pairs",
        f"seq2seq (trained):  {bleu}",
        f"word by word:       {bleu_words}",
        f"copy the English:   {bleu_copy}",
        f"seq2seq (untrained): {bleu_untrained}",
        "BLEU: corpus-level, 1- to 4-grams, all translations of a sentence as references, no smoothing",
        "",
    ]
    ctx.write_text("translations.txt", "\n".join(summary + rows) + "\n")
    shown = sorted(range(len(held_en)), key=lambda k: -len(held_en[k]))[:4]  # the longest held-out sentences
    ctx.save_figure(_attention_figure(held_en, outputs, attention, shown, set(src_vocab.stoi)), "attention")
    ctx.save_figure(
        _translation_figure(
            [held_loss_untrained] + [r["test_loss"] for r in mt_history],
            [r["train_loss"] for r in mt_history],
            [bleu_untrained.score] + [r["test_bleu"] for r in mt_history],
            {"word by word": bleu_words.score, "copy the English": bleu_copy.score},
        ),
        "translation_bleu",
    )
    seconds["translation"] = time.perf_counter() - t0

    line = (
        f"skip-gram: similarity vs held-out context similarity r = {correlation:.2f} ({correlation_untrained:.2f} "
        f"untrained), neighbours' held-out context cosine {agreement:.3f} vs {agreement_untrained:.3f} untrained, "
        f"analogies {solved}/{len(analogies)} vs {solved_untrained}; char GRU {held_bits:.2f} bits/char vs "
        f"unigram {unigram_bits:.2f}; seq2seq held-out BLEU {100 * bleu.score:.1f} vs word-by-word "
        f"{100 * bleu_words.score:.1f}, untrained {100 * bleu_untrained.score:.1f}"
    )
    return Result(
        line,
        metrics={
            "similarity_correlation": correlation,
            "similarity_correlation_untrained": correlation_untrained,
            "context_agreement": agreement,
            "context_agreement_untrained": agreement_untrained,
            "analogies_solved": solved,
            "analogies_solved_untrained": solved_untrained,
            "analogies": len(analogies),
            "neighbours": near,
            "sgns_loss": [r["train_loss"] for r in history],
            "pairs": len(pairs),
            "held_bits_per_char": held_bits,
            "held_bits_untrained": held_before,
            "unigram_bits_per_char": unigram_bits,
            "generated": generated_text,
            "sgns_epochs": cfg.sgns_epochs,
            "lm_epochs": cfg.lm_epochs,
            "bleu": bleu.score,
            "bleu_precisions": bleu.precisions,
            "bleu_brevity_penalty": bleu.brevity_penalty,
            "bleu_word_by_word": bleu_words.score,
            "bleu_copy": bleu_copy.score,
            "bleu_untrained": bleu_untrained.score,
            "bleu_curve": [r["test_bleu"] for r in mt_history],
            "held_token_loss": held_loss,
            "held_token_loss_untrained": held_loss_untrained,
            "mt_train_loss": [r["train_loss"] for r in mt_history],
            "mt_pairs": {"train": len(train_pairs), "held_out": len(held_pairs), "held_out_sentences": len(held_en)},
            "mt_vocab": {"english": len(src_vocab), "french": len(tgt_vocab)},
            "translations": [
                {"english": " ".join(held_en[k]), "seq2seq": " ".join(outputs[k]), "word_by_word": " ".join(w)}
                for k, w in enumerate(baseline_words[:10])
            ],
            "mt_epochs": cfg.mt_epochs,
            "seconds": seconds,
        },
    )


def _embedding_figure(vectors: torch.Tensor, index: dict):
    import matplotlib.pyplot as plt

    from dlc.stats import pca

    shown = [(w, g) for g, ws in GROUPS.items() for w in ws if w in index]
    v = F.normalize(vectors[[index[w] for w, _ in shown]], dim=1)
    mean, basis = pca(v)
    xy = (v - mean) @ basis[:2].T  # the directions are rows
    fig, ax = plt.subplots(figsize=(7, 6))
    colours = dict(zip(GROUPS, ("tab:blue", "tab:red", "tab:purple", "tab:green", "tab:orange")))
    for g in GROUPS:
        pts = [(xy[i, 0], xy[i, 1], w) for i, (w, gg) in enumerate(shown) if gg == g]
        if not pts:
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=colours[g], label=g, s=20)
        for x, y, w in pts:
            ax.annotate(w, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points", color=colours[g])
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.set_title("Skip-gram word vectors (normalised), projected on 2 principal components")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _attention_figure(sources: list, outputs: list, attention: torch.Tensor, shown: list[int], known: set):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 9), squeeze=False, layout="constrained")
    image = None
    for ax, k in zip(axes.flat, shown):
        src = [w if w in known else f"{w}*" for w in sources[k]]
        out = outputs[k] + ["<eos>"] if len(outputs[k]) < attention.shape[1] else outputs[k]
        w = attention[k, : len(out), : len(src)].numpy()
        image = ax.imshow(w, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(src)), src, rotation=45, ha="right")
        ax.set_yticks(range(len(out)), out)
        ax.set_xlabel("English words read (encoder states)")
        ax.set_ylabel("French words written")
        ax.set_title(" ".join(sources[k]), fontsize=10)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    fig.suptitle(
        "Attention weights of the trained model on held-out sentences\n"
        "(each row: where the decoder looked to write that word; * a word never seen in training)"
    )
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return fig


def _translation_figure(held_loss: list, train_loss: list, bleu: list, baselines: dict):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = list(range(len(held_loss)))
    left.plot(epochs, held_loss, "o-", label="held-out (epoch 0: untrained)")
    left.plot(epochs[1:], train_loss, "s--", label="training (mean over the epoch)")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy per French word (nats)")
    left.set_title("Teacher-forced loss of the translation model")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.plot(epochs, [100 * b for b in bleu], "o-", color="tab:red", label="seq2seq, greedy decoding")
    for (name, value), style in zip(baselines.items(), (":", "--", "-.")):
        right.axhline(100 * value, color="gray", linestyle=style, label=f"{name} ({100 * value:.1f})")
    right.set_xlabel("epoch")
    right.set_ylabel("BLEU (x 100)")
    right.set_title("Held-out BLEU (English sentences never seen in training)")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def check(result: Result) -> list:
    m = result.metrics
    return [
        verdict(
            "correlation of word similarity with held-out context similarity: trained minus untrained",
            m["similarity_correlation"] - m["similarity_correlation_untrained"],
            ">",
            0.1,
        ),
        verdict(
            "neighbours' held-out context cosine: trained minus untrained",
            m["context_agreement"] - m["context_agreement_untrained"],
            ">",
            0.0,
        ),
        verdict(
            "char GRU held-out bits/char, as a fraction of the unigram baseline's",
            m["held_bits_per_char"] / m["unigram_bits_per_char"],
            "<",
            0.85,
        ),
        verdict(
            "seq2seq held-out token loss, as a fraction of the untrained model's",
            m["held_token_loss"] / m["held_token_loss_untrained"],
            "<",
            0.5,
        ),
        verdict(
            "seq2seq held-out BLEU (x 100) minus the untrained model's",
            100 * (m["bleu"] - m["bleu_untrained"]),
            ">",
            2.0,
        ),
    ]


def _attention_cases(g: torch.Generator) -> list[tuple]:
    """Queries, keys and masks (every sentence with at least one real word), float64."""
    cases = []
    for b, t, s, h in ((2, 3, 5, 4), (3, 1, 4, 8), (1, 4, 1, 2)):
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        cases.append(
            (
                torch.randn(b, t, h, generator=g, dtype=torch.float64),
                torch.randn(b, s, h, generator=g, dtype=torch.float64),
                torch.arange(s)[None, :] < lengths[:, None],
            )
        )
    return cases


def _char_cases(g: torch.Generator) -> list[tuple]:
    shapes = ((4, 7, 11), (1, 3, 5))
    return [
        (torch.randn(b, t, v, generator=g, dtype=torch.float64), torch.randint(0, v, (b, t), generator=g))
        for b, t, v in shapes
    ]


TASKS = [
    Task(
        "next_char_loss",
        hint="flatten the B x T positions: cross-entropy of (B*T) x V scores against the B*T next characters, averaged",
        cases=_char_cases,
        grad=True,
    ),
    Task(
        "attend",
        hint="scores = query @ keys.transpose(1, 2) (B x T x S); padding positions (mask False) get the score "
        "-inf (masked_fill); weights = softmax of the scores over the source positions (the last dimension); "
        "context = weights @ keys; return (context, weights)",
        cases=_attention_cases,
        grad=True,
    ),
]
