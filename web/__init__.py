"""The web panel and REST/WebSocket API. Reads the hub; holds no state of its own."""
