"""Graph transformations."""
