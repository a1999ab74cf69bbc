"""rnnlab.reference."""
