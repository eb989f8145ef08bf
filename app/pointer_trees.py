"""Pointer trees over region numbers: the lowest node each is linked to, and depths by pointer doubling.

Pure numpy. The merge rounds (app/merging.py) name each group by its lowest
member with lowest_linked(), and after the exact rounds let only the
choosers at odd depth of their pointer trees merge, which halves every
chain per round.
"""

from __future__ import annotations

import numpy as np


def odd_depth(chooser: np.ndarray, choice: np.ndarray, size: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Which choosers merge: pointing only at larger regions, those at odd depth of the pointer trees."""
    upward = ~small[choice] | (size[chooser] < size[choice]) | (
        (size[chooser] == size[choice]) & (chooser < choice))
    nodes = np.unique(np.concatenate([chooser, choice]))
    tree = np.arange(len(nodes))
    tree[np.searchsorted(nodes, chooser[upward])] = np.searchsorted(nodes, choice[upward])
    return upward & (depth(tree)[np.searchsorted(nodes, chooser)] % 2 == 1)


def lowest_linked(nodes: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """For each of nodes 0..nodes-1, the lowest node it is linked to through the links first[i]-second[i].

    Each pass points every root at the lowest root it is linked to, then
    follows pointers until each node points at a root: pointers only ever go
    down, and a merge round's links (stars of merges, short chains of joins)
    settle in a pass or two. For a round's few hundred links this costs a
    tenth of a sparse matrix and scipy's connected_components, whose checks
    alone take most of a millisecond.
    """
    lowest = np.arange(nodes)
    while True:
        a, b = lowest[first], lowest[second]
        apart = np.flatnonzero(a != b)
        if not len(apart):
            return lowest
        a, b = a[apart], b[apart]
        np.minimum.at(lowest, np.maximum(a, b), np.minimum(a, b))
        while True:
            further = lowest[lowest]
            if np.array_equal(further, lowest):
                break
            lowest = further


def depth(parent: np.ndarray) -> np.ndarray:
    """Distance of every node to the root of its tree, by pointer doubling."""
    depth = (parent != np.arange(len(parent))).astype(np.int64)
    ancestor = parent
    while True:
        next_ancestor = ancestor[ancestor]
        if np.array_equal(next_ancestor, ancestor):
            return depth
        depth = depth + depth[ancestor]
        ancestor = next_ancestor
