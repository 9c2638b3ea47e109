"""The per-append shortcuts of ``store.rows`` give exactly the text they replace."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.canonical import canonical_json
from trialbook.store.base import NewEvent
from trialbook.store.rows import prepare, utc_now


def test_utc_now_is_fixed_width_iso_8601_with_microseconds_in_utc():
    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    now = utc_now()
    after = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now)
    assert before[:17] <= now[:17] <= after[:17]  # the same minute as datetime's clock


def test_metadata_equal_in_python_but_not_in_json_is_serialised_apart():
    # 1 == True == 1.0 in Python, and their JSON differs: the reused text must not mix them
    metas = [{"n": 1}, {"n": True}, {"n": 1.0}, {"n": "1"}, {"n": 1}, {"n": [1]}, {"n": (1,)}]
    for meta in metas:
        ((_, _, _, text),) = prepare([NewEvent(type="T", data={}, metadata=meta)])
        assert text == canonical_json(meta)


def test_a_batch_sharing_one_metadata_dict_gets_one_text():
    meta = {"actor": "a", "process": {"pid": 1}}
    out = prepare([NewEvent(type="T", data={"i": i}, metadata=meta) for i in range(3)])
    assert {m for (_, _, _, m) in out} == {canonical_json(meta)}
    assert [d for (_, _, d, _) in out] == [canonical_json({"i": i}) for i in range(3)]


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 1e-5, float("nan")]),
    st.sampled_from(["", "1", "a", "é"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)
    ),
    max_leaves=4,
)
metadata = st.dictionaries(
    st.one_of(st.sampled_from(["actor", "process", "n"]), st.integers(0, 1)),
    json_values,
    max_size=3,
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(metadata, min_size=1, max_size=6))
def test_metadata_reused_from_the_last_append_is_its_json(metas: list[dict]) -> None:
    """Each append's metadata text is its canonical JSON, whatever came before it (the text
    of the last one is reused only when the two write the same JSON)."""
    for meta in metas:
        try:
            expected = canonical_json(meta)
        except (ValueError, TypeError):  # NaN, or keys JSON cannot sort
            continue
        ((_, _, _, text),) = prepare([NewEvent(type="T", data={}, metadata=meta)])
        assert text == expected
        meta_again = {k: v for k, v in meta.items()}  # another dict, the same values
        ((_, _, _, again),) = prepare([NewEvent(type="T", data={}, metadata=meta_again)])
        assert again == expected


def test_metadata_changed_in_place_between_appends_is_serialised_again() -> None:
    meta = {"actor": "a", "process": {"host": "h", "pid": 1}}
    ((_, _, _, first),) = prepare([NewEvent(type="T", data={}, metadata=meta)])
    meta["process"]["pid"] = 2
    meta["call"] = "trialbook.ab.add_result"
    ((_, _, _, second),) = prepare([NewEvent(type="T", data={}, metadata=meta)])
    assert first == canonical_json({"actor": "a", "process": {"host": "h", "pid": 1}})
    assert second == canonical_json(meta)
    meta.pop("call")
    meta["process"]["pid"] = True
    ((_, _, _, third),) = prepare([NewEvent(type="T", data={}, metadata=meta)])
    assert third == canonical_json(meta) and '"pid":true' in third


@given(
    st.lists(st.dictionaries(st.text(max_size=3), st.integers(), max_size=3), max_size=5),
    st.sampled_from(["ResultAdded", "TestCreated"]),
    st.integers(1, 3),
)
def test_events_made_from_one_template_are_those_made_one_by_one(
    datas: list[dict], kind: str, version: int
) -> None:
    meta = {"actor": "a"}
    many = NewEvent.all_of(kind, iter(datas), version, meta)
    one_by_one = [NewEvent.of(kind, d, version, meta, None) for d in datas]
    assert many == one_by_one == [NewEvent(kind, d, version, meta) for d in datas]
    assert [e.plain_data for e in many] == [e.plain_data for e in one_by_one] == [False] * len(many)
    fields = [{k: v for k, v in vars(e).items() if k != "plain_data"} for e in many]
    assert fields == [vars(e) for e in one_by_one]
    assert [list(f) for f in fields] == [list(vars(e)) for e in one_by_one]
    assert all(e.data is d and e.metadata is meta for e, d in zip(many, datas, strict=True))
