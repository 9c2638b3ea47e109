"""The per-append shortcuts of ``store.rows`` give exactly the text they replace."""

from __future__ import annotations

import re
from datetime import datetime, timezone

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
