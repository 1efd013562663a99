"""The Alpaca broker adapter: `broker.AlpacaBroker` (see README.md in this folder)."""
