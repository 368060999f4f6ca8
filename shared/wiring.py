"""Composition root: builds the adapters and hands them to the services.

It is the only module besides the adapters, the CLI and the local stack that may construct
boto3 or Stripe clients (the import-linter contracts in ``pyproject.toml`` enforce that).
Wiring arrives with the first adapter; until then there is nothing to compose.
"""
