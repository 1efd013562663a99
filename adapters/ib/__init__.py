"""Interactive Brokers through TWS or IB Gateway, with ib_async."""
