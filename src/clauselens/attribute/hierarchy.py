"""Hierarchical leave-one-out: spans first, then words (then tokens) only where the mass is.

On a long clause most words matter little, and leave-one-out on every word or token costs one model
call each. AttriBoT (Liu et al. 2024) attributes coarse parts first and refines only those that carry
the attribution. Here the levels are the unit kinds of `clauselens.attribute.units`, `span -> word ->
token`, down to the configured unit (the leaves):

1. leave-one-out on every span (a span removed is all of its leaves removed);
2. every unit holding at least `hierarchical_mass` of the current total |score| and made of finer
   units is replaced by them, and they get leave-one-out scores (all other leaves present);
3. repeat until nothing is refined.

Scores are exact leave-one-out scores of the units reported (mixed kinds: a span that carried little
stays a span). With `hierarchical_mass = 0` every unit is refined, and the result is leave-one-out on
the leaves. A leaf that no coarser unit contains (a punctuation token) is its own unit at every level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clauselens.attribute.methods import MethodResult, ValueOfMasks
from clauselens.attribute.units import make_units, unit_kind
from clauselens.records import Unit

LEVELS = ("span", "word", "token")


@dataclass
class Node:
    unit: Unit
    leaves: list[int]
    level: int


def overlap(a: Unit, b: Unit) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def level_nodes(text: str, kind: str, level: int, leaves: list[Unit], tokenizer: object | None) -> list[Node]:
    """The units of one level, each with the leaves it holds (a leaf goes where it overlaps most)."""
    units = leaves if kind == unit_kind(leaves) else make_units(text, kind, tokenizer)
    held: list[list[int]] = [[] for _ in units]
    orphans: list[Node] = []
    for i, leaf in enumerate(leaves):
        shares = [overlap(u, leaf) for u in units]
        best = int(np.argmax(shares))
        if shares[best] > 0:
            held[best].append(i)
        else:
            orphans.append(Node(leaf, [i], level))
    nodes = [Node(u, h, level) for u, h in zip(units, held, strict=True) if h] + orphans
    return sorted(nodes, key=lambda node: node.unit.start)


def hierarchy_levels(text: str, leaves: list[Unit], tokenizer: object | None) -> list[list[Node]]:
    """Nodes of each level from spans down to the leaves' own kind."""
    kind = unit_kind(leaves)
    if kind == "span":
        raise ValueError("attribution.method = 'hierarchy' refines spans into words or tokens: "
                         "set attribution.unit to 'word' or 'token'")
    kinds = LEVELS[:LEVELS.index(kind) + 1]
    return [level_nodes(text, k, level, leaves, tokenizer) for level, k in enumerate(kinds)]


def leave_nodes_out(nodes: list[Node], n: int, value: ValueOfMasks) -> tuple[np.ndarray, np.ndarray]:
    """(v(all) (width,), per-node leave-one-out effects (width, len(nodes)))."""
    masks = np.ones((len(nodes) + 1, n), dtype=bool)
    for row, node in enumerate(nodes, start=1):
        masks[row, node.leaves] = False
    values = value(masks)
    return values[0], (values[0] - values[1:]).T


def children(levels: list[list[Node]], node: Node) -> list[Node]:
    """The next level's nodes that start inside `node` (whose first leaf it holds)."""
    return [c for c in levels[node.level + 1] if c.leaves[0] in node.leaves]


def settle(levels: list[list[Node]], node: Node) -> Node:
    """The finest node that is the same unit (same leaves and offsets): its score is the same, for free."""
    while node.level + 1 < len(levels):
        kids = children(levels, node)
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
    frontier = [settle(levels, node) for node in levels[0]]
    full, effects = leave_nodes_out(frontier, len(leaves), value)
    refined = 0
    while True:
        share = np.abs(effects.sum(axis=0))
        share = share / share.sum() if share.sum() > 0 else np.zeros_like(share)
        split = [k for k, node in enumerate(frontier) if share[k] >= mass and node.level + 1 < len(levels)]
        if not split:
            break
        new_nodes = [settle(levels, c) for k in split for c in children(levels, frontier[k])]
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
