# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Word embeddings and a character-level language model (EE-559 11.3)
# A word is a symbol: one-hot, every word equally far from every other. Word2vec's
# skip-gram learns a vector per word from the *distributional hypothesis*: words that
# appear in the same contexts mean similar things. For each word $c$ and each word $o$ near
# it, the model raises $\sigma(u_o \cdot v_c)$ and lowers $\sigma(u_n \cdot v_c)$ for a few
# random "negative" words $n$: words with the same neighbours end up with close vectors.
#
# The lab trains it on Shakespeare (90% of the text) and asks whether the learned
# similarities follow the contexts of the *held-out* 10%, against the untrained vectors.
# Then a GRU reads the text character by character and predicts the next one; its loss in
# bits per character is compared with the unigram baseline, and it writes some "Shakespeare".

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("word-embeddings", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))
print((result.run_dir / "neighbours.txt").read_text())
print(result.metrics["generated"])

# %% [markdown]
# ## Reading the results
# - The similarity of two trained vectors correlates with how much the two words share
#   their contexts in text the model never saw; the untrained vectors' does not (r ≈ 0).
# - Neighbours are often sensible (kings next to kings' names, numbers next to numbers),
#   but 180,000 words are very few for word2vec: the famous analogies
#   (king − man + woman ≈ queen) need corpora of millions to billions of words and mostly
#   fail here.
# - The character model starts at $\log_2(\text{alphabet})$ bits, passes the unigram
#   baseline (letter frequencies alone) within the first epoch and keeps going down: it
#   learns spelling, spaces and the play's layout (names in capitals followed by a colon).
#
# ## Bits per character by hand
# The unigram baseline is the cross-entropy of the held-out characters under the training
# characters' frequencies, in bits.

# %%
import math
from collections import Counter

from dlc import data

text = data.load("tinyshakespeare")
cut = int(0.9 * len(text))
freq = Counter(text[:cut])
total = sum(freq.values())
held = text[cut:]
bits = -sum(math.log2(freq[ch] / total) for ch in held if ch in freq) / len(held)
print(f"unigram: {bits:.2f} bits per character; uniform over {len(freq)} characters: {math.log2(len(freq)):.2f}")

# %% [markdown]
# ## Exercise
# 1. Train the embeddings longer (`--sgns_epochs 10`) or with more dimensions (`--dim 100`):
#    does the correlation with the held-out contexts rise? Do more analogies succeed?
# 2. Lower the sampling temperature (`--temperature 0.3`) and raise it (`--temperature 1.5`):
#    what happens to the generated text, and why?
# 3. Not in the lab yet: the lecture's seq2seq translation model. Write a GRU encoder–decoder
#    on `dlc.data.load("eng-fra")` and compare its BLEU score with copying the English input.
