"""Kept kittens: their short names, the line on their cards that names their parents with their
shares, and their family trees. Plain Python, like the visitor's rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from kitten_mixer.webapp.core import Cat, Parent, Resources

# How many generations a family tree shows: the kitten, its parents, their parents.
GENERATIONS = 3


def kept_name(number: int) -> str:
    """The short name of a visitor's kitten kept `number`-th: "#k1", "#k2"..."""
    return f"#k{number}"


def percents(shares: Sequence[float]) -> list[int]:
    """Whole percentages in proportion to the shares that add up to 100 (largest remainders),
    so "33% + 33% + 33%" never shows; all 0 gives all 0."""
    total = float(sum(shares))
    if total <= 0:
        return [0] * len(shares)
    exact = [100 * share / total for share in shares]
    whole = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: whole[i] - exact[i])
    for i in by_remainder[:100 - sum(whole)]:
        whole[i] += 1
    return whole


def parents_of(cats: Sequence[Cat], shares: Sequence[float]) -> tuple[Parent, ...]:
    """The parents of a kitten mixed from cats in these shares (in proportion): those with a
    share, in the order given."""
    total = float(sum(shares))
    return tuple(Parent(cat.key, cat.name, share / total)
                 for cat, share in zip(cats, shares) if share > 0)


def kept_kitten(resources: Resources, number: int, code: torch.Tensor,
                parents: tuple[Parent, ...], tuned: bool = False) -> Cat:
    """The kitten kept `number`-th, drawn from its code."""
    face = resources.mixer.decode(code)[0]
    return Cat(f"c:{number}", kept_name(number), code, face, "kept", parents, tuned)


def parents_line(cat: Cat, tuned: str) -> str:
    """What a kept kitten's card says of its parents: "60% 7078 + 40% 13660", one parent by its
    name, then `tuned` ("tuned" in the page's language) after a comma if it was tuned; "" for
    a cat without parents."""
    if not cat.parents:
        return ""
    if len(cat.parents) == 1:
        line = cat.parents[0].name
    else:
        shares = percents([parent.share for parent in cat.parents])
        line = " + ".join(f"{share}% {parent.name}"
                          for share, parent in zip(shares, cat.parents))
    return f"{line}, {tuned}" if cat.tuned else line


@dataclass(frozen=True)
class Relative:
    """A cat in a family tree, with its share (in whole percent) of its child in the tree (none
    for the root)."""

    cat: Cat
    percent: int = 100
    child: Cat | None = None


def family_tree(cat: Cat, lookup: Callable[[str], Cat | None],
                generations: int = GENERATIONS) -> list[list[Relative]]:
    """The cat, then its parents, then theirs...: one row per generation, up to `generations`
    rows, parents in the order of their children; cats without parents end their branch."""
    rows = [[Relative(cat)]]
    while len(rows) < generations:
        row = [Relative(parent_cat, percent, relative.cat) for relative in rows[-1]
               for parent, percent in zip(relative.cat.parents,
                                          percents([p.share for p in relative.cat.parents]))
               if (parent_cat := lookup(parent.key)) is not None]
        if not row:
            break
        rows.append(row)
    return rows
