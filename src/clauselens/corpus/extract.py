"""Turn Approved Document text files into numbered clauses, and say what was left out and why.

A clause is one numbered paragraph: its document (short name such as "K" or "B-vol1"), its paragraph
number (the rule identifier), the nearest preceding heading as its title, and its text with wrapped lines
joined. The walk over a file is a small state machine over classified lines (`clauselens.corpus.layout`):

- a paragraph starts at a numbered line and takes every following line that continues an unfinished
  sentence, every list item (a./b./(i)), and every further full sentence line on the same page;
- it stops at the next number, a heading, a caption, a note, or a short non-sentence line (a diagram label);
- unnumbered sentence lines after a paragraph are usually list items whose marker the extraction lost, so
  they are kept - unless the next paragraph number shows that a number is missing (1.7 followed by 1.9), in
  which case they are the lost paragraph and are dropped, because they cannot be given an identifier.

Everything not kept is counted by reason with examples in `Extraction.skipped` / `Extraction.examples`.
The source text is Crown copyright, Open Government Licence v3.0 (see uk-approved-documents/NOTICE.md).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clauselens.corpus import layout
from clauselens.corpus.ligatures import build_lexicon, repair_table, repair_text
from clauselens.records import Clause

ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0 "
    "(https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/). Text: Crown copyright, "
    "UK Approved Documents (Building Regulations 2010, England), via the CODE-ACCORD extraction."
)
MAX_EXAMPLES = 5
REFERENCE_END = re.compile(r"\b(?:paragraphs?|paras?|and|or|to|see|in|of|with)$")
FILE_NAME = re.compile(
    r"^(?:Approved_Doc(?:ument)?_|Doc_)(?P<part>[A-Z0-9])(?:_(?:vol|V|Volume)_?(?P<vol>\d))?$"
)


def document_name(path: str | Path) -> str:
    """Short document name from a file name: Approved_Document_B_vol_1.txt -> "B-vol1", Doc_A.txt -> "A"."""
    stem = Path(path).stem
    m = FILE_NAME.match(stem)
    if not m:
        return stem
    return m["part"] + (f"-vol{m['vol']}" if m["vol"] else "")


@dataclass
class Extraction:
    """Clauses plus an account of everything that was not made into a clause."""

    clauses: list[Clause] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # clause_id -> "file:line"
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count (lines, or paragraphs)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> "file:line: text"
    repaired_words: int = 0

    def skip(self, reason: str, where: str, text: str) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(f"{where}: {text[:120]}")

    def add(self, clause: Clause, where: str) -> bool:
        """Keep a clause unless its id is taken; returns whether it was kept."""
        if clause.clause_id in self.sources:
            return False
        self.clauses.append(clause)
        self.sources[clause.clause_id] = where
        return True

    def merge(self, other: Extraction, duplicate_reason: str) -> None:
        for clause in other.clauses:
            where = other.sources[clause.clause_id]
            if not self.add(clause, where):
                self.skip(
                    duplicate_reason, where, f"{clause.clause_id} (kept {self.sources[clause.clause_id]})"
                )
        for reason, count in other.skipped.items():
            self.skipped[reason] += count
            shown = self.examples.setdefault(reason, [])
            shown.extend(other.examples.get(reason, [])[: MAX_EXAMPLES - len(shown)])
        self.repaired_words += other.repaired_words

    def report(self) -> dict[str, Any]:
        """Counts and examples, ready to print or write as JSON."""
        per_doc = Counter(c.document for c in self.clauses)
        return {
            "clauses": len(self.clauses),
            "clauses_by_document": dict(sorted(per_doc.items())),
            "repaired_ligature_words": self.repaired_words,
            "skipped": dict(self.skipped.most_common()),
            "examples": {k: self.examples[k] for k, _ in self.skipped.most_common()},
            "attribution": ATTRIBUTION,
        }


@dataclass
class _Paragraph:
    pid: str
    part: str | None
    line: int
    title: str
    segments: list[list[str]]
    segment_lines: list[int]


# line kinds known by their opening words alone, tried in this order; a line none of them matches is "other"
_LINE_KINDS = (
    ("requirement", layout.REQUIREMENT),
    ("list", layout.LIST_ITEM),
    ("note", layout.NOTE),
    ("caption", layout.CAPTION),
    ("see", layout.SEE_REFERENCE),
    ("applicability", layout.APPLICABILITY),
)


def _tokens(lines: list[tuple[int, str]], headers: set[str]) -> list[tuple[int, str, str, str]]:
    """(line number, kind, text, paragraph id) for every non-empty line."""
    out: list[tuple[int, str, str, str]] = []
    for i, (n, s) in enumerate(lines):
        if layout.PAGE_FURNITURE.match(s) or s in headers:
            out.append((n, "furniture", s, ""))
        elif m := layout.PARA_START.match(s):
            out.append((n, "para", m["text"], m["id"]))
        elif (
            (m := layout.BARE_PARA_NUMBER.match(s))
            and i + 1 < len(lines)
            and layout.is_prose(lines[i + 1][1])
        ):
            out.append((n, "bare", "", m["id"]))
        else:
            out.append((n, next((kind for kind, rx in _LINE_KINDS if rx.match(s)), "other"), s, ""))
    # a bare number takes the next line as its first line of text; a bare caption ("Diagram 1.7") the next
    # line as its title
    merged: list[tuple[int, str, str, str]] = []
    for tok in out:
        if merged and merged[-1][1] == "bare":
            n, _, _, pid = merged.pop()
            tok = (n, "para", tok[2], pid)
        elif (
            merged
            and merged[-1][1] == "caption"
            and tok[1] in ("other", "applicability")
            and (m := layout.CAPTION.match(merged[-1][2]))
            and not m["title"]
        ):
            tok = (tok[0], "caption", tok[2], "")
        merged.append(tok)
    return merged


def _is_heading(tokens: list[tuple[int, str, str, str]], i: int) -> bool:
    """A title-like line followed (past furniture, applicability lines and other titles) by a paragraph."""
    if tokens[i][1] != "other" or not layout.is_title_like(tokens[i][2]):
        return False
    for _, kind, text, _ in tokens[i + 1 : i + 8]:
        if kind == "para":
            return True
        if kind in ("furniture", "applicability") or (kind == "other" and layout.is_title_like(text)):
            continue
        return False
    return False


def _title(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text.capitalize() if text.isupper() else text


def _section_number(pid: str) -> tuple[str, int, int] | None:
    m = re.match(r"^([A-Z]?)(\d+)\.(\d+)", pid)
    return (m[1], int(m[2]), int(m[3])) if m else None


def _follows(pid: str, nxt: str | None) -> bool:
    """Is `nxt` the paragraph right after `pid` (so nothing numbered was lost between them)?"""
    a, b = _section_number(pid), _section_number(nxt) if nxt else None
    if a is None or b is None or a[0] != b[0]:
        return False
    return b[1:] in ((a[1], a[2] + 1), (a[1] + 1, 1), (a[1] + 1, 0)) or (b[1:] == a[1:] and nxt != pid)


def _walk(tokens: list[tuple[int, str, str, str]], ex: Extraction, name: str) -> list[_Paragraph]:
    paras: list[_Paragraph] = []
    current: _Paragraph | None = None
    title, part, mode = "", None, ""
    unfinished = crossed = False
    for i, (n, kind, text, pid) in enumerate(tokens):
        where = f"{name}:{n}"
        if kind == "furniture":
            ex.skip("page furniture", where, text)
            crossed = current is not None
            continue
        if (
            kind == "para"
            and unfinished
            and current is not None
            and REFERENCE_END.search(current.segments[-1][-1])
        ):
            kind, text = "other", f"{pid} {text}"  # "... described in paragraph" / "2.21. It also ..."
        if kind == "para":
            current = _Paragraph(pid, part, n, title, [[text]], [n])
            paras.append(current)
            unfinished, crossed, mode = layout.is_unfinished(text), False, ""
            continue
        heading = _is_heading(tokens, i)
        if current is not None and not heading and kind != "requirement":
            if unfinished and kind in ("other", "list", "caption", "see", "applicability"):
                current.segments[-1].append(text)
                unfinished = layout.is_unfinished(text)
                continue
            if kind == "list":
                current.segments[-1].append(text)
                unfinished = layout.is_unfinished(text)
                continue
            if kind == "other" and layout.is_prose(text) and not crossed:
                current.segments.append([text])
                current.segment_lines.append(n)
                unfinished = layout.is_unfinished(text)
                continue
        current = None
        if heading:
            title, mode = _title(text), ""
        elif kind == "requirement":
            part, mode = text.split(".")[0], ""
            ex.skip("requirement statement", where, text)
        elif kind in ("caption", "note", "applicability"):
            reason = {
                "caption": "diagram or table caption",
                "note": "note",
                "applicability": "applicability line",
            }[kind]
            ex.skip(reason, where, text)
            if kind != "applicability":
                mode = "table or diagram text" if kind == "caption" else "note"
        elif mode == "note" and (kind == "list" or layout.is_prose(text)):
            ex.skip(mode, where, text)
        elif mode != "table or diagram text" and len(layout.WORD.findall(text)) >= 6:
            ex.skip("text outside numbered paragraphs", where, text)
        else:
            ex.skip("table or diagram text", where, text)
    return paras


def extract_clauses(path: str | Path, ligature_table: dict[str, str] | None = None) -> Extraction:
    """Clauses of one Approved Document text file.

    `ligature_table` (damaged word -> word) repairs dropped ligatures; by default it is learned from all
    `*.txt` files in the file's folder (`clauselens.corpus.ligatures`), since one file alone may have
    lost every "fi".
    """
    path = Path(path)
    if ligature_table is None:
        ligature_table = repair_table(
            build_lexicon(p.read_text(errors="replace") for p in path.parent.glob("*.txt"))
        )
    doc = document_name(path)
    raw = path.read_text(encoding="utf-8", errors="replace")
    lines = [
        (n, layout.strip_margin_tag(re.sub(r"\(cid:\d+\)", "", s).strip(), doc[0]))
        for n, s in enumerate(raw.splitlines(), start=1)
    ]
    lines = [(n, s) for n, s in lines if s]
    ex = Extraction()
    tokens = _tokens(lines, layout.running_headers([s for _, s in lines], doc[0]))
    paras = _walk(tokens, ex, path.name)
    parts_of: dict[str, set[str | None]] = {}
    for p in paras:
        parts_of.setdefault(p.pid, set()).add(p.part)
    qualify = any(len(parts) > 1 for parts in parts_of.values())  # numbering restarts per requirement (H)
    for i, p in enumerate(paras):
        nxt = paras[i + 1].pid if i + 1 < len(paras) else None
        keep = len(p.segments) if _follows(p.pid, nxt) else 1
        for seg, n in zip(p.segments[keep:], p.segment_lines[keep:], strict=True):
            ex.skip("unnumbered text after a gap in numbering", f"{path.name}:{n}", " ".join(seg))
        text = re.sub(r"\s+", " ", " ".join(" ".join(seg) for seg in p.segments[:keep])).strip()
        text, n_fixed = repair_text(text, ligature_table)
        title, _ = repair_text(p.title, ligature_table)
        paragraph = f"{p.part}-{p.pid}" if qualify and p.part else p.pid
        where = f"{path.name}:{p.line}"
        if len(layout.WORD.findall(text)) < 3:
            ex.skip("fragment with a paragraph number", where, text)
            continue
        clause = Clause(
            clause_id=f"{doc}:{paragraph}", document=doc, paragraph=paragraph, title=title, text=text
        )
        if ex.add(clause, where):
            ex.repaired_words += n_fixed
        else:
            ex.skip("duplicate paragraph number", where, f"{clause.clause_id}: {text}")
    return ex


LIST_MARKER = re.compile(r"(?:(?<=\s)|^)([a-z])\.\s+(?=[A-Za-z(])")


def list_items(clause: Clause) -> list[Clause]:
    """The lettered items of a clause as sub-clauses "1.15a", "1.15b", each with the paragraph's lead-in.

    The Approved Documents cite list items this way ("paragraph 3.15b"), so an item is a clause with a rule
    identifier of its own. Markers must run in order; one lost marker is tolerated (its text stays with the
    item before). Returns [] when the clause has fewer than two items.
    """
    markers: list[re.Match[str]] = []
    for m in LIST_MARKER.finditer(clause.text):
        previous = markers[-1][1] if markers else "`"
        if 1 <= ord(m[1]) - ord(previous) <= 2:
            markers.append(m)
    if len(markers) < 2:
        return []
    lead_in = clause.text[: markers[0].start()].strip()
    items = []
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(clause.text)
        paragraph = f"{clause.paragraph}{m[1]}"
        items.append(
            Clause(
                clause_id=f"{clause.document}:{paragraph}",
                document=clause.document,
                paragraph=paragraph,
                title=clause.title,
                text=f"{lead_in} {clause.text[m.start() : end].strip()}".strip(),
            )
        )
    return items


def extract_corpus(folder: str | Path) -> Extraction:
    """Clauses of every `*.txt` file in a folder, one entry per clause id.

    A document extracted twice (Approved_Doc_G.txt / Approved_Document_G.txt) is merged: the file that
    yields more clauses is kept whole and the other only adds paragraphs the first lacks; every paragraph
    it repeats is reported as a duplicate.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.txt files to extract")
    table = repair_table(build_lexicon(p.read_text(errors="replace") for p in files))
    per_file = {p: extract_clauses(p, table) for p in files}
    by_doc: dict[str, list[Path]] = {}
    for p in files:
        by_doc.setdefault(document_name(p), []).append(p)
    out = Extraction()
    for doc in sorted(by_doc, key=_document_order):
        ranked = sorted(by_doc[doc], key=lambda p: (-len(per_file[p].clauses), p.name))
        for p in ranked:
            out.merge(per_file[p], "duplicate from a second extraction of the document")
    return out


def _document_order(doc: str) -> tuple[int, str]:
    """Parts A..S first, then Approved Document 7."""
    return (doc[0].isdigit(), doc)
