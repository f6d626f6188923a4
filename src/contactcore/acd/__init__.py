"""Routing engine (ACD): tasks, queues, agents with one presence, atomic matching."""
