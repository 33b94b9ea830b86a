"""The one byte-level BPE tokenizer shared by every run.

Vocabulary size 4096. At the model sizes a 2-core CPU can train (1e4–1e6
non-embedding parameters) the output layer (width × vocab) dominates the cost of a
step: with 10k non-embedding parameters a 4096 vocabulary trains at about 20k
tokens/s and a 256-byte vocabulary at about 100k. Bytes are cheaper per token but a
token then carries ~1 byte instead of ~3.5, so per byte of text the two are close,
while a 2048-token context covers 3.5× more text with BPE. 4096 is the smallest
vocabulary that still compresses code and prose well; larger ones pay for rows of
the embedding that small models cannot use.

Training is deterministic: a fixed, balanced sample (the first ``SAMPLE_CHARS`` of
each distribution's train documents in their fixed order), fixed special tokens and
the same trainer settings give the same merges on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 4096
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
