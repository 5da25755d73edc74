"""What one line of an Approved Document text extraction is: the layout vocabulary of the extractor.

The text files are PDF extractions (see uk-approved-documents/NOTICE.md; Crown copyright, Open
Government Licence v3.0). Each printed line is one text line, usually followed by an empty line, and page
furniture (running headers and footers), diagram labels, table cells and margin tags are interleaved with
the paragraphs. These regular expressions name each kind of line so `clauselens.corpus.extract` can walk a
file as a small state machine. They were written by reading the files, and the tests pin the cases.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

# "1.12  Provide all means ...", "B12.12 A room ..." (margin tag B1 glued to 2.12), "A1.1 Where a mass ..."
PARA_START = re.compile(r"^(?P<id>[A-Z]?\d{1,2}\.\d{1,3}[a-e]?)\.?\s+(?P<text>[A-Z(‘'\"].*)$")
# a paragraph number alone on its line; the text follows on the next line
BARE_PARA_NUMBER = re.compile(r"^(?P<id>\d{1,2}\.\d{1,3})\.?$")
# "H2.  (1)  Any septic tank ..." - the statement of a requirement of Schedule 1
REQUIREMENT = re.compile(r"^(?P<part>[A-Z]\d{1,2})\.\s+(?:\(1\)\s+)?[A-Z]")
LIST_ITEM = re.compile(r"^(?:\(?[a-z]\)|[a-z]\.|\(?[ivx]{1,4}\)|[ivx]{1,4}\.|[•–-])\s+\S")
CAPTION = re.compile(r"^(?P<what>Diagram|Figure|Table|Graph)\s+[A-Z]?\d+(?:\.\d+)?[a-z]?\b\s*(?P<title>.*)$")
SEE_REFERENCE = re.compile(r"^(?:See|see) (?:para|paras|paragraph|paragraphs|Diagram|Table|Appendix)\b")
NOTE = re.compile(r"^NOTES?\s*[:.]", re.IGNORECASE)
# "For buildings other than dwellings", "In dwellings": who the following paragraphs apply to
APPLICABILITY = re.compile(
    r"^(?:For|In) (?!.*\b(?:should|must|shall|may|will|is|are)\b).{0,80}\b(?:buildings?|"
    r"dwellings?|dwellinghouses?|flats|premises|conversions?|homes)\b(?:[^,]*[^.;:,])?$"
)
PAGE_FURNITURE = re.compile(
    r"^(?:Building Regulations 2010"
    r"|(?:\d+\s+)?Approved Document .{0,60}\d{4} edition(?:\s+incorporating .*)?(?:\s+\d+)?"
    r"|Approved Docu|t [A-Z0-9]\b.{0,40}\d{4} edition|Page [ivxlc\d]+|\d{1,3}|[ivxlc]{1,5}"
    r"|Online version|ONLINE VERSION|Main index|Contents)$"
)
NAMES_DOCUMENT = re.compile(r"\bApproved Document [A-Z0-9]{1,2}\b")
# "B1Access lobbies", "M4(2)d.  Where ...": a margin tag for the requirement glued to the line
MARGIN_TAG = r"^{letter}\d{{1,2}}(?:\(\d\))?(?=[A-Z][a-z]|[a-z]\.\s|Table |Diagram )"

TERMINAL = re.compile(r"[.?!][)\"'’”]?$")
WORD = re.compile(r"[A-Za-z]+")


def strip_margin_tag(line: str, letter: str) -> str:
    """Drop a requirement tag ("B1", "M4(2)") that the extraction glued to the start of a line."""
    return re.sub(MARGIN_TAG.format(letter=re.escape(letter)), "", line) if letter.isalpha() else line


def is_terminal(line: str) -> bool:
    """Does the line end a sentence? A line that does not is continued by the next one."""
    return bool(TERMINAL.search(line.rstrip()))


def is_unfinished(line: str) -> bool:
    """Does the next line continue this one? Not after a full stop, nor after a colon (a list follows)."""
    return not is_terminal(line) and not line.rstrip().endswith(":")


def is_prose(line: str) -> bool:
    """A line of running text rather than a diagram label or table cell."""
    words = WORD.findall(line)
    return line[:1].isupper() and (len(words) >= 7 or (len(words) >= 4 and is_terminal(line)))


def is_title_like(line: str) -> bool:
    """Could the line be a heading: short, capitalised, no sentence punctuation, not a list or label."""
    words = WORD.findall(line)
    return (
        1 <= len(words) <= 12
        and len(line) <= 90
        and line[:1].isupper()
        and not re.search(r"[.;:,]$", line)
        and not re.search(r"\d\s*(?:mm|m|m2|kW|W|min|%)\b", line)
        and not LIST_ITEM.match(line)
        and not CAPTION.match(line)
        and not SEE_REFERENCE.match(line)
        and sum(c.isalpha() for c in line) >= 0.7 * len(line.replace(" ", ""))
    )


def running_headers(lines: Sequence[str], letter: str) -> set[str]:
    """Short repeated lines that are page furniture: running titles such as "Stairs and ladders K1".

    A line counts when it occurs at least three times in the file, is not a sentence, and either names the
    document ("... Approved Document J") or at least one occurrence is the neighbour (ignoring blank lines)
    of a line matching `PAGE_FURNITURE`. A title-like line ending in a requirement tag of the document
    ("Ramps K1") is a running title wherever it occurs.
    """
    tagged = re.compile(rf"^[A-Z][A-Za-z ,()]{{2,60}}\s{re.escape(letter)}\d{{1,2}}$")
    stripped = [s.strip() for s in lines if s.strip()]
    counts = Counter(stripped)
    found = {line for line in stripped if tagged.match(line)}
    for i, line in enumerate(stripped):
        if counts[line] < 3 or len(line) > 70 or is_terminal(line) or LIST_ITEM.match(line):
            continue
        if APPLICABILITY.match(line) or PARA_START.match(line):
            continue
        neighbours = stripped[max(0, i - 1) : i] + stripped[i + 1 : i + 2]
        if NAMES_DOCUMENT.search(line) or any(PAGE_FURNITURE.match(n) for n in neighbours):
            found.add(line)
    return found
