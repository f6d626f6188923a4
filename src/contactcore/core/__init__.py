"""Shared vocabulary: ids, domain events and ports. Standard library and pydantic only."""
