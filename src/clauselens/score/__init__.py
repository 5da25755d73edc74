"""clauselens.score: one function per metric, batched scoring, bootstrap summaries and plateau tests.

`score_run(store, cfg)` is the stage entry; `score_pair` / `score_generations` score rules directly;
`summarise` and `plateau` aggregate a `scores` table. `METRICS` names every metric with its direction.
"""

from clauselens.score.metrics import METRICS, score_generations, score_pair
from clauselens.score.plateau import plateau
from clauselens.score.stage import score_run
from clauselens.score.summary import summarise

__all__ = ["METRICS", "plateau", "score_generations", "score_pair", "score_run", "summarise"]
