"""Batch work on top of the registry: training, scoring and the demo job."""
