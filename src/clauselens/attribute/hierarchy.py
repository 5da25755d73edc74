"""Hierarchical leave-one-out: chunks, then spans, then words (then tokens) only where the mass is.

On a long clause most words matter little, and leave-one-out on every word or token costs one model
call each. AttriBoT (Liu et al. 2024) attributes coarse parts first and refines only those that carry
the attribution. Here the levels are `chunk -> span -> word -> token`, down to the configured unit
(the leaves): a chunk is a stretch of the clause between punctuation (`, ; : ( )`, sentence ends), a
span a semantic span of `clauselens.attribute.units` (or a word outside any span).

1. leave-one-out on every chunk (a unit removed is all of its leaves removed);
2. every unit holding at least `hierarchical_mass` of the current total |score| and made of finer
   units is replaced by them, and they get leave-one-out scores (all other leaves present);
3. repeat until nothing is refined.

Scores are exact leave-one-out scores of the units reported (mixed kinds: a chunk that carried little
stays a chunk, reported as a span with `span_type = "chunk"`). With `hierarchical_mass = 0` every unit
is refined, and the result is leave-one-out on the leaves. A unit that is also its only child (a
one-word chunk) moves down for free. A leaf that no coarser unit contains (a punctuation token) is its
own unit at every level. The leaves' absent forms are used throughout (a chunk removed is its words
removed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from clauselens.attribute.methods import MethodResult, ValueOfMasks
from clauselens.attribute.units import make_units, unit_kind, word_units
from clauselens.records import Unit

LEVELS = ("chunk", "span", "word", "token")
# A chunk: text between , ; : ( ) and sentence-ending full stops ("." or ":" inside "2.5", "1:12" stay).
CHUNK_RE = re.compile(r"(?:[^,;:.()]|[.:](?=\d))+")


@dataclass
class Node:
    unit: Unit
    leaves: list[int]
    level: int
    children: list[Node] = field(default_factory=list)


def chunk_units(text: str) -> list[Unit]:
    """Stretches of the clause between punctuation, each holding at least one word."""
    out = []
    for m in CHUNK_RE.finditer(text):
        piece = m.group(0)
        start, end = m.start() + len(piece) - len(piece.lstrip()), m.start() + len(piece.rstrip())
        if word_units(text[start:end]):
            out.append(Unit(text=text[start:end], start=start, end=end, kind="span", span_type="chunk"))
    return out


def overlap(a: Unit, b: Unit) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def group(finer: list[Node], units: list[Unit], level: int) -> list[Node]:
    """Nodes of a coarser level: each finer node goes to the unit it overlaps most; a node that overlaps
    none (a punctuation token) stays itself, one level up."""
    held: list[list[Node]] = [[] for _ in units]
    nodes: list[Node] = []
    for node in finer:
        shares = [overlap(u, node.unit) for u in units]
        best = int(np.argmax(shares)) if units else 0
        if units and shares[best] > 0:
            held[best].append(node)
        else:
            nodes.append(Node(node.unit, node.leaves, level, [node]))
    nodes += [Node(u, sorted(i for c in kids for i in c.leaves), level, kids)
              for u, kids in zip(units, held, strict=True) if kids]
    return sorted(nodes, key=lambda node: node.unit.start)


def hierarchy_levels(text: str, leaves: list[Unit], tokenizer: object | None) -> list[list[Node]]:
    """Nodes of each level, from chunks down to the leaves' own kind; every node knows its children."""
    kind = unit_kind(leaves)
    if kind == "span":
        raise ValueError("attribution.method = 'hierarchy' refines spans into words or tokens: "
                         "set attribution.unit to 'word' or 'token'")
    kinds = LEVELS[:LEVELS.index(kind) + 1]
    levels = [[Node(leaf, [i], len(kinds) - 1) for i, leaf in enumerate(leaves)]]
    for level in range(len(kinds) - 2, -1, -1):
        units = chunk_units(text) if kinds[level] == "chunk" else make_units(text, kinds[level], tokenizer)
        levels.insert(0, group(levels[0], units, level))
    return levels


def leave_nodes_out(nodes: list[Node], n: int, value: ValueOfMasks) -> tuple[np.ndarray, np.ndarray]:
    """(v(all) (width,), per-node leave-one-out effects (width, len(nodes)))."""
    masks = np.ones((len(nodes) + 1, n), dtype=bool)
    for row, node in enumerate(nodes, start=1):
        masks[row, node.leaves] = False
    values = value(masks)
    return values[0], (values[0] - values[1:]).T


def settle(node: Node) -> Node:
    """The finest node that is the same unit (same leaves and offsets): its score is the same, for free."""
    while node.children:
        kids = node.children
        same = (len(kids) == 1 and kids[0].leaves == node.leaves
                and (kids[0].unit.start, kids[0].unit.end) == (node.unit.start, node.unit.end))
        if not same:
            break
        node = kids[0]
    return node


def hierarchical(text: str, leaves: list[Unit], value: ValueOfMasks, *, mass: float,
                 tokenizer: object | None = None) -> MethodResult:
    """Leave-one-out refined from spans to `leaves` where a unit's share of |score| is at least `mass`."""
    levels = hierarchy_levels(text, leaves, tokenizer)
    frontier = [settle(node) for node in levels[0]]
    full, effects = leave_nodes_out(frontier, len(leaves), value)
    refined = 0
    while True:
        share = np.abs(effects.sum(axis=0))
        share = share / share.sum() if share.sum() > 0 else np.zeros_like(share)
        split = [k for k, node in enumerate(frontier) if share[k] >= mass and node.children]
        if not split:
            break
        new_nodes = [settle(c) for k in split for c in frontier[k].children]
        _, new_effects = leave_nodes_out(new_nodes, len(leaves), value)
        refined += len(split)
        kept = [k for k in range(len(frontier)) if k not in split]
        frontier = [frontier[k] for k in kept] + new_nodes
        effects = np.concatenate([effects[:, kept], new_effects], axis=1)
        order = np.argsort([node.unit.start for node in frontier], kind="stable")
        frontier, effects = [frontier[k] for k in order], effects[:, order]
    options: dict[str, object] = {"hierarchical_mass": mass, "refined_units": refined,
                                  "levels": list(LEVELS[:len(levels)])}
    return MethodResult(effects.sum(axis=0), effects, full, None, options, [node.unit for node in frontier])
