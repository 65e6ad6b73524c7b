"""The ``modelyard`` command line: a thin front over registry and pipelines."""
