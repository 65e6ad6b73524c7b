"""The champion/challenger comparison on constructed logs whose every figure is known by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.challenges.compare import compare_versions
from registry.errors import InvalidFieldError

CLASSES = ["a", "b", "c"]


def _row(request_id, *, row=0, status=200, latency=1.0, **values):
    """One log row: ``x=...`` becomes ``input_x``, ``prediction=...`` / ``probability_a=...`` ``output_...``."""
    logged = {"request_id": request_id, "row": row, "received_at": pd.Timestamp("2026-01-01", tz="UTC"),
              "status": status, "latency_ms": latency, "error": None if status < 400 else "failed", "version": 1}
    for name, value in values.items():
        prefix = "output_" if name == "prediction" or name.startswith("probability_") else "input_"
        logged[f"{prefix}{name}"] = value
    return logged


def _probabilities(label, weights):
    """``weights`` is (own, b, rest): the label's probability, b's when b is not the label, the rest's."""
    own, b, rest = weights
    return {f"probability_{name}": own if name == label else (b if name == "b" else rest) for name in CLASSES}


def _classification_logs():
    """100 requests both answered: champion 'c' where i % 4, else 'a'; the challenger agrees except on
    the 10 rows with x > 0.9, where it says 'b'. Probabilities differ by 0.1 (max) where they agree,
    0.7 where they do not: mean of the per-row max (90 * 0.1 + 10 * 0.7) / 100 = 0.16, max 0.7."""
    champion, challenger = [], []
    for i in range(100):
        inputs = {"x": (i + 1) / 100, "z": float(i % 10), "colour": "red" if i % 2 else "blue"}
        ours = "c" if i % 4 else "a"
        theirs = "b" if inputs["x"] > 0.9 else ours
        champion.append(_row(f"r{i}", latency=i + 1, **inputs, prediction=ours,
                             **_probabilities(ours, (0.8, 0.1, 0.1))))
        weights = (0.8, 0.1, 0.1) if theirs != ours else (0.7, 0.2, 0.1)
        challenger.append(_row(f"r{i}", latency=2 * (i + 1), **inputs, prediction=theirs,
                               **_probabilities(theirs, weights)))
    champion += [_row("bad", status=422, latency=0.5), _row("boom1", status=500, latency=200),
                 _row("boom2", status=500, latency=300)]
    challenger += [_row("bad", status=422, latency=1), _row("boom1", status=500, latency=1000),
                   _row("solo", latency=7, x=0.5, z=1.0, colour="red", prediction="b",  # only the challenger logged it
                        **_probabilities("b", (0.8, 0.1, 0.1))),
                   _row("r5", latency=9999, x=0.06, z=5.0, colour="red", prediction="b",  # a second copy: first wins
                        **_probabilities("b", (0.8, 0.1, 0.1)))]
    return pd.DataFrame(champion), pd.DataFrame(challenger)


def _compare(champion, challenger, **options):
    options = {"task": "classification", "classes": CLASSES, "features": ["x", "z", "colour"]} | options
    return compare_versions(champion, challenger, **options)


def test_each_versions_traffic_is_counted_per_request_with_nearest_rank_latency():
    comparison = _compare(*_classification_logs())
    champion, challenger = comparison.champion, comparison.challenger
    # latencies 0.5, 1..100, 200, 300: rank ceil(0.5 * 103) = 52 is 51, rank ceil(0.99 * 103) = 102 is 200
    assert (champion.requests, champion.rows, champion.errors, champion.refused) == (103, 100, 2, 1)
    assert champion.error_rate == pytest.approx(2 / 103)
    assert (champion.p50_ms, champion.p99_ms) == (51.0, 200.0)
    # 1, 2, 4, 6, 7, 8, ..., 200, 1000 (the duplicate r5's 9999 is not its request's first row)
    assert (challenger.requests, challenger.rows, challenger.errors, challenger.refused) == (103, 102, 1, 1)
    assert challenger.error_rate == pytest.approx(1 / 103)
    assert (challenger.p50_ms, challenger.p99_ms) == (100.0, 200.0)


def test_only_rows_both_versions_scored_are_paired_the_first_copy_winning():
    comparison = _compare(*_classification_logs())
    assert (comparison.paired_rows, comparison.paired_requests) == (100, 100)  # not bad, boom1, solo
    assert comparison.agreement == pytest.approx(0.9)  # r5's second copy ('b') would disagree
    assert comparison.disagreements == 10


