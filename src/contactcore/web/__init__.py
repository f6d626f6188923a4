"""Web layer: thin aiohttp handlers, health and metrics, pages, WebSockets."""
