"""The pure tax-lot domain: lots, lot relief, the wash-sale rule and tax reports.

No I/O, no asyncio, `Decimal` only. Everything else in tlh depends on this package; it depends
on nothing of ours.
"""