def test_probability_differences_and_the_disagreements_per_class():
    comparison = _compare(*_classification_logs())
    assert comparison.mean_probability_difference == pytest.approx(0.16)
    assert comparison.max_probability_difference == pytest.approx(0.7)
    # rows 90..99: i % 4 == 0 at 92 and 96 ('a'), the other 8 'c'
    assert [entry.model_dump() for entry in comparison.by_class] == [
        {"champion_label": "c", "rows": 75, "disagreements": 8, "share": pytest.approx(8 / 75),
         "challenger_labels": {"c": 67, "b": 8}},
        {"champion_label": "a", "rows": 25, "disagreements": 2, "share": pytest.approx(2 / 25),
         "challenger_labels": {"a": 23, "b": 2}},
    ]


def test_where_they_disagree_names_the_top_bin_of_x():
    comparison = _compare(*_classification_logs())
    x_bins = comparison.by_feature["x"]
    assert [bin_.rows for bin_ in x_bins] == [20] * 5
    assert [bin_.disagreements for bin_ in x_bins] == [0, 0, 0, 0, 10]
    (top,) = comparison.where_they_disagree  # z's and colour's bins disagree at the overall 10 %, not above
    assert top.feature == "x" and top.low < 0.9 and top.high == pytest.approx(1.0)
    assert (top.rows, top.disagreements, top.share) == (20, 10, pytest.approx(0.5))
    assert [(bin_.value, bin_.rows, bin_.disagreements) for bin_ in comparison.by_feature["colour"]] == [
        ("blue", 50, 5), ("red", 50, 5)]
    assert sum(bin_.rows for bin_ in comparison.by_feature["z"]) == 100


def test_without_probability_columns_the_probability_difference_is_none_with_a_note():
    champion, challenger = _classification_logs()
    probabilities = [column for column in champion.columns if column.startswith("output_probability_")]
    comparison = _compare(champion.drop(columns=probabilities), challenger.drop(columns=probabilities))
    assert comparison.mean_probability_difference is None and comparison.max_probability_difference is None
    assert comparison.agreement == pytest.approx(0.9)
    assert any("probability" in note for note in comparison.notes)


def _regression_logs():
    """25 requests of 2 rows (x = 0..49); the challenger adds 2 where x >= 40, so the mean |difference|
    is 10 * 2 / 50 = 0.4, the max 2."""
    champion = [_row(f"q{i // 2}", row=i % 2, latency=1, x=float(i), prediction=float(i)) for i in range(50)]
    challenger = [_row(f"q{i // 2}", row=i % 2, latency=1, x=float(i), prediction=float(i) + (2 if i >= 40 else 0))
                  for i in range(50)]
    return pd.DataFrame(champion), pd.DataFrame(challenger)


def test_regression_differences_correlation_and_where_they_differ():
    comparison = compare_versions(*_regression_logs(), task="regression", classes=None, features=["x"])
    assert (comparison.paired_rows, comparison.paired_requests) == (50, 25)
    assert comparison.mean_absolute_difference == pytest.approx(0.4)
    assert comparison.max_absolute_difference == pytest.approx(2.0)
    ours = np.arange(50.0)
    expected = np.corrcoef(ours, ours + np.where(ours >= 40, 2, 0))[0, 1]
    assert comparison.correlation == pytest.approx(expected)
    assert comparison.agreement is None and comparison.disagreements is None and comparison.by_class == []
    (top,) = comparison.where_they_disagree
    assert (top.feature, top.rows, top.mean_absolute_difference, top.high) == ("x", 10, pytest.approx(2.0), 49.0)
    assert 39 < top.low < 40 and top.share is None


def test_a_constant_prediction_has_no_correlation():
    champion, challenger = _regression_logs()
    comparison = compare_versions(champion.assign(output_prediction=3.0), challenger, task="regression",
                                  classes=None, features=["x"])
    assert comparison.correlation is None and any("correlation" in note for note in comparison.notes)


def _labelled_logs(champion_wrong, challenger_wrong):
    """100 binary rows; the truth 'yes' on odd rows, each version flipping it on the rows given."""
    truth = ["yes" if i % 2 else "no" for i in range(100)]
    flip = {"yes": "no", "no": "yes"}

    def logs(wrong):
        labels = [flip[label] if i in wrong else label for i, label in enumerate(truth)]
        return pd.DataFrame([_row(f"r{i}", x=float(i), prediction=label, probability_yes=0.9 if label == "yes" else 0.1,
                                  probability_no=0.1 if label == "yes" else 0.9) for i, label in enumerate(labels)])

    labels = pd.DataFrame({"request_id": [f"r{i}" for i in range(100)] + ["unpaired"], "row": 0,
                           "label": truth + ["yes"]})
    return logs(champion_wrong), logs(challenger_wrong), labels


def _expected_interval(champion_wrong, challenger_wrong):
    differences = np.array([(i not in challenger_wrong) - (i not in champion_wrong) for i in range(100)], dtype=float)
    half = stats.t.ppf(0.975, 99) * differences.std(ddof=1) / np.sqrt(100)
    return differences.mean() - half, differences.mean() + half


