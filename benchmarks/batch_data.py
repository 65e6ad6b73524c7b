"""The batch benchmark's data set and models: N rows x 20 float features drawn from a fixed law,
the label a known function of them; a RandomForest and a LogisticRegression fitted on a sample of
the same law and registered in the benchmark's throwaway home. ``online_serving.py`` uses them too.
"""

from __future__ import annotations

from pathlib import Path

FEATURES = [f"f{index:02d}" for index in range(20)]
KEY = "row_id"
SEED = 20260303
TRAIN_STREAM, VALID_STREAM = 1_000_001, 1_000_002
MODEL_KINDS = {"rf": "RandomForestClassifier", "lr": "LogisticRegression"}


def _feature_law():
    """Fixed means, scales and label weights: the same data set for every run and machine."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    return rng.uniform(-5, 5, 20), rng.uniform(0.5, 3.0, 20), rng.normal(0, 1, 10)


def make_rows(rows: int, stream: int, with_label: bool = False):
    """``rows`` feature rows from random stream ``stream``; the label is a known function of them."""
    import numpy as np
    import pandas as pd

    means, scales, weights = _feature_law()
    rng = np.random.default_rng([SEED, stream])
    z = rng.standard_normal((rows, len(FEATURES)))
    frame = pd.DataFrame(means + scales * z, columns=FEATURES)
    if not with_label:
        return frame, None
    score = (z[:, :10] @ weights + 1.2 * z[:, 0] * z[:, 1] - 0.8 * np.abs(z[:, 2])
             + 0.6 * np.sin(2 * z[:, 3]) + rng.normal(0, 0.5, rows))
    return frame, pd.Series((score > 0).astype("int64"), name="label")


def write_dataset(folder: Path, rows: int, rows_per_file: int) -> list[Path]:
    """Parquet files of ``rows_per_file`` rows (one Dask partition each) with a ``row_id`` key."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    files = []
    for index, start in enumerate(range(0, rows, rows_per_file)):
        count = min(rows_per_file, rows - start)
        features, _ = make_rows(count, index)
        table = pa.Table.from_pandas(features, preserve_index=False)
        table = table.add_column(0, KEY, pa.array(np.arange(start, start + count, dtype="int64")))
        files.append(folder / f"part-{index:05d}.parquet")
        pq.write_table(table, files[-1])
    return files


def write_csv_copy(files: list[Path], target: Path, rows: int) -> int:
    """The first ``rows`` rows, features only, as one CSV (what ``mlflow models predict`` reads)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    written = 0
    with pacsv.CSVWriter(target, pq.read_schema(files[0]).remove(0)) as writer:
        for path in files:
            if written >= rows:
                break
            table = pq.read_table(path, columns=FEATURES).slice(0, rows - written)
            writer.write_table(table)
            written += table.num_rows
    return written


def _estimator(kind: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "rf":
        return RandomForestClassifier(n_estimators=50, max_depth=8, n_jobs=1, random_state=SEED)
    return LogisticRegression(max_iter=1000)


def register_model(kind: str, train_rows: int, settings, name: str | None = None) -> str:
    """Fit one model on a sample of the same law and register it (as ``bench_<kind>`` unless
    ``name`` is given) with training and validation sets."""
    import skops.io

    from registry.card import ModelCard
    from registry.registration import Dataset, ModelPackage, register_package

    x_train, y_train = make_rows(train_rows, TRAIN_STREAM, with_label=True)
    x_valid, y_valid = make_rows(max(train_rows // 4, 1000), VALID_STREAM, with_label=True)
    estimator = _estimator(kind).fit(x_train, y_train)
    card = ModelCard(
        flavor="sklearn", task="classification", feature_names=FEATURES,
        classes=[int(label) for label in estimator.classes_], target="label", origin="trained",
        source="benchmarks/batch_scoring.py synthetic data",
        pipeline_steps=[f"generate {train_rows} rows x 20 features (seed {SEED})", f"fit {MODEL_KINDS[kind]}"],
    )
    version = register_package(ModelPackage(
        name=name or f"bench_{kind}", native=estimator, card=card,
        params={"estimator": MODEL_KINDS[kind], **estimator.get_params()},
        training=Dataset("synthetic-train", x_train, y_train, card.source),
        validation=Dataset("synthetic-validation", x_valid, y_valid, card.source),
        trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
    ), settings=settings)
    print(f"registered {version.ref}: validation roc_auc {version.metrics.get('validation_roc_auc', 0):.3f}",
          flush=True)
    return version.ref
