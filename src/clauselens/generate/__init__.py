"""clauselens.generate: batched, deterministic rule generation and output cleaning.

`generate_rules(model, tokenizer, clauses, gen_cfg, seed, cell_id)` writes one `Generation` per clause;
`clean_rule(raw)` keeps the `check_rule` function of a raw continuation.
"""

from clauselens.generate.cleaning import clean_rule
from clauselens.generate.generation import generate_rules, generate_texts

__all__ = ["clean_rule", "generate_rules", "generate_texts"]