def test_a_challenger_right_more_often_wins_on_labels_with_a_paired_t_interval():
    champion_wrong, challenger_wrong = set(range(0, 40, 2)), set(range(0, 20, 2))  # 20 and 10 wrong, nested
    champion, challenger, labels = _labelled_logs(champion_wrong, challenger_wrong)
    labelled = compare_versions(champion, challenger, task="classification", classes=["no", "yes"],
                                features=["x"], labels=labels).labelled
    assert (labelled.rows, labelled.metric) == (100, "accuracy")
    assert (labelled.champion_value, labelled.challenger_value) == (pytest.approx(0.8), pytest.approx(0.9))
    assert labelled.difference == pytest.approx(0.1)
    assert labelled.interval == pytest.approx(_expected_interval(champion_wrong, challenger_wrong))
    assert labelled.interval[0] > 0 and labelled.clear_of_zero and labelled.better == "challenger"
    assert labelled.champion_metrics["accuracy"] == pytest.approx(0.8)
    assert labelled.challenger_metrics["accuracy"] == pytest.approx(0.9)
    assert {"precision", "recall", "f1", "roc_auc", "log_loss"} <= set(labelled.challenger_metrics)


def test_an_interval_that_straddles_zero_favours_no_one():
    champion_wrong, challenger_wrong = set(range(0, 20)), set(range(50, 60))  # apart: 20 rows +1, 10 rows -1
    champion, challenger, labels = _labelled_logs(champion_wrong, challenger_wrong)
    labelled = compare_versions(champion, challenger, task="classification", classes=["no", "yes"],
                                features=["x"], labels=labels).labelled
    assert labelled.difference == pytest.approx(0.1)
    low, high = labelled.interval
    assert (low, high) == pytest.approx(_expected_interval(champion_wrong, challenger_wrong))
    assert low < 0 < high and not labelled.clear_of_zero and labelled.better is None


def test_regression_labels_compare_rmse_with_a_paired_bootstrap():
    champion, challenger = _regression_logs()
    truth = np.arange(50.0) + np.where(np.arange(50) % 2, 1.0, -1.0)  # the champion off by 1 everywhere
    labels = pd.DataFrame({"request_id": [f"q{i // 2}" for i in range(50)], "row": [i % 2 for i in range(50)],
                           "label": [str(value) for value in truth]})
    challenger = challenger.assign(output_prediction=truth + np.where(np.arange(50) < 10, 0.5, 0.0))
    labelled = compare_versions(champion, challenger, task="regression", classes=None, features=["x"],
                                labels=labels).labelled
    challenger_rmse = np.sqrt(10 * 0.25 / 50)
    assert (labelled.rows, labelled.metric) == (50, "rmse")
    assert (labelled.champion_value, labelled.challenger_value) == (pytest.approx(1.0), pytest.approx(challenger_rmse))
    assert labelled.difference == pytest.approx(1.0 - challenger_rmse)  # positive: the challenger is better
    low, high = labelled.interval
    assert 0 < low <= labelled.difference <= high
    assert labelled.clear_of_zero and labelled.better == "challenger"
    assert labelled.champion_metrics["mae"] == pytest.approx(1.0)
    again = compare_versions(champion, challenger, task="regression", classes=None, features=["x"], labels=labels)
    assert again.labelled.interval == labelled.interval  # seeded: the same rows give the same interval


def test_one_labelled_row_has_no_interval():
    champion, challenger, labels = _labelled_logs({0}, set())
    labelled = compare_versions(champion, challenger, task="classification", classes=["no", "yes"], features=[],
                                labels=labels.iloc[:1]).labelled
    assert labelled.rows == 1 and labelled.interval is None
    assert not labelled.clear_of_zero and labelled.better is None


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame(columns=["request_id", "row", "status", "latency_ms",
                                                                         "output_prediction", "input_x"])])
def test_empty_logs_compare_to_nothing_and_say_why(frame):
    labels = pd.DataFrame({"request_id": ["r1"], "row": [0], "label": ["a"]})
    comparison = _compare(frame, frame, labels=labels)
    assert (comparison.paired_rows, comparison.paired_requests, comparison.champion.requests) == (0, 0, 0)
    assert comparison.agreement is None and comparison.labelled is None
    assert comparison.champion.error_rate is None and comparison.champion.p50_ms is None
    assert any("no paired rows" in note for note in comparison.notes)
    assert any("label" in note for note in comparison.notes)


def test_labelled_is_none_without_labels_and_says_so():
    comparison = _compare(*_classification_logs(), labels=None)
    assert comparison.labelled is None and any("no labels yet" in note for note in comparison.notes)


def test_an_unknown_task_is_refused():
    with pytest.raises(InvalidFieldError, match="task"):
        compare_versions(pd.DataFrame(), pd.DataFrame(), task="ranking", classes=None, features=[])
