"""rnnlab.cli."""
