"""clauselens.models: the builtin CPU model ladder and one loader for any causal LM.

`resolve_model` turns a config's model id into a loadable path (pretraining `builtin:*` ladder models
once, cached); `load_causal_lm` loads it, optionally with a 4-bit bitsandbytes base.
"""

from clauselens.models.ladder import LADDER, LADDER_VERSION, LadderSpec
from clauselens.models.loading import (
    base_weight_bytes,
    count_parameters,
    default_device,
    load_causal_lm,
    resolve_dtype,
)
from clauselens.models.resolve import resolve_model
from clauselens.models.stage import models_run, pretraining_texts
from clauselens.models.synthetic import synthetic_rule_pairs

__all__ = [
    "LADDER",
    "LADDER_VERSION",
    "LadderSpec",
    "base_weight_bytes",
    "count_parameters",
    "default_device",
    "load_causal_lm",
    "models_run",
    "pretraining_texts",
    "resolve_dtype",
    "resolve_model",
    "synthetic_rule_pairs",
]
