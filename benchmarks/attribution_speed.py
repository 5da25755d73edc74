"""Attribution speed and accuracy: clauselens vs captum, and the surrogate vs Shapley sampling.

One process, one run, three sections. Models are Llama-shaped causal LMs (random init, seeded) with a
byte-level BPE tokenizer trained here on the bundled corpus. Clauses are real numbered paragraphs of the
UK Approved Documents inside the real prompt template (`clauselens.prompt.render_prompt`); each target
is the model's own greedy output. Every method attributes the teacher-forced log-probability of that
output to the clause's words, each word deleted with its trailing whitespace.

1. Accuracy (small model, hidden 128, 2 layers; clauses of 12-24 words; 20-token outputs). Reference:
   Shapley value sampling with `--reference-permutations` (512) antithetic permutations. Compared, each
   on a fresh evaluation cache: leave-one-out (n + 1 forward passes), Shapley sampling (captum's
   ShapleyValueSampling algorithm, `clauselens.attribute.methods.shapley_sampling`) and the surrogate
   (Kernel SHAP fit, `clauselens.attribute.surrogate`) at budgets of 1x, 2x and 4x leave-one-out's
   forward passes, plus the lasso surrogate and hierarchical leave-one-out. Per method: mean Spearman
   rho to the reference over clauses and seeds, forward passes (distinct coalitions evaluated), seconds.
   Shapley sampling at budget B runs the most permutations whose distinct coalitions fit in B
   (2 + p (n - 1)), at least one.
2. captum's default: `LLMAttribution(FeatureAblation(model), tokenizer).attribute(inp, target=target)`
   with no other argument (so `forward_in_tokens=True`, `use_cached_outputs=True`) on whole clauses,
   interleaved repeats with clauselens leave-one-out, medians. With transformers 5.x (5.24 here), captum
   0.9's cached path is wrong: `prepare_inputs_for_generation` no longer trims `input_ids` unless told the
   new length, so every decoding step feeds the whole sequence again on top of the cache; every output
   token's log-probability after the first is off and each call takes about a minute for a 60-token
   output on this shared CPU. It is timed as it is (its score difference is printed), on
   `--default-clauses` clauses with `--default-output-tokens` output tokens, shorter than section 3's
   outputs so that it finishes (a shorter output narrows captum's disadvantage).
3. captum's fastest mode (`forward_in_tokens=False`: one forward pass per perturbation) vs clauselens
   leave-one-out on the same model (about 20M parameters) and clauses (30+ words, 60-token outputs):
   interleaved repeats, medians per clause; scores must agree within 1e-3.

Run:

    .venv/bin/python benchmarks/attribution_speed.py
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import transformers
from attribution_accuracy import accuracy_section, greedy_output
from captum import __version__ as captum_version
from captum.attr import FeatureAblation, LLMAttribution, TextTemplateInput
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from clauselens.attribute import attribute_clause, perturb, word_units
from clauselens.attribute.evalcache import EvalCache
from clauselens.config import AttributionConfig
from clauselens.prompt import INSTRUCTION, render_prompt
from clauselens.records import Clause, Unit
from clauselens.store import atomic_write

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "src" / "clauselens" / "corpus" / "uk-approved-documents"
RESULT = ROOT / "benchmarks" / "results" / "attribution_speed.txt"
PARAGRAPH = re.compile(r"^(\d{1,2}\.\d{1,2})\s+([A-Z].*)$")
TOLERANCE = 1e-3


def real_clauses(n: int, min_words: int = 30, max_words: int = 45) -> list[Clause]:
    """The first numbered paragraph of `min_words`-`max_words` words in each document, `n` documents.

    Two files of the corpus hold the same document (Approved_Doc_G, Approved_Document_G); a paragraph
    text already taken is skipped.
    """
    def paragraphs(path: Path) -> Iterator[Clause]:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        for i, line in enumerate(lines):
            match = PARAGRAPH.match(line)
            if not match:
                continue
            text, j = match.group(2), i + 1
            while not text.endswith(".") and j < min(len(lines), i + 6) and not PARAGRAPH.match(lines[j]):
                text, j = f"{text} {lines[j]}", j + 1
            text = " ".join(text.split())
            if text.endswith(".") and min_words <= len(word_units(text)) <= max_words:
                doc = path.stem.replace("_", " ")
                yield Clause(clause_id=f"{doc}:{match.group(1)}", document=doc, paragraph=match.group(1),
                             text=text)

    clauses: list[Clause] = []
    for path in sorted(CORPUS.glob("*.txt")):
        fresh = [c for c in paragraphs(path) if all(c.text != seen.text for seen in clauses)]
        clauses += fresh[:1]
        if len(clauses) == n:
            return clauses
    raise SystemExit(f"only {len(clauses)} documents in {CORPUS} have a paragraph of {min_words}+ words")


def build_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    texts = [INSTRUCTION] + [p.read_text(errors="replace") for p in sorted(CORPUS.glob("*.txt"))[:8]]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<eos>", "<pad>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>")


def build_model(vocab_size: int, seed: int, hidden: int = 512, layers: int = 6) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                         num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=8,
                         tie_word_embeddings=True, max_position_embeddings=1024, initializer_range=0.05)
    return LlamaForCausalLM(config).eval()


@dataclass
class Segments:
    """A prompt as fixed text and captum features: prefix + fixed[0] + values[0] + ... + tail + suffix."""

    prefix: str
    fixed: list[str]
    values: list[str]
    tail: str
    suffix: str

    @classmethod
    def of_words(cls, prefix: str, text: str, units: list[Unit], suffix: str) -> Segments:
        """Each feature is a word with its trailing whitespace: exactly what clauselens deletes."""
        fixed, values, cursor = [], [], 0
        for unit in units:
            end = unit.end
            while end < len(text) and text[end].isspace():
                end += 1
            fixed.append(text[cursor:unit.start])
            values.append(text[unit.start:end])
            cursor = end
        return cls(prefix, fixed, values, text[cursor:], suffix)

    def fill(self, *values: str) -> str:
        body = "".join(f + v for f, v in zip(self.fixed, values, strict=True))
        return self.prefix + body + self.tail + self.suffix

    def captum_input(self) -> TextTemplateInput:
        return TextTemplateInput(self.fill, values=self.values, baselines=[""] * len(self.values))


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    scores = fn()
    return time.perf_counter() - t0, scores


def captum_scores(
    captum: LLMAttribution, inp: TextTemplateInput, target: str, **kwargs: object
) -> np.ndarray:
    with torch.inference_mode():
        return captum.attribute(inp, target=target, **kwargs).seq_attr.double().numpy()


def clauselens_scores(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, clause: Clause, target: str,
                      cfg: AttributionConfig) -> np.ndarray:
    """A fresh evaluation cache per call: nothing is reused between repeats."""
    attr = attribute_clause(model, tok, clause, target, cfg, "bench", cache=EvalCache())
    return np.asarray(attr.scores)


def clause_inputs(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, clause: Clause,
                  n_tokens: int) -> tuple[str, TextTemplateInput, int]:
    """(greedy target, captum input over the clause's words, prompt + output tokens); captum's
    perturbations are checked to be exactly clauselens's."""
    parts = render_prompt(clause, tok)
    target = greedy_output(model, tok, parts.text, n_tokens)
    units = word_units(clause.text)
    inp = Segments.of_words(parts.prefix, clause.text, units, parts.suffix).captum_input()
    for i in range(len(units)):
        keep = torch.ones(1, len(units), dtype=torch.long)
        keep[0, i] = 0
        assert inp.to_model_input(keep) == parts.with_clause(perturb(clause.text, units, [i], "delete")).text
    n_tokens_all = len(tok(parts.text)["input_ids"]) + len(tok(target, add_special_tokens=False)["input_ids"])
    return target, inp, n_tokens_all


def bench_pair(captum_fn: Callable[[], np.ndarray], ours_fn: Callable[[], np.ndarray],
               repeats: int) -> dict[str, float]:
    """Interleaved repeats (contention from other users of the CPU hits both alike), medians."""
    theirs, ours = [], []
    for _ in range(repeats):
        t, s_theirs = timed(captum_fn)
        theirs.append(t)
        t, s_ours = timed(ours_fn)
        ours.append(t)
    return {"captum": statistics.median(theirs), "ours": statistics.median(ours),
            "captum_spread": max(theirs) - min(theirs), "ours_spread": max(ours) - min(ours),
            "diff": float(np.abs(s_theirs - s_ours).max()), "max_score": float(np.abs(s_ours).max())}


def captum_section(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, clauses: list[Clause],
                   args: argparse.Namespace, say: Callable[[str], None], *, default: bool) -> list[dict]:
    """captum's default (`default`) or fastest mode vs clauselens leave-one-out, clause by clause."""
    cfg = AttributionConfig(unit="word", perturbation="delete", method="loo", target="logprob")
    name = "captum-default" if default else "captum-fast"
    say(f"clause | words | prompt+output tokens | {name} s (spread) | clauselens s (spread) | "
        f"{name}/clauselens | max|score diff| | max|score|")
    rows = []
    for clause in clauses:
        n_out = args.default_output_tokens if default else args.output_tokens
        target, inp, n_tokens = clause_inputs(model, tok, clause, n_out)
        captum = LLMAttribution(FeatureAblation(model), tok)
        kwargs = {} if default else {"forward_in_tokens": False}
        r = bench_pair(partial(captum_scores, captum, inp, target, **kwargs),
                       partial(clauselens_scores, model, tok, clause, target, cfg),
                       args.default_repeats if default else args.repeats)
        r["words"] = len(inp.values)
        if not default:  # hierarchical leave-one-out on the same clause, fresh cache
            hcfg = cfg.model_copy(update={"method": "hierarchy"})
            t0 = time.perf_counter()
            hier = attribute_clause(model, tok, clause, target, hcfg, "bench", cache=EvalCache())
            r["hier_s"], r["hier_passes"] = time.perf_counter() - t0, hier.options["evaluations"]
            r["hier_units"] = len(hier.units)
        rows.append(r)
        say(f"{clause.clause_id} | {r['words']} | {n_tokens} | {r['captum']:.2f} "
            f"({r['captum_spread']:.2f}) | {r['ours']:.2f} ({r['ours_spread']:.2f}) | "
            f"{r['captum'] / r['ours']:.2f}x | {r['diff']:.1e} | "
            f"{r['max_score']:.2f}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clauses", type=int, default=6, help="clauses of the captum-fast section")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of captum-fast and clauselens")
    parser.add_argument("--output-tokens", type=int, default=60)
    parser.add_argument("--default-clauses", type=int, default=3,
                        help="clauses of the captum-default section")
    parser.add_argument("--default-repeats", type=int, default=2)
    parser.add_argument("--default-output-tokens", type=int, default=8)
    parser.add_argument("--accuracy-clauses", type=int, default=6)
    parser.add_argument("--accuracy-seeds", type=int, default=3, help="seeds per clause of sampled methods")
    parser.add_argument("--reference-permutations", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    tok = build_tokenizer(4096)
    load = os.getloadavg()
    say(f"torch {torch.__version__}, transformers {transformers.__version__}, captum {captum_version}; "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; load average before: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    small = build_model(len(tok), seed=0, hidden=128, layers=2)
    say(f"== 1. accuracy: Llama {sum(p.numel() for p in small.parameters()) / 1e6:.1f}M parameters "
        f"(hidden 128, 2 layers), {args.accuracy_clauses} clauses of 12-24 words, 20-token outputs, "
        f"{args.accuracy_seeds} seeds per sampled method")
    clauses = real_clauses(args.accuracy_clauses, min_words=12, max_words=24)
    acc = accuracy_section(small, tok, clauses, args.reference_permutations, args.accuracy_seeds, say)

    model = build_model(len(tok), seed=0)
    say(f"== 2. captum-default vs clauselens leave-one-out: Llama "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters (hidden 512, 6 layers), fp32; "
        f"LLMAttribution(FeatureAblation).attribute(inp, target=target) with captum's default arguments "
        f"(forward_in_tokens=True, use_cached_outputs=True) on whole clauses, "
        f"{args.default_output_tokens}-token outputs, {args.default_repeats} interleaved repeats, medians")
    speed_clauses = real_clauses(max(args.clauses, args.default_clauses))
    default_rows = captum_section(model, tok, speed_clauses[:args.default_clauses], args, say, default=True)
    say("captum-default score differences are captum's cached-path error on transformers 5.x "
        "(see the docstring), not clauselens's")
    say(f"== 3. captum-fast (forward_in_tokens=False) vs clauselens leave-one-out: same model, "
        f"{args.clauses} clauses, {args.output_tokens}-token outputs, {args.repeats} interleaved repeats, "
        "medians")
    rows = captum_section(model, tok, speed_clauses[:args.clauses], args, say, default=False)
    load = os.getloadavg()
    say(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (the cores are shared)")
    worst = max(r["diff"] for r in rows)
    agree = worst <= TOLERANCE
    say(f"agreement with captum-fast: max |score difference| = {worst:.2e} "
        f"({'within' if agree else 'OUTSIDE'} {TOLERANCE:g}); "
        f"largest |score| {max(r['max_score'] for r in rows):.2f}")
    default_total = sum(r["captum"] for r in default_rows)
    ours_there = sum(r["ours"] for r in default_rows)
    total = {k: sum(r[k] for r in rows) for k in ("captum", "ours")}
    per_clause = statistics.median(r["captum"] / r["ours"] for r in rows)
    say(f"hierarchy (hierarchical_mass {AttributionConfig().hierarchical_mass:g}) on these clauses: "
        f"{np.mean([r['hier_passes'] for r in rows]):.1f} evaluations vs leave-one-out's "
        f"{np.mean([r['words'] + 1 for r in rows]):.1f}, "
        f"{np.mean([r['hier_units'] for r in rows]):.1f} units; "
        f"{sum(r['hier_s'] for r in rows):.2f} s in total "
        f"(one run per clause) vs leave-one-out's {total['ours']:.2f} s (medians)")
    say(f"clauselens speed-up: {default_total / ours_there:.1f}x captum-default "
        f"({len(default_rows)} clauses); over {len(rows)} clauses, "
        f"{total['captum'] / total['ours']:.2f}x in total time and "
        f"{per_clause:.2f}x per clause (median) captum-fast")
    say(f"surrogate at 2x LOO budget: rho {acc['surrogate 2x']:.3f} vs shapley-sampling rho "
        f"{acc['shapley 2x']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
