"""The interpretable-cell search: streamed correlations, planted units, CSV and table."""

import csv
import io
import itertools

import numpy as np
import pytest
import torch

from rnnlab.data.vocab import CharVocab
from rnnlab.diagnostics.features import builtin_features
from rnnlab.diagnostics.record import record
from rnnlab.diagnostics.search import CSV_COLUMNS, UnitSearch, search_units
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig
from textgen import make_text


def planted(n=2_000, seed=0):
    """Features, and activations with unit 5 of layer 1's c planted on feature "a" (negated)."""
    rng = np.random.default_rng(seed)
    features = {"a": (rng.random(n) < 0.3).astype(np.float32), "b": rng.normal(size=n)}
    values = {"h": rng.normal(size=(2, n, 8)), "c": rng.normal(size=(2, n, 8))}
    values["c"][1, :, 5] = -features["a"] + 0.3 * rng.normal(size=n)
    values["h"][0, :, 2] = 0.5 * features["b"] + rng.normal(size=n)  # weaker, positive
    return features, values


def test_search_ranks_a_planted_unit_first_and_keeps_the_sign():
    features, values = planted()
    result = search_units(features, values, top=3)
    groups = result.by_feature()
    best = groups["a"][0]
    assert (best.layer, best.quantity, best.unit) == (1, "c", 5)
    assert best.correlation < -0.8
    assert (groups["b"][0].layer, groups["b"][0].quantity, groups["b"][0].unit) == (0, "h", 2)
    assert groups["b"][0].correlation > 0.3
    assert [len(g) for g in groups.values()] == [3, 3]
    assert result.characters == 2_000 and result.skipped == {}


def test_streamed_correlations_equal_numpy_in_any_chunking():
    features, values = planted(n=1_000)
    expected = np.array(
        [
            [np.corrcoef(values[q][layer, :, unit], f)[0, 1] for f in features.values()]
            for q in values
            for layer in range(2)
            for unit in range(8)
        ]
    )
    search = UnitSearch(features, {"h": (2, 8), "c": (2, 8)})
    bounds = [0, 1, 2, 300, 301, 999, 1_000]
    for a, b in itertools.pairwise(bounds):
        search.update({q: v[:, a:b] for q, v in values.items()}, a)
    np.testing.assert_allclose(search.correlations(), expected, rtol=0, atol=1e-12)


def test_constant_features_are_skipped_and_constant_units_correlate_zero():
    n = 50
    features = {"flat": np.full(n, 3.0), "ramp": np.arange(n, dtype=float)}
    values = {"h": np.stack([np.full((n, 2), 0.7), np.linspace(-1, 1, 2 * n).reshape(n, 2)])}
    result = search_units(features, values, top=4)
    assert result.skipped == {"flat": "constant over the text"}
    by_unit = {(h.layer, h.unit): h.correlation for h in result.hits}
    assert by_unit[(0, 0)] == 0 and by_unit[(0, 1)] == 0
    assert by_unit[(1, 0)] == pytest.approx(1.0) and by_unit[(1, 1)] == pytest.approx(1.0)
    assert "flat: skipped (constant over the text)" in result.table()
    # a single character has no variation at all
    one = search_units({"x": np.ones(1)}, {"h": np.zeros((1, 1, 2))})
    assert one.hits == [] and one.skipped == {"x": "constant over the text"}


def test_csv_has_the_documented_columns_and_the_table_is_readable():
    features, values = planted(n=300)
    result = search_units(features, values, top=2)
    rows = list(csv.reader(io.StringIO(result.to_csv())))
    assert tuple(rows[0]) == CSV_COLUMNS == ("feature", "layer", "quantity", "unit", "correlation")
    assert rows[1][:4] == ["a", "1", "c", "5"] and float(rows[1][4]) < -0.8
    assert len(rows) == 1 + 4
    table = result.table().splitlines()
    assert table[0].split() == ["feature", "layer", "quantity", "unit", "r"]
    assert table[1].split()[:4] == ["a", "1", "c", "5"] and table[1].split()[4].startswith("-0.")
    assert table[2].split()[0] != "a"  # the feature is named once per block


def test_bad_search_inputs_are_clear_errors():
    with pytest.raises(InputError, match="at least one feature"):
        UnitSearch({}, {"h": (1, 2)})
    with pytest.raises(InputError, match="one length"):
        UnitSearch({"a": np.zeros(3), "b": np.zeros(4)}, {"h": (1, 2)})
    search = UnitSearch({"a": np.arange(4.0)}, {"h": (1, 2)})
    with pytest.raises(InputError, match=r"expected h of shape \(1, T, 2\)"):
        search.update({"h": np.zeros((1, 4, 3))}, 0)
    with pytest.raises(InputError, match="past the features"):
        search.update({"h": np.zeros((1, 3, 2))}, 2)
    with pytest.raises(InputError, match="top >= 1"):
        search.result(0)


def wire_upper_case_unit(model: CharLM, vocab: CharVocab, unit: int) -> None:
    """Make layer 0's unit `unit` a case detector: i ≈ 1, f ≈ 0, o ≈ 1 and g = tanh(±3)
    from the one-hot input (+ for an upper-case letter), no recurrent input, so that
    c = ±0.995 and h = ±0.76 follow the current character's case."""
    hid = model.config.hidden
    rows = {gate: k * hid + unit for k, gate in enumerate("ifgo")}  # gate order i, f, g, o
    signs = torch.tensor([3.0 if c.isupper() else -3.0 for c in vocab.chars])
    rnn = model.rnn
    with torch.no_grad():
        for gate, row in rows.items():
            rnn.weight_ih_l0[row] = signs if gate == "g" else 0.0
            rnn.weight_hh_l0[row] = 0.0
            rnn.bias_hh_l0[row] = 0.0
            rnn.bias_ih_l0[row] = {"i": 8.0, "f": -8.0, "g": 0.0, "o": 8.0}[gate]


def test_search_finds_a_unit_wired_to_upper_case_in_a_real_model():
    text = make_text(3_000)
    vocab = CharVocab.from_text(text)
    torch.manual_seed(0)
    model = CharLM(len(vocab), CharLMConfig(cell="lstm", layers=2, hidden=12, embed_dim=0))
    wire_upper_case_unit(model.eval(), vocab, unit=7)
    rec = record(model, vocab.encode(text), chunk=500)
    features = builtin_features(text)
    result = search_units(features, rec.values, top=3)
    top = result.by_feature()["upper"]  # its cell input g, its cell state c, its output h
    assert {(h.layer, h.quantity, h.unit) for h in top} == {(0, "g", 7), (0, "c", 7), (0, "h", 7)}
    assert all(h.correlation > 0.99 for h in top)
