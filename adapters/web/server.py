"""The loopback HTTP listener (aiohttp): `/metrics`, `/healthz`, `/readyz`, `/`, `POST /pause`."""
