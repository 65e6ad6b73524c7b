"""A replica's request log in one process: what is compacted between flushes is written whole,
in order and with the contract's types, as if it had all been written at once."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bento_services.request_log import COMPACT_CALLS, RequestLog, RequestMeta
from registry.request_logs import filesystem, read_request_log
from registry.settings import Settings


def _log(tmp_path, **options) -> tuple[RequestLog, Settings]:
    settings = Settings(home=tmp_path / "home", request_log_root=str(tmp_path / "logs"))
    fs, _ = filesystem(settings.request_log_root, settings)
    log = RequestLog(root=str(tmp_path / "logs"), model_name="m", model_version=1, replica="r0", filesystem=fs,
                     columns=["input_count", "input_size", "output_prediction"], **options)
    return log, settings


def _meta(request_id: str, status: int = 200) -> RequestMeta:
    meta = RequestMeta(request_id, "/predict", time.time_ns(), time.perf_counter())
    meta.finish(status)
    meta.done = True
    return meta


def _score(log: RequestLog, first: int, calls: int) -> None:
    for call in range(first, first + calls):
        features = pd.DataFrame({"count": np.array([call, call], dtype=np.int64), "size": [0.5, 1.5]})
        log.scored(features, pd.DataFrame({"prediction": [call % 2, 1]}), [(_meta(f"s{call}"), 2)])


def test_compacted_entries_are_written_with_the_rest(tmp_path):
    log, settings = _log(tmp_path)
    log.refused(_meta("refused-first", 400))  # a table of a refused request alone: null features
    log.compact()
    _score(log, 0, 300)
    log.compact()
    _score(log, 300, 5)
    log.refused(_meta("refused-last", 422))

    written = log.flush()

    assert len(written) == 1 and log.flush() == []
    logged = read_request_log(settings, "m")
    assert len(logged) == 2 + 2 * 305
    assert logged["request_id"].tolist() == ["refused-first", *[f"s{c}" for c in range(305) for _ in (0, 1)],
                                             "refused-last"]
    scored = logged[logged["status"] == 200]
    assert scored["input_count"].tolist() == [c for c in range(305) for _ in (0, 1)]
    assert scored["row"].tolist() == [0, 1] * 305
    assert logged["input_count"].isna().tolist() == [True, *[False] * 610, True]
    assert str(logged["input_size"].dtype) == "float64" and logged["status"].tolist()[-1] == 422


def test_a_call_still_being_answered_is_compacted_later_with_its_final_status(tmp_path):
    log, settings = _log(tmp_path)
    _score(log, 0, 3)
    answering = RequestMeta("answering", "/predict", time.time_ns(), time.perf_counter())
    log.scored(pd.DataFrame({"count": [9], "size": [0.1]}), pd.DataFrame({"prediction": [1]}), [(answering, 1)])
    _score(log, 3, 2)
    log.compact()
    assert len(log._pending) == 3  # it and the calls after it wait
    answering.finish(500)
    answering.done = True
    log.compact()
    assert not log._pending
    log.flush()
    logged = read_request_log(settings, "m")
    assert logged["request_id"].tolist() == [*[f"s{c}" for c in range(3) for _ in (0, 1)], "answering",
                                             *[f"s{c}" for c in (3, 4) for _ in (0, 1)]]
    assert logged.loc[logged["request_id"] == "answering", "status"].tolist() == [500]


def test_the_flush_thread_compacts_between_flushes(tmp_path):
    """Held for the flush interval, thousands of small frames would reach Python's oldest generation
    and trigger full collections: the thread turns them into a table every COMPACT_CALLS calls."""
    log, settings = _log(tmp_path, flush_seconds=60.0)
    log.start()
    try:
        _score(log, 0, COMPACT_CALLS)
        deadline = time.monotonic() + 10
        while (log._pending or not log._compacted) and time.monotonic() < deadline:  # taken, then built
            time.sleep(0.05)
        assert not log._pending and len(log._compacted) == 1
        assert read_request_log(settings, "m").empty  # compacted, not written before its interval
    finally:
        log.close()
    assert read_request_log(settings, "m")["request_id"].nunique() == COMPACT_CALLS


def test_calls_of_mixed_types_keep_each_columns_type_and_nulls(tmp_path):
    """Text and numbers in one frame (the general path), a missing value, string classes beside
    probabilities, and a refused request whose features are null in the same file."""
    settings = Settings(home=tmp_path / "home", request_log_root=str(tmp_path / "logs"))
    fs, _ = filesystem(settings.request_log_root, settings)
    log = RequestLog(root=str(tmp_path / "logs"), model_name="m", model_version=1, replica="r0", filesystem=fs,
                     columns=["input_city", "input_count", "input_size", "output_prediction", "output_p_yes"],
                     string_columns={"input_city", "output_prediction"})
    for call in range(3):
        features = pd.DataFrame({"city": ["Oslo", None], "count": np.array([call, 7], dtype=np.int64),
                                 "size": [np.nan, 1.5]})
        outputs = pd.DataFrame({"prediction": ["yes", "no"], "p_yes": [0.9, 0.2]})
        log.scored(features, outputs, [(_meta(f"a{call}"), 1), (_meta(f"b{call}"), 1)])
    log.refused(_meta("refused", 422))
    log.flush()

    logged = read_request_log(settings, "m")
    assert logged["request_id"].tolist() == ["a0", "b0", "a1", "b1", "a2", "b2", "refused"]
    assert logged["row"].tolist() == [0] * 7
    assert logged["input_city"].isna().tolist() == [False, True] * 3 + [True]
    assert logged["input_city"].tolist()[0] == "Oslo" and logged["input_count"].tolist()[:6] == [0, 7, 1, 7, 2, 7]
    assert logged["input_size"].isna().tolist() == [True, False] * 3 + [True]
    assert logged["output_prediction"].tolist()[:6] == ["yes", "no"] * 3 and logged["output_prediction"].isna().iloc[6]
    assert logged["status"].tolist() == [200] * 6 + [422] and logged["replica"].unique().tolist() == ["r0"]
