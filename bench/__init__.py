"""The Hausmeister benchmark (see bench/README.md)."""
