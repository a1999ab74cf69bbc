"""rnnlab.data."""
