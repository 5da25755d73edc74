"""The report: built from a realistic synthetic store, checked against the store, and in headless Chromium.

The synthetic store has 4 model sizes x FFT/LoRA/QLoRA, 12 clauses from 4 documents (9 on the test
split), word-unit attributions whose categories and shares are computed from the clause text, focus
metrics and faithfulness curves derived from those attributions, and test rows computed with scipy on
that data, so the report sees tables shaped as the real stages write them.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from clauselens.config import ExperimentConfig, ModelConfig, ReportConfig
from clauselens.manifest import start_manifest
from clauselens.records import Attribution, Unit
from clauselens.report import write_report
from clauselens.store import Store
from clauselens.tables import (
    ATTRIBUTIONS,
    CATEGORY_SHARES,
    CELLS,
    FAITHFULNESS,
    GENERATIONS,
    ROBUSTNESS,
    SCORE_SUMMARY,
    SCORES,
    TESTS,
    TRAINING,
)
from clauselens.tables import FOCUS as FOCUS_TABLE

MODELS = [
    ("ladder-xs", 1_200_000),
    ("ladder-s", 5_000_000),
    ("ladder-m", 20_000_000),
    ("ladder-l", 80_000_000),
]
STRATEGIES = ["fft", "lora", "qlora"]
METRICS = ["semantic_similarity", "token_f1", "verdict_accuracy"]
FOCUS = ["entropy", "gini", "top_k_mass", "effective_units"]
CLAUSES = [
    (
        "K:1.12",
        "Guarding of flights",
        "quantitative",
        "In a single family dwelling, the guarding of a flight shall be at least 900 mm high "
        "(see Diagram 1.12).",
    ),
    (
        "K:1.14",
        "Headroom",
        "quantitative",
        "The headroom on the access between levels should be a minimum of 2.0 m.",
    ),
    (
        "K:2.3",
        "Handrails",
        "qualitative",
        "Where a stair is wider than 1000 mm, a handrail shall be provided on both sides.",
    ),
    (
        "B:2.5",
        "Escape windows",
        "quantitative",
        "An escape window shall have an unobstructed openable area of at least 0.33 m2 and be at least "
        "450 mm wide.",
    ),
    (
        "B:2.6",
        "Inner rooms",
        "qualitative",
        "An inner room is acceptable only where it is a kitchen or a utility room.",
    ),
    (
        "B:3.22",
        "Travel distance",
        "quantitative",
        "The travel distance in one direction shall not exceed 18 m, as given in Table 3.1 of Approved "
        "Document B.",
    ),
    (
        "M:1.9",
        "Door widths",
        "quantitative",
        "The minimum clear opening width of an entrance door should be 775 mm.",
    ),
    (
        "M:2.20",
        "Lift access",
        "qualitative",
        "A passenger lift should serve every storey unless a ramp is provided.",
    ),
    (
        "A:2C",
        "Wall thickness",
        "quantitative",
        "The thickness of a solid external wall shall be not less than 190 mm for walls up to 3.5 m high.",
    ),
    (
        "A:2.4",
        "Lateral support",
        "qualitative",
        "Walls should be tied to floors where the span exceeds the limit in Diagram 2.9.",
    ),
    (
        "M:3.5",
        "Switch heights",
        "quantitative",
        "Switches and sockets should be between 450 mm and 1200 mm above the floor.",
    ),
    (
        "B:4.1",
        "Fire doors",
        "qualitative",
        "Every fire door shall be fitted with an automatic self-closing device.",
    ),
]
TRAIN_ONLY = {"K:1.14", "M:3.5", "B:4.1"}
REQUESTED = "A:2.4"
DEONTIC, COMPARATORS = (
    {"shall", "should", "must", "may"},
    {"least", "minimum", "not", "less", "exceed", "than", "between"},
)
CONDITIONS, UNITS = {"where", "unless", "only", "if"}, {"mm", "m", "m2"}
ENTITIES = {
    "dwelling",
    "flight",
    "stair",
    "handrail",
    "window",
    "room",
    "kitchen",
    "door",
    "lift",
    "storey",
    "ramp",
    "wall",
    "walls",
    "floors",
    "floor",
    "switches",
    "sockets",
    "guarding",
}
FUNCTION = {
    "in",
    "a",
    "the",
    "of",
    "on",
    "be",
    "is",
    "it",
    "or",
    "and",
    "an",
    "to",
    "as",
    "for",
    "up",
    "every",
    "one",
    "both",
    "with",
    "by",
    "see",
    "above",
    "between",
}


def categorise(words: list[str], i: int) -> str:
    w, prev = words[i].lower(), words[i - 1].lower() if i else ""
    if re.fullmatch(r"\d[\d.]*[a-z]?", w):
        return (
            "rule_identifier"
            if prev in {"diagram", "table"} or re.fullmatch(r"\d+[a-z]", w)
            else "numerical_constraint"
        )
    if w in {"diagram", "table", "approved", "document"}:
        return "rule_identifier"
    for cat, lex in (
        ("unit", UNITS),
        ("deontic", DEONTIC),
        ("comparator", COMPARATORS),
        ("condition", CONDITIONS),
        ("building_entity", ENTITIES),
        ("function_word", FUNCTION),
    ):
        if w in lex:
            return cat
    return "content_word"


def word_units(text: str) -> list[Unit]:
    found = list(re.finditer(r"[A-Za-z0-9]+(?:\.[0-9]+)?", text))
    words = [m.group() for m in found]
    return [
        Unit(text=m.group(), start=m.start(), end=m.end(), kind="word", category=categorise(words, i))
        for i, m in enumerate(found)
    ]


def focus_metrics(scores: np.ndarray, k: int = 3) -> dict[str, float]:
    p = np.abs(scores) / np.abs(scores).sum()
    nz = p[p > 0]
    gini = float(np.sum((2 * np.arange(1, len(p) + 1) - len(p) - 1) * np.sort(p)) / len(p))
    return {
        "entropy": float(-(nz * np.log(nz)).sum() / math.log(len(p))),
        "gini": gini,
        "top_k_mass": float(np.sort(p)[::-1][:k].sum()),
        "effective_units": float(1 / np.sum(p**2)),
    }


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = rng.choice(values, size=(300, len(values))).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def sentence_row(
    family: str,
    test: str,
    metric: str,
    groups: str,
    statistic: float,
    p: float,
    n: int,
    effect_name: str,
    effect: float,
) -> dict[str, Any]:
    return {
        "family": family,
        "test": test,
        "metric": metric,
        "groups": groups,
        "statistic": statistic,
        "p": p,
        "p_adj": None,
        "correction": None,
        "effect_name": effect_name,
        "effect": effect,
        "n": n,
        "sentence": "",
        "role": "exploratory",
        "verdict": "significant" if p < 0.05 else "not significant",
    }


def holm(rows: list[dict[str, Any]], alpha: float = 0.05) -> None:
    """Holm-correct a family in place and write the sentence with the corrected p."""
    adj = multipletests([r["p"] for r in rows], alpha=alpha, method="holm")[1]
    for r, pa in zip(rows, adj, strict=True):
        verdict = "differ" if pa < alpha else "do not differ significantly"
        r.update(
            p_adj=float(pa),
            correction="holm",
            verdict="significant" if pa < alpha else "not significant",
            sentence=(
                f"{r['groups']} {verdict} on {r['metric']} ({r['family']}): {r['test']} statistic "
                f"{r['statistic']:.3g}, p = {pa:.3g} (Holm), {r['effect_name']} = {r['effect']:.2f}, "
                f"n = {r['n']}"
            ),
        )


def build_store(root: Path, cfg: ExperimentConfig) -> Store:
    rng = np.random.default_rng(7)
    store = Store(root)
    start_manifest(store, cfg)
    docs = {
        "K": "Approved Document K",
        "B": "Approved Document B vol 1",
        "M": "Approved Document M vol 1",
        "A": "Approved Document A",
    }
    store.upsert(
        "pairs",
        [
            {
                "clause_id": cid,
                "document": docs[cid[0]],
                "paragraph": cid[2:],
                "title": title,
                "text": text,
                "rule": f"def check_rule(model):\n    # {title}\n    return []",
                "kind": kind,
                "split": "train" if cid in TRAIN_ONLY else "test",
                "fixtures": "[]",
            }
            for cid, title, kind, text in CLAUSES
        ],
        key=["clause_id"],
    )
    test_clauses = [c for c in CLAUSES if c[0] not in TRAIN_ONLY]
    cells, training, generations, scores, summary, attrs, shares, focus, faith = ([] for _ in range(9))
    for model, params in MODELS:
        for strategy in STRATEGIES:
            cell_id = f"{model}/{strategy}/s0"
            cells.append(
                {
                    "cell_id": cell_id,
                    "model": model,
                    "params": params,
                    "strategy": strategy,
                    "seed": 0,
                    "status": "done",
                    "error": None,
                }
            )
            trainable = params if strategy == "fft" else params // 60
            training.append(
                {
                    "cell_id": cell_id,
                    "trainable_params": trainable,
                    "total_params": params + (params // 60) * (strategy != "fft"),
                    "peak_memory_mb": params * (16 if strategy == "fft" else 4) / 1e6 + 80,
                    "base_weight_mb": params * (0.5 if strategy == "qlora" else 4) / 1e6,
                    "wall_s": params / 4e5 + 3,
                    "tokens_per_s": 4e8 / params,
                    "train_loss": 0.4 + 30 / math.sqrt(params),
                    "val_loss": 0.6 + 40 / math.sqrt(params),
                    "steps": 60,
                    "quantized": strategy == "qlora",
                    "backend": "bitsandbytes-cpu" if strategy == "qlora" else "torch",
                    "notes": "nf4 base, fp32 compute" if strategy == "qlora" else "",
                }
            )
            scale = math.log10(params) - 6  # 0.08 .. 1.9
            quality = 0.45 + 0.3 * min(scale, 1.3) / 1.3 - {"fft": 0, "lora": 0.03, "qlora": 0.05}[strategy]
            per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
            for cid, _title, _kind, text in test_clauses:
                generations.append(
                    {
                        "cell_id": cell_id,
                        "clause_id": cid,
                        "raw": "def check_rule(model):\n    return []",
                        "rule": "def check_rule(model):\n    return []",
                        "n_new_tokens": 12,
                    }
                )
                for metric in METRICS:
                    v = float(np.clip(quality + rng.normal(0, 0.06) + (metric == "token_f1") * -0.1, 0, 1))
                    if metric == "verdict_accuracy":
                        v = float(rng.random() < quality)
                    per_metric[metric].append(v)
                    scores.append(
                        {"cell_id": cell_id, "clause_id": cid, "metric": metric, "value": v, "detail": ""}
                    )
                units = word_units(text)
                weight = np.array(
                    [
                        1 + 1.5 * scale * (u.category in {"numerical_constraint", "rule_identifier"})
                        for u in units
                    ]
                )
                sharp = 2.0 if strategy == "fft" else 1.0
                raw = (weight * rng.gamma(2.0, 0.5, len(units))) ** sharp * 0.1
                s = raw * np.where(rng.random(len(units)) < 0.15, -0.5, 1.0)
                matrix = (np.outer(rng.random(6), s)).round(5).tolist() if strategy == "fft" else None
                attr = Attribution(
                    cell_id=cell_id,
                    clause_id=cid,
                    clause_text=text,
                    units=units,
                    scores=[float(x) for x in s],
                    method="loo",
                    target="logprob",
                    perturbation="delete",
                    output_tokens=["def", " check", "_rule", "(model", "):", "\n"] if matrix else None,
                    matrix=matrix,
                )
                attrs.append(
                    {
                        "cell_id": cell_id,
                        "clause_id": cid,
                        "method": "loo",
                        "target": "logprob",
                        "perturbation": "delete",
                        "unit": "word",
                        "payload": attr.to_json(),
                    }
                )
                total = np.abs(s).sum()
                for cat in sorted({u.category for u in units}):
                    idx = [i for i, u in enumerate(units) if u.category == cat]
                    share = float(np.abs(s[idx]).sum() / total)
                    shares.append(
                        {
                            "cell_id": cell_id,
                            "clause_id": cid,
                            "category": cat,
                            "share": share,
                            "share_per_unit": share / (len(idx) / len(units)),
                            "n_units": len(idx),
                        }
                    )
                for metric, value in focus_metrics(s).items():
                    focus.append({"cell_id": cell_id, "clause_id": cid, "metric": metric, "value": value})
                order = np.argsort(-np.abs(s))
                frac = np.linspace(0, 1, 11)
                for curve in ("deletion", "insertion"):
                    removed = np.array(
                        [np.abs(s[order[: int(round(f * len(s)))]]).sum() / total for f in frac]
                    )
                    rand = frac.copy()
                    value = 1 - removed if curve == "deletion" else removed
                    base = 1 - rand if curve == "deletion" else rand
                    faith.append(
                        {
                            "cell_id": cell_id,
                            "clause_id": cid,
                            "curve": curve,
                            "aopc": float(np.mean(value[0] - value)),
                            "random_aopc": float(np.mean(base[0] - base)),
                            "comprehensiveness": float(removed[3]),
                            "sufficiency": float(1 - removed[3]),
                            "points": json.dumps(
                                {"fraction": frac.tolist(), "value": value.tolist(), "random": base.tolist()}
                            ),
                        }
                    )
            kinds = {cid: kind for cid, _t, kind, _x in test_clauses}
            for metric, values in per_metric.items():
                arr = np.asarray(values)
                subsets = {"all": np.ones(len(arr), bool)}
                subsets |= {
                    k: np.array([kinds[c[0]] == k for c in test_clauses])
                    for k in ("quantitative", "qualitative")
                }
                subsets |= {
                    f"doc:{d}": np.array([c[0][0] == d[-1] for c in test_clauses]) for d in ("K", "B")
                }
                for subset, mask in subsets.items():
                    lo, hi = bootstrap_ci(arr[mask], rng)
                    summary.append(
                        {
                            "cell_id": cell_id,
                            "metric": metric,
                            "subset": subset,
                            "mean": float(arr[mask].mean()),
                            "ci_low": lo,
                            "ci_high": hi,
                            "n": int(mask.sum()),
                        }
                    )
    for table, rows in (
        (CELLS, cells),
        (TRAINING, training),
        (GENERATIONS, generations),
        (SCORES, scores),
        (SCORE_SUMMARY, summary),
        (ATTRIBUTIONS, attrs),
        (CATEGORY_SHARES, shares),
        (FOCUS_TABLE, focus),
        (FAITHFULNESS, faith),
    ):
        store.upsert(table, rows)  # on the declared key (clauselens.tables)
    store.upsert(TESTS, synthetic_tests(store))
    store.upsert(  # a table the report has no section for: shown generically
        ROBUSTNESS,
        [
            {
                "cell_id": "all",
                "measure": "perturbation_baseline",
                "statistic": "kendall_tau",
                "value": 0.62,
                "ci_low": 0.55,
                "ci_high": 0.7,
                "n": 108,
            },
            {
                "cell_id": "all",
                "measure": "loo_vs_shapley",
                "statistic": "kendall_tau",
                "value": 0.48,
                "ci_low": 0.4,
                "ci_high": 0.57,
                "n": 108,
            },
        ],
    )
    return store


def synthetic_tests(store: Store) -> list[dict[str, Any]]:
    """Test rows computed with scipy on the synthetic tables (plateau, strategy, scale)."""
    rows = []
    sc = store.read("scores")
    for strategy in STRATEGIES:
        fam = []
        for (a, _), (b, _) in zip(MODELS, MODELS[1:], strict=False):
            x = sc[(sc.cell_id == f"{a}/{strategy}/s0") & (sc.metric == "semantic_similarity")].sort_values(
                "clause_id"
            )
            y = sc[(sc.cell_id == f"{b}/{strategy}/s0") & (sc.metric == "semantic_similarity")].sort_values(
                "clause_id"
            )
            res = stats.wilcoxon(y["value"].to_numpy(), x["value"].to_numpy(), alternative="greater")
            fam.append(
                sentence_row(
                    f"plateau:{strategy}",
                    "wilcoxon",
                    "semantic_similarity",
                    f"{a} vs {b}",
                    float(res.statistic),
                    float(res.pvalue),
                    len(x),
                    "mean_gain",
                    float(y["value"].mean() - x["value"].mean()),
                )
            )
        holm(fam)
        rows += fam
    fo = store.read("focus")
    for metric in ("gini", "entropy"):
        fam = []
        for model, _ in MODELS:
            groups = [
                fo[(fo.cell_id == f"{model}/{s}/s0") & (fo.metric == metric)]["value"].to_numpy()
                for s in STRATEGIES
            ]
            res = stats.kruskal(*groups)
            n = sum(len(g) for g in groups)
            fam.append(
                sentence_row(
                    f"strategy@{model}",
                    "kruskal",
                    metric,
                    " vs ".join(STRATEGIES),
                    float(res.statistic),
                    float(res.pvalue),
                    n,
                    "epsilon2",
                    float(res.statistic / (n - 1)),
                )
            )
        holm(fam)
        rows += fam
    sh = store.read("category_shares").merge(
        store.read("cells")[["cell_id", "params", "strategy"]], on="cell_id"
    )
    fam = []
    for cat in ("numerical_constraint", "function_word"):
        d = sh[(sh.category == cat) & (sh.strategy == "lora")]
        res = stats.spearmanr(np.log10(d["params"]), d["share"])
        fam.append(
            sentence_row(
                "scale:lora",
                "spearman",
                f"share:{cat}",
                "log params",
                float(res.statistic),
                float(res.pvalue),
                len(d),
                "rho",
                float(res.statistic),
            )
        )
    holm(fam)
    return rows + fam


def make_cfg(out: Path) -> ExperimentConfig:
    return ExperimentConfig(
        name="synthetic",
        output_dir=str(out),
        models=[ModelConfig(name=m, id=f"builtin:{m}", params=p) for m, p in MODELS],
        report=ReportConfig(clauses=[REQUESTED], n_clauses=3),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("run")
    cfg = make_cfg(root)
    store = build_store(root, cfg)
    path = write_report(store, cfg)
    yield {"store": store, "cfg": cfg, "path": path, "html": path.read_text()}
    store.close()


class TracedElements(HTMLParser):
    """Collects every element with data-table (its attributes and text) and every data-manifest value."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, Any]] = []
        self.manifest: list[tuple[str, str]] = []
        self._open: list[tuple[str, dict[str, Any] | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        rec = None
        if "data-table" in a or "data-manifest" in a:
            rec = {**a, "text": ""}
        self._open.append((tag, rec))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            t, rec = self._open.pop()
            if rec is not None:
                if "data-manifest" in rec:
                    self.manifest.append((rec["data-manifest"], rec["text"]))
                else:
                    self.found.append(rec)
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, rec in self._open:
            if rec is not None:
                rec["text"] += data


def traced(html: str) -> TracedElements:
    p = TracedElements()
    p.feed(html)
    return p


def parse_shown(text: str) -> float:
    t = text.strip().replace(",", "")
    mult = {"k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(t[-1:], 1)
    return float(t[:-1] if mult != 1 else t) * mult


class StoreRows:
    """Recomputes what an element claims from its store table, key, column and aggregation (cached per
    (table, key): thousands of elements share a few hundred keys)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tables: dict[str, pd.DataFrame] = {}
        self.selected: dict[tuple[str, str], pd.DataFrame] = {}
        self.payloads: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def rows(self, table: str, key_json: str) -> pd.DataFrame:
        if (table, key_json) not in self.selected:
            if table not in self.tables:
                self.tables[table] = self.store.read(table)
            df = self.tables[table]
            mask = np.ones(len(df), bool)
            for k, v in json.loads(key_json).items():
                mask &= df[k].isna().to_numpy() if v is None else (df[k] == v).to_numpy()
            self.selected[(table, key_json)] = df[mask]
        return self.selected[(table, key_json)]

    def value(self, el: dict[str, Any]) -> Any:
        table, key, col, agg = el["data-table"], el["data-key"], el["data-col"], el.get("data-agg")
        rows = self.rows(table, key)
        if col.startswith("payload."):
            if (table, key) not in self.payloads:
                self.payloads[(table, key)] = [json.loads(p) for p in rows["payload"]]
            values = [p[col.split(".", 1)[1]] for p in self.payloads[(table, key)]]
            if agg == "absmax":
                return max(abs(x) for v in values for x in v)
            assert len(values) == 1, el
            return values[0][int(el["data-index"])]
        if agg is None:
            assert len(rows) == 1, f"{el} selects {len(rows)} rows"
            return rows[col].iloc[0]
        if agg == "count":
            return len(rows)
        if agg == "first":
            return rows[col].iloc[0]
        return getattr(rows[col], agg)()


def test_report_files_sections_and_exports(built: dict[str, Any]) -> None:
    path, html, store = built["path"], built["html"], built["store"]
    assert path == store.root / "report" / "index.html"
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others: a report is shared
    for anchor in (
        "answers",
        "overview",
        "quality",
        "attribution",
        "behaviour",
        "exploratory",
        "extra-robustness",
    ):
        assert f'<section id="{anchor}">' in html
    assert html.index('<section id="answers">') < html.index("<section", html.index("<main>") + 1) + 1
    assert '<section id="statistics">' in (path.parent / "statistics.html").read_text()
    assert "data:image" not in html  # figures are files, not inlined
    for fig in ("quality", "category_shares", "focus", "faithfulness", "attribution_matrix"):
        assert f'data-figure="{fig}"' in html
        png = path.parent / "figures" / f"{fig}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert (path.parent / "figures" / f"{fig}.svg").read_text().lstrip().startswith("<?xml")
    for table in store.tables():
        assert len(pd.read_csv(path.parent / "tables" / f"{table}.csv")) == len(store.read(table))
        assert len(pd.read_parquet(path.parent / "tables" / f"{table}.parquet")) == len(store.read(table))
    assert "Not run" not in html
    # offline: nothing is fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html


def test_clause_choice_is_diverse_and_includes_the_requested_one(built: dict[str, Any]) -> None:
    chosen = re.findall(r'<article class="clause" data-clause="([^"]+)"', built["html"])
    assert chosen[0] == REQUESTED
    assert len(chosen) == 1 + built["cfg"].report.n_clauses == len(set(chosen))
    assert not set(chosen) & TRAIN_ONLY  # only clauses that have attributions
    assert len({c.split(":")[0] for c in chosen}) == len(chosen)  # four different documents
    # each map of the requested clause is one cell; 4 sizes x 3 strategies, units shaded and hoverable
    block = built["html"].split(f'data-clause="{REQUESTED}"')[1].split("</article>")[0]
    assert block.count('<div class="map" data-cell=') == len(MODELS) * len(STRATEGIES)
    assert block.count('class="u n"') == len(MODELS) * len(STRATEGIES) * len(
        word_units(dict((c[0], c[3]) for c in CLAUSES)[REQUESTED])
    )
    assert 'data-tip="' in block and "building_entity" in block and "rule_identifier" in block


def assert_traceable(store: Store, found: list[dict[str, Any]]) -> dict[str, int]:
    """Every traced element agrees with the store: exactly (data-value) and as shown (rounded text)."""
    source = StoreRows(store)
    checked: dict[str, int] = {}
    for el in found:
        expected = source.value(el)
        if "data-value" in el:
            assert float(el["data-value"]) == pytest.approx(float(expected), rel=1e-9, abs=1e-12), el
            shown = (
                el["data-tip"].split(" · ")[0] if "data-tip" in el else el["text"]
            )  # a unit shows its word
            assert parse_shown(shown) == pytest.approx(float(expected), rel=0.06, abs=5e-4), el
        elif el["text"].strip() not in ("", "–"):
            assert el["text"] == str(expected), el
        checked[el["data-table"]] = checked.get(el["data-table"], 0) + 1
    return checked


def test_every_number_is_traceable_to_the_store(built: dict[str, Any]) -> None:
    store, found = built["store"], traced(built["html"]).found
    checked = assert_traceable(store, found)
    for table in (
        "pairs",
        "cells",
        "training",
        "score_summary",
        "scores",
        "attributions",
        "category_shares",
        "focus",
        "faithfulness",
        "tests",
        "robustness",
    ):
        assert checked.get(table, 0) > 0, f"no number of table {table} in the report"
    # one named number: the FFT large model's overall semantic similarity
    row = store.read(
        "score_summary", "cell_id = 'ladder-l/fft/s0' AND metric = 'semantic_similarity' AND subset = 'all'"
    )
    key = json.dumps(
        {"cell_id": "ladder-l/fft/s0", "metric": "semantic_similarity", "subset": "all"}, sort_keys=True
    )
    shown = [
        e
        for e in found
        if e["data-table"] == "score_summary"
        and json.loads(e["data-key"]) == json.loads(key)
        and e["data-col"] == "mean"
    ]
    assert shown and float(shown[0]["data-value"]) == row["mean"].iloc[0]


def test_manifest_values_shown_are_the_manifest(built: dict[str, Any]) -> None:
    manifest = built["store"].read_json("manifest.json")
    shown = dict(traced(built["html"]).manifest)
    for path in (
        "config_hash",
        "git_commit",
        "config.attribution.unit",
        "config.attribution.perturbation",
        "config.attribution.method",
        "config.attribution.target",
        "config.strategies.lora.r",
        "config.models.3.params",
        "versions.torch",
    ):
        node: Any = manifest
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert shown[path] == str(node), path


def test_exploratory_results_are_collapsed_and_every_test_is_on_the_statistics_page(
    built: dict[str, Any],
) -> None:
    tests = built["store"].read("tests")
    html = built["html"]
    exploratory = html.split('<section id="exploratory">')[1].split("</section>")[0]
    sig = tests[tests["p_adj"] < built["cfg"].analysis.alpha]
    assert 0 < len(sig) < len(tests)  # the synthetic data has both
    assert exploratory.count("<details>") == 1 and exploratory.count("<tbody") == min(len(tests), 100)
    for sentence in tests.sort_values("p_adj")["sentence"].head(100):
        assert re.sub("&", "&amp;", sentence) in exploratory
    shown_p = [float(m) for m in re.findall(r'data-col="p_adj" data-value="([^"]+)"', exploratory)]
    assert shown_p == sorted(shown_p)  # sorted by adjusted p
    statistics = (built["path"].parent / "statistics.html").read_text()
    assert statistics.count('<tbody id="test-') == len(tests)  # every test is a row of Statistics


def test_report_is_deterministic(built: dict[str, Any]) -> None:
    again = write_report(built["store"], built["cfg"]).read_text()
    assert again == built["html"]


def test_missing_tables_say_not_run(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    with Store(tmp_path) as store:
        store.upsert(
            "pairs",
            [{"clause_id": "K:1", "document": "K", "kind": "quantitative", "text": "x"}],
        )
        store.upsert(
            "cells",
            [{"cell_id": "m/fft/s0", "model": "m", "params": 10, "strategy": "fft", "seed": 0}],
        )
        store.upsert(
            "attributions",
            [
                {
                    "cell_id": "m/fft/s0",
                    "clause_id": "K:1",
                    "method": "loo",
                    "target": "logprob",
                    "perturbation": "delete",
                    "unit": "word",
                    "payload": '{"broken": 1}',
                }
            ],
        )
        # rows of a cell that is not in `cells`, and a table without the columns the report needs
        store.upsert(
            "focus",
            [{"cell_id": "other/fft/s0", "clause_id": "K:1", "metric": "gini", "value": 0.5}],
        )
        store.upsert("faithfulness", [{"cell_id": "m/fft/s0", "clause_id": "K:1", "aopc": 0.1}], ["cell_id"])
        html = write_report(store, cfg).read_text()
    assert "manifest.json not found" in html
    assert "data-manifest" not in html  # the fallback config is not passed off as the manifest
    for why in (
        "table `score_summary` is missing or empty",
        "table `category_shares` is missing or empty",
        "no row of table `focus` belongs to a cell of table `cells`",
        "table `faithfulness` lacks column(s) curve",
        "table `tests` is missing or empty",
        "table `training` is missing or empty",
    ):
        assert why in html
    assert "payload is not an Attribution" in html
    assert f"Requested clause(s) without attributions: {REQUESTED}" in html


FAILED_CELL = {
    "cell_id": "ladder-xl/fft/s0",
    "model": "ladder-xl",
    "params": 300_000_000,
    "strategy": "fft",
    "seed": 0,
    "status": "failed",
    "error": "MemoryError: 300M parameters do not fit",
}


def test_seeds_variants_failed_cells_and_uncorrected_tests(built: dict[str, Any], tmp_path: Path) -> None:
    """Shapes other stages may write: a second seed, a second attribution variant, a failed cell, tests
    without a correction, faithfulness points as [x, y] pairs without a random curve."""
    src = built["store"]
    shutil.copy(src.root / "manifest.json", tmp_path / "manifest.json")
    with Store(tmp_path) as store:
        for table in src.tables():
            df = src.read(table)
            if table == "tests":
                df = df.assign(p_adj=None, correction=None)
            if table == "attributions":  # a variant the config did not ask for
                df = pd.concat([df, df[df.clause_id == REQUESTED].assign(perturbation="mask")])
            if table == "faithfulness":
                df["points"] = [
                    json.dumps([[x, y] for x, y in zip(p["fraction"], p["value"], strict=True)])
                    for p in map(json.loads, df["points"])
                ]
            if table in ("cells", "score_summary", "attributions"):
                seed1 = df[df.cell_id.str.startswith("ladder-xs/")].copy()
                seed1["cell_id"] = seed1["cell_id"].str.replace("/s0", "/s1")
                if table == "cells":  # in the same write: an all-NULL column takes no text later
                    seed1["seed"] = 1
                    seed1 = pd.concat([seed1, pd.DataFrame([FAILED_CELL])])
                elif table == "score_summary":
                    seed1[["mean", "ci_low", "ci_high"]] += 0.05
                df = pd.concat([df, seed1])
            store.upsert(table, df)
        html = write_report(store, built["cfg"]).read_text()
        found = traced(html).found
        assert_traceable(store, found)
    assert "Not run" not in html.split('id="behaviour"')[1]  # faithfulness points read as pairs
    assert "MemoryError: 300M parameters do not fit" in html
    shown = [json.loads(e["data-key"]) for e in found if e["data-table"] == "attributions"]
    assert shown and all(k["perturbation"] == "delete" for k in shown)  # the configured variant only
    assert all(not k.get("cell_id", "").endswith("/s1") for k in shown)  # one seed per map: the lowest
    assert {"ladder-xs/fft/s1", "ladder-xl/fft/s0"} <= {
        k.get("cell_id")
        for k in map(
            json.loads, (e["data-key"] for e in found if e["data-table"] in ("cells", "score_summary"))
        )
    }
    exploratory = html.split('<section id="exploratory">')[1].split("</section>")[0]
    tests = src.read("tests")  # without a correction, significance is read from the raw p
    n_sig = int((tests["p"] < built["cfg"].analysis.alpha).sum())
    assert exploratory.count('class="sig">significant') == n_sig


# -- in the browser --------------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "report.png"
INSTALL = "install it with: apt-get install -y chromium chromium-driver (and pip install selenium)"


def open_browser(width: int, height: int, profile: Path) -> Any:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            f"headless Chromium is needed to test the report: {CHROMIUM} / {CHROMEDRIVER} missing; {INSTALL}"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"the selenium package is needed to drive Chromium; {INSTALL}")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    return driver


def test_report_in_headless_chromium(built: dict[str, Any], tmp_path: Path) -> None:
    url = built["path"].resolve().as_uri()
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    driver = open_browser(1280, 900, profile)
    try:
        driver.get(url)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        figures = driver.execute_script(
            "return [...document.querySelectorAll('figure img')].map(i => [i.complete, i.naturalWidth])"
        )
        assert len(figures) == 8 and all(ok and w > 100 for ok, w in figures), figures
        assert driver.execute_script("return document.querySelectorAll('table').length") >= 10
        for anchor in ("answers", "overview", "quality", "attribution", "behaviour", "exploratory"):
            assert driver.execute_script(f"return document.getElementById('{anchor}').offsetHeight") > 50
        # hovering (focusing) a unit shows its score and category
        tip = driver.execute_script(
            "const u = document.querySelector('.u'); u.focus();"
            "return [u.dataset.tip, getComputedStyle(u, '::after').content]"
        )
        assert tip[1] == json.dumps(tip[0], ensure_ascii=False), tip
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        if os.environ.get("CLAUSELENS_DOCS_SCREENSHOT"):  # refresh the README's picture on purpose only
            driver.execute_script("document.querySelector('.clause h3').scrollIntoView()")
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            assert driver.save_screenshot(str(DOCS_SCREENSHOT))
    finally:
        driver.quit()
    phone = open_browser(390, 844, Path(tempfile.mkdtemp(prefix="chromium-phone-", dir=tmp_path)))
    try:
        phone.get(url)
        assert not [e for e in phone.get_log("browser") if e["level"] == "SEVERE"]
        width = phone.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
        )
        assert width[1] == 390 and width[0] <= width[1] and width[2] <= width[1], width
        assert phone.save_screenshot(str(tmp_path / "report-phone.png"))
    finally:
        phone.quit()
