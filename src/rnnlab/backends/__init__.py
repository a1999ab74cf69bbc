"""rnnlab.backends."""
