"""Leave-one-out word attribution: clauselens vs captum, same model, clauses, units, baseline and target.

One process, one run. The model is a Llama-shaped causal LM of about 20M parameters (random init,
seeded) with a byte-level BPE tokenizer trained here on the bundled corpus. The clauses are real
numbered paragraphs of the UK Approved Documents (30+ words), inside the real prompt template
(`clauselens.prompt.render_prompt`); each target is the model's own greedy output (60 tokens).

Three implementations attribute the teacher-forced log-probability of that output to the clause's words,
each word deleted (with its trailing whitespace) in turn:

- captum `LLMAttribution(FeatureAblation)` over a `TextTemplateInput` whose segments are exactly our
  word units, default mode (`forward_in_tokens=True`: the output is re-decoded token by token; see below
  for its KV cache);
- the same with `forward_in_tokens=False` (captum's fastest: one full forward pass per perturbation);
- `clauselens.attribute.attribute_clause` (method loo, target logprob, perturbation delete, unit word),
  with a fresh evaluation cache on every call so nothing is reused between repeats.

The three must agree within 1e-3 on every score. Timings are per clause; clauselens and captum-fast are
repeated (interleaved, so contention from other users of the CPU hits both alike) and the median is
taken; captum's default mode is slow enough to run once per clause.

With transformers 5.x (5.24 here), captum 0.9's default mode with its own default
`use_cached_outputs=True` is broken: `prepare_inputs_for_generation` no longer trims `input_ids` unless
told the new length, so every decoding step feeds the whole sequence again on top of the cache. The
log-probabilities of every output token after the first come out wrong (off by tens of nats in sum), and
each perturbation takes about 50 s on this shared CPU. The benchmark therefore runs captum's
token-by-token mode with `use_cached_outputs=False` (correct values, and faster than the broken cached
path); `--captum-cache` restores captum's own default to show the failure.

Even so, token-by-token decoding costs minutes per clause on a shared 2-core CPU. `--captum-default
single` (the default) keeps the run short: one seeded word is captum's only feature (the other words
are fixed text), so captum runs exactly the two forward calls FeatureAblation makes for one word
(unperturbed, that word deleted); the time is scaled to the n + 1 calls of a full run, and captum's
score for that word is checked against clauselens's. `--default-clauses K` runs captum's default mode
on the first K clauses only (the ratio to it is then taken over those K clauses);
`--captum-default full --default-clauses 10` is the complete comparison. Run:

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


def build_model(vocab_size: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=512, intermediate_size=1408, num_hidden_layers=6,
                         num_attention_heads=8, num_key_value_heads=8, tie_word_embeddings=True,
                         max_position_embeddings=1024, initializer_range=0.05)
    return LlamaForCausalLM(config).eval()


def greedy_output(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, prompt: str, n_tokens: int) -> str:
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_tokens,
                             min_new_tokens=n_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids.shape[1]:])


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

    def only(self, index: int) -> Segments:
        """The same prompt with word `index` as the only feature; the other words are fixed text."""
        pairs = [f + v for f, v in zip(self.fixed, self.values, strict=True)]
        before = "".join(pairs[:index]) + self.fixed[index]
        return Segments(self.prefix, [before], [self.values[index]], "".join(pairs[index + 1:]) + self.tail,
                        self.suffix)

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


def bench_clause(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, clause: Clause,
                 args: argparse.Namespace, cfg: AttributionConfig, seed: int,
                 with_default: bool) -> dict[str, float]:
    """Time clauselens, captum-fast and (`with_default`) captum-default on one clause; scores must agree."""
    parts = render_prompt(clause, tok)
    target = greedy_output(model, tok, parts.text, args.output_tokens)
    units = word_units(clause.text)
    segments = Segments.of_words(parts.prefix, clause.text, units, parts.suffix)
    inp = segments.captum_input()
    for i in range(len(units)):  # captum perturbs exactly what clauselens perturbs
        keep = torch.ones(1, len(units), dtype=torch.long)
        keep[0, i] = 0
        assert inp.to_model_input(keep) == parts.with_clause(perturb(clause.text, units, [i], "delete")).text
    captum = LLMAttribution(FeatureAblation(model), tok)
    sampled = int(np.random.default_rng(seed).integers(len(units)))
    default = partial(captum_scores, captum, target=target, use_cached_outputs=args.captum_cache)
    t_default, s_default = float("nan"), np.zeros(0)
    if with_default and args.captum_default == "full":
        t_default, s_default = timed(partial(default, inp))
    elif with_default:
        t_default, s_default = timed(partial(default, segments.only(sampled).captum_input()))
        t_default *= (len(units) + 1) / 2
    fast_times, our_times = [], []
    for _ in range(args.repeats):  # interleaved, so contention hits both alike
        t, s_fast = timed(partial(captum_scores, captum, inp, target, forward_in_tokens=False))
        fast_times.append(t)
        t, s_ours = timed(partial(clauselens_scores, model, tok, clause, target, cfg))
        our_times.append(t)
    reference = s_ours if args.captum_default == "full" else s_ours[[sampled]]
    d_default = float(np.abs(s_default - reference).max()) if len(s_default) else float("nan")
    n_tokens = len(tok(parts.text)["input_ids"]) + len(tok(target, add_special_tokens=False)["input_ids"])
    return {
        "words": len(units), "tokens": n_tokens, "default": t_default,
        "fast": statistics.median(fast_times), "ours": statistics.median(our_times),
        "fast_spread": max(fast_times) - min(fast_times), "ours_spread": max(our_times) - min(our_times),
        "d_default": d_default,
        "d_fast": float(np.abs(s_fast - s_ours).max()),
        "max_score": float(np.abs(s_ours).max()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clauses", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of clauselens and captum-fast")
    parser.add_argument("--captum-default", choices=["full", "single"], default="single",
                        help="captum default mode on every word (full) or on one seeded word per clause")
    parser.add_argument("--default-clauses", type=int, default=2,
                        help="run captum's default mode on the first K clauses only")
    parser.add_argument("--captum-cache", action="store_true",
                        help="captum default mode with its own KV-cache path (wrong on transformers 5.x)")
    parser.add_argument("--output-tokens", type=int, default=60)
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
    model = build_model(len(tok), seed=0)
    clauses = real_clauses(args.clauses)
    cfg = AttributionConfig(unit="word", perturbation="delete", method="loo", target="logprob")
    load = os.getloadavg()
    say(f"model: Llama {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters (hidden 512, "
        f"6 layers, vocab {len(tok)}), fp32, random init seed 0; torch {torch.__version__}, transformers "
        f"{transformers.__version__}, captum {captum_version}; {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs")
    say(f"clauselens: loo / logprob / delete / word units, batch_size {cfg.batch_size}; "
        f"{args.repeats} interleaved repeats of captum-fast and clauselens per clause, medians")
    say(f"captum-default: forward_in_tokens=True, use_cached_outputs={args.captum_cache}"
        + ("" if args.captum_cache else " (its cached path is wrong on transformers 5.x: see the docstring)"))
    if args.captum_default == "single":
        say("captum-default: timed on one seeded word per clause (2 forward calls: unperturbed, that word "
            "deleted), scaled by (words + 1) / 2; agreement checked on that word")
    say(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say("clause | words | prompt+output tokens | captum-default s | captum-fast s (spread) | "
        "clauselens s (spread) | fast/clauselens | max|diff| default, fast | max|score|")
    rows = []
    for i, clause in enumerate(clauses):
        r = bench_clause(model, tok, clause, args, cfg, seed=i, with_default=i < args.default_clauses)
        rows.append(r)
        say(f"{clause.clause_id} | {r['words']} | {r['tokens']} | {r['default']:.1f} | {r['fast']:.2f} "
            f"({r['fast_spread']:.2f}) | {r['ours']:.2f} ({r['ours_spread']:.2f}) | "
            f"{r['fast'] / r['ours']:.2f}x | {r['d_default']:.1e}, "
            f"{r['d_fast']:.1e} | {r['max_score']:.2f}")
    load = os.getloadavg()
    say(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (the cores are shared)")
    worst = float(np.nanmax([[r["d_default"], r["d_fast"]] for r in rows]))
    agree = worst <= TOLERANCE
    verdict = "within" if agree else "OUTSIDE"
    say(f"agreement: max |score difference| = {worst:.2e} ({verdict} {TOLERANCE:g}); "
        f"largest |score| {max(r['max_score'] for r in rows):.2f}")
    total = {k: sum(r[k] for r in rows) for k in ("fast", "ours")}
    with_default = [r for r in rows if not np.isnan(r["default"])]
    default_total = sum(r["default"] for r in with_default)
    ours_there = sum(r["ours"] for r in with_default)
    n_default = len(with_default)
    say(f"totals over {len(rows)} clauses: captum-fast {total['fast']:.2f} s, clauselens "
        f"{total['ours']:.2f} s; over the {n_default} clauses with captum-default: captum-default "
        f"{default_total:.1f} s, clauselens {ours_there:.2f} s")
    per_clause = statistics.median(r["fast"] / r["ours"] for r in rows)
    say(f"clauselens speed-up: {default_total / ours_there:.1f}x captum-default ({n_default} clauses); "
        f"over {len(rows)} clauses, {total['fast'] / total['ours']:.2f}x in total time and "
        f"{per_clause:.2f}x per clause (median) captum-fast")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
