"""Third-party console noise, silenced where it starts: in every process that loads the model stack.

The CLI calls `quiet_third_party()` in the driver; worker processes (local pool, Ray tasks, pretraining
rungs, torchrun ranks) call it too, since neither warning filters nor logger levels cross a spawn. Only
named sources are silenced: the toolkit's own warnings and log records still reach the console.
`CLAUSELENS_VERBOSE=1` (set by `--verbose`, inherited by workers) keeps everything.
"""

from __future__ import annotations

import logging
import os
import warnings

VERBOSE_ENV = "CLAUSELENS_VERBOSE"
# deprecation notices that transformers / peft / accelerate address to library authors, e.g. peft reading
# the deprecated `is_gradient_checkpointing`, repeated by every model load
_FUTURE_WARNING_SOURCES = r"(transformers|peft|accelerate)(\.|$)"
# bitsandbytes logs "Failed to load CPU gemm_4bit_forward from kernels-community ..." when it is imported
_LOGGERS = ("bitsandbytes",)


def quiet_third_party() -> None:
    """Silence the model stack's known noise in this process (idempotent)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # weight-loading bars of the hub
    if os.environ.get(VERBOSE_ENV) == "1":
        return
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=_FUTURE_WARNING_SOURCES)
