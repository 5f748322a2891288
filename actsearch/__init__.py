"""actsearch: find the best activation function configuration for a CNN and task."""

__version__ = "0.1.0"
