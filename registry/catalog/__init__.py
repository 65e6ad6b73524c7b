"""The catalog: reading models and versions, their files, and the labels people set on them.

``reads`` lists models and versions and shows one in full; ``artifacts`` finds a version's files
(the one place that looks up where they live) and reads them; ``labels`` moves aliases and sets
descriptions, each recorded as an event.
"""

from registry.catalog.artifacts import (
    download_model_dir,
    input_example,
    model_id_of,
    plot_names,
    plot_png,
    read_card,
)
from registry.catalog.labels import AliasRemoved, move_alias, remove_alias, set_alias, set_description
from registry.catalog.reads import (
    DatasetInfo,
    ModelSummary,
    VersionDetail,
    VersionSummary,
    list_models,
    list_versions,
    run_metrics,
    show_version,
)

__all__ = [
    "AliasRemoved", "DatasetInfo", "ModelSummary", "VersionDetail", "VersionSummary", "download_model_dir",
    "input_example", "list_models", "list_versions", "model_id_of", "move_alias", "plot_names", "plot_png",
    "read_card", "remove_alias", "run_metrics", "set_alias", "set_description", "show_version",
]
