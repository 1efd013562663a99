"""Direct indexing: the index target, its risk model, and tax-aware trading toward it.

Pure decisions over the ledger, prices and a clock (no I/O): `target` (the weights to hold),
`returns` and `risk` (a shrunk covariance from daily returns, never looking ahead), `replacements`
(which stocks replace a harvested one), `book` and `rebalance` (the tax-aware optimisation),
`lot_choice` (which lots a sale relieves).
"""
