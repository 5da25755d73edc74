"""The builtin model ladder: one Llama-architecture family at three sizes that train on a laptop CPU.

No weights can be downloaded in the settings clauselens must run in, so the quick start pretrains its
own small family and model scale stays a real axis of the study. The family is Llama
(`LlamaForCausalLM`) so that LoRA's targets (q/k/v/o/gate/up/down_proj) and the whole training path
are the ones a real family such as Qwen2.5 or Mistral takes. Every hidden and MLP width is a multiple
of 64, the bitsandbytes 4-bit block size, so the QLoRA path quantizes every projection.

Sizes: about 0.33M, 0.82M and 1.44M parameters with the shared 3k vocabulary (ladder version 5).
Every rung sees the same 1200 x 16 x 256 tokens (mostly clause -> rule programs: synthetic ones
shaped like real clauses and copies of the train pairs with new limits; some regulation prose and
stdlib Python: `clauselens.models.synthetic`), so the rungs differ only in parameters. Version 3
(600 steps) left m unable to copy a clause's numbers into its rule; at 900-1200 steps m copies them
and xs does not; version 5's train-pair copies make m read its clause more (docs/training.md). The
steps fit the time with bf16 autocast where the CPU has it (`pretrain.pretraining_precision`) and the
rungs pretrained largest first.
m's pretraining already sets the length of the quick start's models stage on two cores, so no larger
rung fits its 20 minutes (docs/training.md); the rungs pretrain in parallel processes. Changing any
spec or the pretraining recipe must bump `LADDER_VERSION`, which is part of the cache key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from transformers import LlamaConfig

LADDER_VERSION = 5


def decoder_shape(hidden_size: int, intermediate_size: int, num_layers: int, num_heads: int,
                  num_kv_heads: int) -> dict[str, int]:
    """A decoder's widths and depth as the keywords of a Hugging Face config (Llama naming, which the
    ladder and the `family:` models share)."""
    return {"hidden_size": hidden_size, "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers, "num_attention_heads": num_heads,
            "num_key_value_heads": num_kv_heads}


@dataclass(frozen=True)
class LadderSpec:
    """Architecture and pretraining budget of one rung of the ladder."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    steps: int  # pretraining optimizer steps
    learning_rate: float
    batch_size: int = 16
    seq_len: int = 256
    vocab_size: int = 3072
    max_position_embeddings: int = 2048
    seed: int = 0
    bf16: bool = True  # bf16 autocast where the CPU has it natively (`pretrain.pretraining_precision`)

    def __post_init__(self) -> None:
        for field in ("hidden_size", "intermediate_size"):
            if getattr(self, field) % 64:
                raise ValueError(f"LadderSpec.{field} must be a multiple of 64 (bitsandbytes block size)")
        if self.hidden_size % self.num_heads:
            raise ValueError("LadderSpec.hidden_size must be divisible by num_heads")

    def llama_config(self, vocab_size: int, eos_id: int, pad_id: int) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=vocab_size,
            **decoder_shape(self.hidden_size, self.intermediate_size, self.num_layers, self.num_heads,
                            self.num_heads),
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=True,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        )

    def fingerprint(self) -> str:
        blob = json.dumps({"version": LADDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


LADDER: dict[str, LadderSpec] = {
    "clauselens-xs": LadderSpec(hidden_size=64, intermediate_size=256, num_layers=2, num_heads=4,
                                steps=1200, learning_rate=4e-3),
    "clauselens-s": LadderSpec(hidden_size=128, intermediate_size=384, num_layers=2, num_heads=4,
                               steps=1200, learning_rate=3e-3),
    "clauselens-m": LadderSpec(hidden_size=128, intermediate_size=512, num_layers=4, num_heads=4,
                               steps=1200, learning_rate=3e-3),
    # not a rung of the study: a seconds-to-pretrain model for the test suite and smoke runs
    "clauselens-tiny": LadderSpec(hidden_size=64, intermediate_size=128, num_layers=1, num_heads=2,
                                  steps=30, learning_rate=4e-3, batch_size=8, seq_len=64, vocab_size=1024),
}
