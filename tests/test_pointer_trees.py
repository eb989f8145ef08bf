"""Pointer trees: lowest_linked against scipy's connected components."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pointer_trees import lowest_linked


@settings(max_examples=60, deadline=None, database=None, print_blob=True)
@given(nodes=st.integers(1, 40), data=st.data())
def test_lowest_linked_names_each_node_by_the_lowest_of_its_scipy_component(nodes, data):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = data.draw(st.lists(st.tuples(st.integers(0, nodes - 1), st.integers(0, nodes - 1)), max_size=60))
    first = np.array([a for a, _ in links], dtype=np.intp)
    second = np.array([b for _, b in links], dtype=np.intp)
    _, component = connected_components(coo_matrix((np.ones(len(links)), (first, second)), shape=(nodes, nodes)),
                                        directed=False)
    lowest_of_component = {c: int(np.flatnonzero(component == c)[0]) for c in np.unique(component)}
    assert lowest_linked(nodes, first, second).tolist() == [lowest_of_component[c] for c in component]
