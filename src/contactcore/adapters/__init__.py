"""Adapters to the outside world: ARI, Redis, the database."""
