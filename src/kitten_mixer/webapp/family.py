"""Kept kittens' families: the line on their cards that names their parents with their shares,
and their family trees, which reach across visitors (a parent may be another visitor's kitten)
and show a deleted parent as withdrawn. Plain Python, like the visitor's rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kitten_mixer.webapp.core import Cat, Parent

# How many generations a family tree shows: the kitten, its parents, their parents.
GENERATIONS = 3


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


def parent_name(parent: Parent, unnamed: Mapping[str, str]) -> str:
    """A parent's name; one that is no cat to show (an upload, a withdrawn kitten) by its kind,
    as `unnamed` words it in the page's language."""
    return parent.name or unnamed.get(parent.kind, parent.kind)


def parents_line(cat: Cat, tuned: str, unnamed: Mapping[str, str] | None = None) -> str:
    """What a kept kitten's card says of its parents: "60% 7078 + 40% 13660", one parent by its
    name, then `tuned` ("tuned" in the page's language) after a comma if it was tuned; "" for
    a cat without parents."""
    if not cat.parents:
        return ""
    unnamed = unnamed or {}
    if len(cat.parents) == 1:
        line = parent_name(cat.parents[0], unnamed)
    else:
        shares = percents([parent.share for parent in cat.parents])
        line = " + ".join(f"{share}% {parent_name(parent, unnamed)}"
                          for share, parent in zip(shares, cat.parents))
    return f"{line}, {tuned}" if cat.tuned else line


@dataclass(frozen=True)
class Relative:
    """A cat in a family tree, with its share (in whole percent) of its child in the tree (none
    for the root). `cat` is None for a parent that cannot be shown: an uploaded photo (never
    stored), a withdrawn kitten, a gallery cat this server does not have; `parent` says which."""

    cat: Cat | None
    percent: int = 100
    child: Cat | None = None
    parent: Parent | None = None


def family_tree(cat: Cat, lookup: Callable[[str], Cat | None],
                generations: int = GENERATIONS) -> list[list[Relative]]:
    """The cat, then its parents, then theirs...: one row per generation, up to `generations`
    rows, parents in the order of their children; cats without parents, and parents that
    cannot be shown, end their branch."""
    rows = [[Relative(cat)]]
    while len(rows) < generations:
        row = [Relative(lookup(parent.key) if parent.key else None, percent, relative.cat,
                        parent)
               for relative in rows[-1] if relative.cat is not None
               for parent, percent in zip(relative.cat.parents,
                                          percents([p.share for p in relative.cat.parents]))]
        if not row:
            break
        rows.append(row)
    return rows
