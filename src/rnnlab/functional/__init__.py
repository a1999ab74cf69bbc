"""rnnlab.functional."""
