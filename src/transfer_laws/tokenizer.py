"""The one byte-level BPE tokenizer shared by every run.

Vocabulary size 1024 by default (``data build --vocab-size`` records another in the
manifest). At the model sizes a CPU can train (N ≈ 1e4–2e5 non-embedding
parameters) the output layer (width × vocab) is most of a step's cost, so a smaller
vocabulary trains more tokens per second, while a token then carries fewer bytes.
What matters is the cost per byte of text. Measured on one machine in one run
(``benchmarks/throughput.py --vocab-study``, 1 thread, batch 32 × 128, AdamW step;
bytes per token of the ``python`` validation split: 2.70 / 2.16 / 1.79 at
V = 4096 / 1024 / 512), bytes of Python per second at (layers × width)
2×16, 2×32, 2×48, 2×64, 3×80 were 121k/86k/64k/51k/35k at 4096,
230k/140k/101k/75k/39k at 1024 and 243k/141k/97k/71k/37k at 512: 1024 and 512 tie
at the two smallest shapes and 1024 is 4–6% ahead from 2×48 up, where most of a
study's compute goes; it also puts 20% more text in a 128-token context than 512.
``benchmarks/README.md`` has the full table.

Training is deterministic: a fixed, balanced sample (the first ``SAMPLE_CHARS`` of
each distribution's train documents in their fixed order), fixed special tokens and
the same trainer settings give the same merges on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 1024
EOS = "<|endoftext|>"
SAMPLE_CHARS = 2_000_000


def train_tokenizer(texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


def eos_id(tok: Tokenizer) -> int:
    return tok.token_to_id(EOS)
