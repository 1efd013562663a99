"""Which securities are substantially identical, and which are outside §1091 (crypto)."""

from __future__ import annotations

from collections.abc import Iterable

_CRYPTO_QUOTES = ("-USD", "/USD", "-USDT", "/USDT", "-USDC", "/USDC")


class Identity:
    """Map each symbol to its substantially-identical group.

    A symbol is always identical to itself; user-declared groups (``[[identical]]``) join
    symbols, and groups that share a symbol merge (the relation is transitive). Symbols listed
    as crypto, or shaped like a crypto pair (``BTC-USD``, ``ETH/USD``), are digital assets.
    """

    def __init__(
        self,
        groups: Iterable[Iterable[str]] = (),
        crypto_symbols: Iterable[str] = (),
    ) -> None:
        parent: dict[str, str] = {}

        def find(s: str) -> str:
            root = s
            while parent.get(root, root) != root:
                root = parent[root]
            parent[s] = root
            return root

        for group in groups:
            members = [normalize_symbol(s) for s in group]
            for m in members:
                parent.setdefault(m, m)
            for m in members[1:]:
                a, b = find(members[0]), find(m)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        self._key = {s: find(s) for s in parent}
        self._crypto = frozenset(normalize_symbol(s) for s in crypto_symbols)

    def key(self, symbol: str) -> str:
        """Return the group key of `symbol` (the symbol itself when it is in no group)."""
        return self._key.get(symbol, symbol)

    def identical(self, a: str, b: str) -> bool:
        """Return whether `a` and `b` are substantially identical."""
        return self.key(a) == self.key(b)

    def members(self, symbol: str) -> frozenset[str]:
        """Return every declared symbol identical to `symbol`, itself included."""
        k = self.key(symbol)
        return frozenset({symbol} | {s for s, g in self._key.items() if g == k})

    def is_crypto(self, symbol: str) -> bool:
        """Return whether `symbol` is a digital asset (listed, or shaped like BTC-USD)."""
        return symbol in self._crypto or symbol.endswith(_CRYPTO_QUOTES)


def normalize_symbol(symbol: str) -> str:
    """Return the canonical spelling of a ticker: stripped and upper-case."""
    return symbol.strip().upper()
