"""Composition root: reads settings, builds adapters and services, wires the web app."""
