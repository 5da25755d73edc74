"""clauselens.generate: batched, deterministic rule generation and output cleaning.

`generate_rules(model, tokenizer, clauses, gen_cfg, seed, cell_id)` writes one `Generation` per clause;
`clean_rule(raw)` keeps the `check_rule` function of a raw continuation. `generate_run(study)` is the
stage; `generation_config` the settings a cell generates with.
"""

from clauselens.generate.cleaning import clean_rule
from clauselens.generate.generation import generate_rules, generate_texts
from clauselens.generate.stage import generate_run, generate_task, generation_config

__all__ = [
    "clean_rule", "generate_rules", "generate_run", "generate_task", "generate_texts", "generation_config",
]
