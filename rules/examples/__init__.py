"""Example rules with their scenarios, shipped with the hub (`hausmeister rules test` runs them)."""
