"""Drop the variables a conic problem's own bounds fix at zero, before the solver sees them.

The rebalance's problem is compiled once per shape (`strategies.index.rebalance`): every name
has `BUCKETS` sale variables and a buy variable, padded names fill the shape, and a bound of
zero is only a parameter's value. On a given day most of those variables can only be zero: a
name with one lot has three empty buckets (0 ≤ s ≤ 0), a locked-out name may not be bought
(0 ≤ u ≤ 0), a padded name may not trade (lo = t = hi = 0). An interior-point solver still
carries each of them, and their rows, through every iteration; on the S&P set they are more
than half the problem. Clarabel's own presolve only drops rows with infinite bounds.

`drop_fixed_zeros` takes the problem in the solver's form (cvxpy's problem data for Clarabel:
minimise ½xᵀPx + qᵀx subject to Ax + s = b, s in zero, nonnegative then second-order cones)
and removes each variable x_j that a singleton row fixes at zero, where

- a zero-cone row a·x_j = 0 (b = 0), or
- two nonnegative-cone rows a·x_j ≤ 0 with a > 0 and with a < 0 (b = 0 in both)

fix it, with those rows; a row left with no entry is dropped when its right-hand side holds
for any x (b = 0 in the zero cone, b ≥ 0 in the nonnegative cone, a zero component past the
head of a second-order cone). Removing a variable can fix another (y = σt with t fixed at
zero), so it repeats until nothing more is fixed. The problem left is equivalent: its optimum,
completed with the zeros, is the optimum of the whole (`Reduced.expand`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]
PASSES = 4  # a fixed variable fixes one through an equality at most a step or two on


@dataclass(frozen=True, slots=True)
class Solved:
    """A solver's answer completed to the whole problem (the attributes cvxpy's Clarabel
    interface reads back)."""

    x: Array
    z: Array
    s: Array
    status: Any
    obj_val: float
    solve_time: float
    iterations: int


@dataclass(frozen=True, slots=True)
class Reduced:
    """The problem data without the fixed variables, and where its rows and columns were."""

    data: dict[str, Any]
    columns: Index  # the whole problem's columns kept, in order
    rows: Index  # its rows kept, in order
    shape: tuple[int, int]  # the whole problem's A

    def expand(self, solution: Any) -> Solved:
        """Return `solution` of the reduced problem as one of the whole: the dropped variables
        and the slacks and duals of the dropped rows at zero."""
        m, n = self.shape
        x, z, s = np.zeros(n), np.zeros(m), np.zeros(m)
        if solution.x is not None:
            x[self.columns] = solution.x
        if solution.z is not None:
            z[self.rows] = solution.z
        if solution.s is not None:
            s[self.rows] = solution.s
        return Solved(
            x, z, s, solution.status, solution.obj_val, solution.solve_time, solution.iterations
        )


def drop_fixed_zeros(
    data: Mapping[str, Any], *, a: str, b: str, c: str, p: str, dims: str
) -> Reduced | None:
    """Return `data` (keys `a`, `b`, `c`, `p`, `dims` name its matrix, right-hand side,
    linear cost, quadratic cost and cone sizes) without the variables its bounds fix at zero;
    None when nothing is fixed or the cones are not only zero, nonnegative and second-order."""
    cones = data[dims]
    if cones.exp or cones.psd or cones.p3d or getattr(cones, "pnd", None):
        return None
    matrix = sparse.csr_matrix(data[a])
    rhs = np.asarray(data[b], dtype=float)
    m, n = matrix.shape
    zero, nonneg = int(cones.zero), int(cones.nonneg)
    row_of = np.repeat(np.arange(m), np.diff(matrix.indptr))
    live = np.ones(n, dtype=bool)
    for _ in range(PASSES):
        fixed = _fixed(matrix, row_of, rhs, live, zero, nonneg)
        if not fixed.any():
            break
        live &= ~fixed
    if live.all():
        return None
    columns = np.flatnonzero(live)
    keep = _rows_kept(matrix, row_of, rhs, live, zero, nonneg, [int(k) for k in cones.soc])
    if keep is None:
        return None
    rows = np.flatnonzero(keep)
    new_dims = copy.copy(cones)
    new_dims.zero = int(keep[:zero].sum())
    new_dims.nonneg = int(keep[zero : zero + nonneg].sum())
    head = zero + nonneg
    soc = []
    for k in cones.soc:
        soc.append(int(keep[head : head + k].sum()))
        head += k
    new_dims.soc = soc
    quad = data.get(p)
    reduced = dict(data)
    reduced[a] = matrix[rows][:, columns].tocsc()
    reduced[b] = rhs[rows]
    reduced[c] = np.asarray(data[c])[columns]
    if quad is not None:
        reduced[p] = sparse.csc_matrix(quad)[columns][:, columns].tocsc()
    reduced[dims] = new_dims
    return Reduced(reduced, columns, rows, (m, n))


def _fixed(
    matrix: sparse.csr_matrix, row_of: Index, rhs: Array, live: npt.NDArray[np.bool_],
    zero: int, nonneg: int,
) -> npt.NDArray[np.bool_]:  # fmt: skip
    """Return the live variables that a row with one live entry fixes at zero."""
    entry_live = live[matrix.indices] & (matrix.data != 0.0)
    count = np.bincount(row_of[entry_live], minlength=matrix.shape[0])
    single = (count == 1) & (rhs == 0.0)
    single[zero + nonneg :] = False
    at = entry_live & single[row_of]
    cols, vals, rws = matrix.indices[at], matrix.data[at], row_of[at]
    n = matrix.shape[1]
    pinned = np.zeros(n, dtype=bool)
    pinned[cols[rws < zero]] = True
    ineq = rws >= zero
    upper = np.zeros(n, dtype=bool)
    lower = np.zeros(n, dtype=bool)
    upper[cols[ineq & (vals > 0.0)]] = True
    lower[cols[ineq & (vals < 0.0)]] = True
    return (pinned | (upper & lower)) & live


def _rows_kept(
    matrix: sparse.csr_matrix, row_of: Index, rhs: Array, live: npt.NDArray[np.bool_],
    zero: int, nonneg: int, soc: list[int],
) -> npt.NDArray[np.bool_] | None:  # fmt: skip
    """Return which rows to keep once the variables not `live` are gone (None: a row left
    empty cannot hold, so the problem is infeasible and is better solved whole)."""
    m = matrix.shape[0]
    entry_live = live[matrix.indices] & (matrix.data != 0.0)
    empty = np.bincount(row_of[entry_live], minlength=m) == 0
    keep: npt.NDArray[np.bool_] = ~empty
    eq, ineq = slice(0, zero), slice(zero, zero + nonneg)
    if np.any(empty[eq] & (rhs[eq] != 0.0)) or np.any(empty[ineq] & (rhs[ineq] < 0.0)):
        return None
    head = zero + nonneg
    for k in soc:
        cone = slice(head, head + k)
        keep[cone] = ~empty[cone] | (rhs[cone] != 0.0)
        keep[head] = True  # the cone's head: the bound itself
        if k > 1 and keep[cone].sum() < 2:  # a cone of a head alone is no cone
            keep[head + 1] = True
        head += k
    return keep
