"""Where a generated `check_rule` function starts and ends, and the cleaned rule cut from raw output.

Both the stopping criterion (stop generating once the function is complete) and `clean_rule` (keep
only the function) use one rule, `check_rule_span`, so a generation is never cut at a place the
cleaner would read differently.

The rule. The function starts at the first line `def check_rule(` (at any indentation). It is
complete at the first of:

1. dedent: after an indented body, a line of code at or left of the `def` line's indentation
   (a new statement, a new `def`, a closing code fence, prose). Comment lines do not count
   (Python ignores them for indentation), and lines inside strings or brackets never count;
2. one-liner: for `def check_rule(model): return ...`, the next line of code;
3. two blank lines in a row after the body (PEP 8 separates top-level definitions by two; a
   single blank line inside a body is common and does not end it).

The function ends where that line (or the first of the two blank lines) begins. Python's own
`tokenize` decides what is code, comment, string and bracket; text that cannot be tokenised up to
that point (an unterminated triple-quoted string, an open bracket) is not complete yet.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

_DEF_LINE = re.compile(r"^[ \t]*def[ \t]+check_rule[ \t]*\(", re.MULTILINE)
_FENCED = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_IMPORT_LINE = re.compile(r"^(import|from)[ \t]+[A-Za-z_]")
_LAYOUT = {tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE}


def check_rule_span(text: str) -> tuple[int, int | None] | None:
    """`(start, end)` character offsets of the first `check_rule` definition in `text`.

    `end` is None while the function may still continue (see the module docstring for the rule);
    the result is None when `text` has no `def check_rule(` line.
    """
    match = _DEF_LINE.search(text)
    if match is None:
        return None
    start = match.start()
    src = text[start:]
    line_offsets = [0]
    for line in io.StringIO(src).readlines():  # the same lines tokenize reads
        line_offsets.append(line_offsets[-1] + len(line))

    def offset(row: int, col: int) -> int:
        return line_offsets[row - 1] + col if row - 1 < len(line_offsets) else len(src)

    def real_line_start(row: int, col: int) -> int | None:
        """Offset of a token that stands on a written line (not one tokenize invents at end of text)."""
        off = offset(row, col)
        return off if off < len(src) and not src[off].isspace() else None

    depth = 0
    def_depth: int | None = None
    header_done = body = False
    blank_run_start: int | None = None
    blank_run = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if def_depth is None:
                if tok.type == tokenize.INDENT:
                    depth += 1
                elif tok.type == tokenize.NAME and tok.string == "def":
                    def_depth = depth
                continue
            if tok.type == tokenize.INDENT:
                depth += 1
                body = body or (header_done and depth > def_depth)
            elif tok.type == tokenize.DEDENT:
                depth -= 1
                if body and depth <= def_depth:
                    end = real_line_start(*tok.start)
                    return start, None if end is None else start + end
            elif tok.type == tokenize.NEWLINE and not header_done:
                header_done = True
            elif tok.type == tokenize.NL and body and not tok.line.strip():
                if blank_run == 0:
                    blank_run_start = offset(tok.start[0], 0)
                blank_run += 1
                if blank_run >= 2:
                    return start, start + blank_run_start
                continue
            elif tok.type == tokenize.ENDMARKER:
                break
            elif header_done and not body and tok.type not in _LAYOUT:
                end = real_line_start(*tok.start)  # a one-liner, followed by the next line of code
                return start, None if end is None else start + end
            if tok.type != tokenize.NL:
                blank_run = 0
    except (tokenize.TokenError, SyntaxError):
        pass  # text ends inside a string or bracket, or stops being Python before the function ends
    return start, None


def clean_rule(raw: str) -> str:
    """The `check_rule` function, cut from a model's raw output.

    Code fences, chatter before and after, helper functions and any other code are dropped; an
    indented function is dedented. Import statements written before the function are kept (one per
    line, above it): the function needs them to run (`import math` is allowed in the sandbox), and
    they are one line each. Output without a `def check_rule(` keeps the first fenced code block (or
    the whole text when there is none), so that it can still be scored; `syntax_valid` then reports
    that it defines no `check_rule`.
    """
    span = check_rule_span(raw)
    if span is None:
        fenced = _FENCED.search(raw)
        return (fenced.group(1) if fenced else raw).strip()
    start, end = span
    code = raw[start:end]
    indent = code[: len(code) - len(code.lstrip(" \t"))]
    lines = [line.removeprefix(indent) for line in code.rstrip().splitlines()]
    while lines and lines[-1].strip().startswith("```"):
        lines.pop()  # an indented closing fence reads as part of the body
    return "\n".join([*_imports(raw[:start]), *lines]).rstrip()


def _imports(text: str) -> list[str]:
    """The lines of `text` that are import statements on their own, in order, without repeats."""
    found: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not _IMPORT_LINE.match(stripped) or stripped in found:
            continue
        try:
            tree = ast.parse(stripped)
        except SyntaxError:
            continue
        if all(isinstance(node, ast.Import | ast.ImportFrom) for node in tree.body):
            found.append(stripped)
    return found
