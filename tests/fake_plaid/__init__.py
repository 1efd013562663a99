"""A fake Plaid API server for the tests (see `server`)."""
