"""Build the `StatusSnapshot` from the ledger and the database: one function serves the running
daemon (status page, MQTT, gauges) and `tlh status`, so they always agree."""
