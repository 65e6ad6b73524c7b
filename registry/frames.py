"""pandas settings for processes that build frames on several threads at once."""

from __future__ import annotations


def python_string_storage() -> None:
    """Keep text columns in Python objects rather than pyarrow arrays, for this process.

    pandas 3 builds ``str`` columns through pyarrow, and doing so on several threads of one
    process at once can crash the process: the Airflow api-server died with a segmentation fault
    in ``ArrowStringArray._from_sequence`` (a Models page request reading an input example while
    others were served; faulthandler's trace in PLATFORM_NOTES). The values and the Parquet
    written are the same either way; only where pandas keeps the text in memory changes.
    """
    import pandas as pd

    pd.set_option("mode.string_storage", "python")
