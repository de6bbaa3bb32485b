"""Device simulators that speak the real protocols over a real broker or port (for the demo and tests)."""
