"""probe_model(): placeholder until the guard API lands (filled in below)."""
