"""clauselens.score: one function per metric, batched scoring, bootstrap summaries, size steps.

`score_run(store, cfg)` is the stage entry; `score_pair` / `score_generations` score rules directly;
`summarise` aggregates a `scores` table; `plateau` computes the size-step gain and equivalence tests
(the analyse stage corrects and words them). `METRICS` names every metric with its direction.
"""

from clauselens.score.embedding import load_embedder
from clauselens.score.metrics import METRICS, score_generations, score_pair
from clauselens.score.stage import score_run
from clauselens.score.summary import summarise

__all__ = ["METRICS", "load_embedder", "score_generations", "score_pair", "score_run", "summarise"]
