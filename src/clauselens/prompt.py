"""The prompt every stage shares: instruction, then the clause, then the start of the answer.

Training, generation and attribution must see the same text, and attribution must know exactly where
the clause sits inside it, so the prompt is built as three parts: `prefix + clause + suffix`. Only the
clause part is ever perturbed; the prefix is identical across perturbations (its KV cache is reused).
"""

from __future__ import annotations

from dataclasses import dataclass

from clauselens.records import Clause

INSTRUCTION = (
    "You are an expert Python programmer and a building-compliance engineer. Write a Python function "
    "named check_rule(model) that checks the building-regulation clause below against a building "
    "model, using the clauselens.rules API, and returns a list of Finding. Output only the function."
)
_CLAUSE_SLOT = "\x00CLAUSE\x00"


@dataclass(frozen=True)
class PromptParts:
    prefix: str  # instruction and clause header, never perturbed
    clause: str  # the clause text: what attribution perturbs
    suffix: str  # end of the user turn and start of the answer

    @property
    def text(self) -> str:
        return self.prefix + self.clause + self.suffix

    def with_clause(self, clause_text: str) -> PromptParts:
        return PromptParts(self.prefix, clause_text, self.suffix)


def clause_header(clause: Clause) -> str:
    title = f" - {clause.title}" if clause.title else ""
    return f"{clause.document} {clause.paragraph}{title}: "


def render_prompt(clause: Clause, tokenizer: object | None = None) -> PromptParts:
    """Build the prompt; uses the tokenizer's chat template when it has one."""
    user = f"{INSTRUCTION}\n\nClause: {clause_header(clause)}{_CLAUSE_SLOT}"
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if template:
        full = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )
    else:
        full = f"### Instruction\n{user}\n\n### Rule\n"
    prefix, suffix = full.split(_CLAUSE_SLOT)
    return PromptParts(prefix=prefix, clause=clause.text, suffix=suffix)


def prompt_token_ids(tokenizer: object, prompt_text: str) -> list[int]:
    """Token ids of a rendered prompt, exactly one BOS where the family uses one.

    Training, generation and attribution all tokenize prompts here, so they see one sequence. The
    tokenizer adds its special tokens (a plain prompt needs the BOS a Llama or Gemma model was trained
    with); a chat template (Llama 3, Gemma 3, Mistral) usually writes the BOS into the text as well,
    and a second BOS is a sequence the model never saw in training, so the duplicate is dropped.
    """
    ids: list[int] = tokenizer(prompt_text)["input_ids"]  # type: ignore[operator]
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and len(ids) > 1 and ids[0] == bos and ids[1] == bos:
        ids = ids[1:]
    return ids
