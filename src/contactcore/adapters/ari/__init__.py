"""Asterisk REST Interface: REST client, event WebSocket, per-channel dispatch."""
