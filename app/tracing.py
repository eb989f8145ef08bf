"""Borders of an index map as polylines on the pixel grid, each shared border traced once.

Pure numpy. A border runs along pixel edges where the index changes (and
around the image). It is cut into pieces at junctions, where three or four
border edges meet; along a piece the two regions on either side stay the
same. Straight runs of edges become single segments, so a piece is the list
of its corners: exact, no pixel edge lost, none drawn twice.

Each piece serves twice: once as an outline, and once in the closed rings
that fill each color (even-odd), chained piece to piece at the junctions.
Neighbouring fills share the very same coordinates: no gap, no overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTSIDE = -1
_EAST, _SOUTH, _WEST, _NORTH = range(4)
_OPPOSITE = (_WEST, _NORTH, _EAST, _SOUTH)


@dataclass(frozen=True)
class Piece:
    """A border between two junctions (or a closed loop), as the grid points where it turns."""

    points: list[tuple[int, int]]  # (x, y) vertices of the pixel grid; first == last for a loop
    sides: tuple[int, int]  # the indices on either side (OUTSIDE beyond the image), smaller first


@dataclass(frozen=True)
class Borders:
    width: int
    height: int
    pieces: list[Piece]


def trace(indices: np.ndarray) -> Borders:
    """Every border of the index map, cut into pieces at junctions."""
    height, width = indices.shape
    values = indices.astype(np.int32)
    # Edges along grid row y between x and x+1, and along grid column x between y and y+1.
    across = np.ones((height + 1, width), dtype=bool)
    across[1:-1] = values[1:] != values[:-1]
    down = np.ones((height, width + 1), dtype=bool)
    down[:, 1:-1] = values[:, 1:] != values[:, :-1]
    columns = width + 1
    east = np.zeros((height + 1, columns), dtype=bool)
    east[:, :-1] = across
    west = np.zeros_like(east)
    west[:, 1:] = across
    south = np.zeros_like(east)
    south[:-1] = down
    north = np.zeros_like(east)
    north[1:] = down
    degree = east.astype(np.int8) + west + south + north
    straight = (degree == 2) & ((east & west) | (north & south))
    key = (degree > 0) & ~straight
    # Key points in row order; the next one along a row (resp. column) ends the straight
    # segment that starts east (south) of a key point.
    keys = np.flatnonzero(key)
    links = np.full((4, len(keys)), -1, dtype=np.int64)
    heads = np.flatnonzero(east.ravel()[keys])
    links[_EAST, heads] = heads + 1
    links[_WEST, heads + 1] = heads
    by_column = np.flatnonzero(key.T)  # (x, y) order; back to row-order vertex numbers, then key numbers
    by_column = np.searchsorted(keys, (by_column % (height + 1)) * columns + by_column // (height + 1))
    heads = np.flatnonzero(south.ravel()[keys[by_column]])
    links[_SOUTH, by_column[heads]] = by_column[heads + 1]
    links[_NORTH, by_column[heads + 1]] = by_column[heads]
    pieces = _walk(links, degree.ravel()[keys].tolist(), keys.tolist(), columns, values)
    return Borders(width=width, height=height, pieces=pieces)


def _walk(links: np.ndarray, degrees: list[int], keys: list[int], columns: int, values: np.ndarray) -> list[Piece]:
    """Chain segments into pieces: from each junction along each unused direction, then the loops left."""
    link = [links[d].tolist() for d in range(4)]
    used = [[False] * len(keys) for _ in range(4)]
    paths = []

    def follow(start: int, direction: int) -> list[int]:
        path = [keys[start]]
        here = start
        while True:
            used[direction][here] = True
            there = link[direction][here]
            used[_OPPOSITE[direction]][there] = True
            path.append(keys[there])
            if degrees[there] != 2 or there == start:
                return path
            direction = next(d for d in range(4) if d != _OPPOSITE[direction] and link[d][there] >= 0)
            here = there

    for start in range(len(keys)):
        if degrees[start] > 2:
            for direction in range(4):
                if link[direction][start] >= 0 and not used[direction][start]:
                    paths.append(follow(start, direction))
    for start in range(len(keys)):
        for direction in range(4):
            if link[direction][start] >= 0 and not used[direction][start]:
                paths.append(follow(start, direction))
    return [Piece(points=[(v % columns, v // columns) for v in path], sides=_sides(path[0], path[1], columns, values))
            for path in paths]


def _sides(first: int, second: int, columns: int, values: np.ndarray) -> tuple[int, int]:
    """The indices on either side of the segment first -> second."""
    height, width = values.shape
    (x0, y0), (x1, y1) = (first % columns, first // columns), (second % columns, second // columns)

    def at(y: int, x: int) -> int:
        return int(values[y, x]) if 0 <= y < height and 0 <= x < width else OUTSIDE

    if y0 == y1:  # horizontal: the pixels above and below its first edge
        x = min(x0, x1)
        pair = (at(y0 - 1, x), at(y0, x))
    else:
        y = min(y0, y1)
        pair = (at(y, x0 - 1), at(y, x0))
    return (min(pair), max(pair))


def rings(borders: Borders, index: int) -> list[list[tuple[int, int]]]:
    """Closed rings bounding every pixel of one index, chained from the pieces beside it.

    Around each junction an index's border has an even number of ends, so a
    walk from piece to piece always comes back to where it started.
    """
    own = [piece for piece in borders.pieces if index in piece.sides]
    at_point: dict[tuple[int, int], list[int]] = {}
    for number, piece in enumerate(own):
        at_point.setdefault(piece.points[0], []).append(number)
        at_point.setdefault(piece.points[-1], []).append(number)
    used = [False] * len(own)
    result = []
    for first in range(len(own)):
        if used[first]:
            continue
        ring = list(own[first].points)
        used[first] = True
        while ring[-1] != ring[0]:
            number = next(n for n in at_point[ring[-1]] if not used[n])
            used[number] = True
            points = own[number].points
            ring.extend(points[1:] if points[0] == ring[-1] else points[-2::-1])
        result.append(ring)
    return result


def path_data(polylines: list[list[tuple[int, int]]], closed: bool) -> str:
    """SVG path data: absolute start, then relative h/v steps (every segment is axis-aligned)."""
    parts = []
    for points in polylines:
        x, y = points[0]
        steps = [f"M{x} {y}"]
        for nx, ny in points[1:-1] if closed else points[1:]:
            steps.append(f"h{nx - x}" if ny == y else f"v{ny - y}")
            x, y = nx, ny
        if closed:
            steps.append("z")
        parts.append("".join(steps))
    return "".join(parts)
