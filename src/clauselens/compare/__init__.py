"""clauselens.compare: comparisons across models that single-model attribution toolkits do not offer.

`compare_run(store, cfg)` is the stage (after analyse). Its parts, usable on their own:
- `rank_agreement` / `aligned_scores`: two attributions of one clause on the same words or spans,
  whatever tokenizers made them;
- `AdapterBank`: one base model, several LoRA adapters switched by name (None: the base);
- `adapter_delta`: fine-tuned minus base attribution of one clause, word by word;
- `split_clause` / `summarise_split`: a QLoRA-vs-LoRA difference split into training and quantisation;
- `ablate_clause`: remove a whole token category, against a random ablation of the same size;
- `robustness_clause`: perturbation-baseline, Shapley-seed and method agreement;
- `correctness_model`: does focus or reliance on numbers / identifiers predict a right verdict?
See docs/compare.md.
"""

from clauselens.compare.ablation import ablate_clause, sequence_logprobs
from clauselens.compare.alignment import aligned_scores, rank_agreement
from clauselens.compare.bank import AdapterBank, find_adapter_dir
from clauselens.compare.correctness import correctness_data, correctness_model
from clauselens.compare.delta import adapter_delta
from clauselens.compare.quantisation import PrecisionPair, split_clause, summarise_split
from clauselens.compare.robustness import robustness_clause
from clauselens.compare.stage import compare_run

__all__ = [
    "AdapterBank",
    "PrecisionPair",
    "ablate_clause",
    "adapter_delta",
    "aligned_scores",
    "compare_run",
    "correctness_data",
    "correctness_model",
    "find_adapter_dir",
    "rank_agreement",
    "robustness_clause",
    "sequence_logprobs",
    "split_clause",
    "summarise_split",
]
