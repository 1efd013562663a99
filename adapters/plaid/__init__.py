"""Plaid investment accounts (plaid-python): outside purchases for the wash guard."""
