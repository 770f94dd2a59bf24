"""AppTest of the curator's workflow: ticks and bulk actions, confirmation, failed writes, undo across a
reload, default run, view state across pages and reloads, jump to id, the demo finishing before Valuate
draws, export counts with a separate target file, the encoding note and scoring against a truth column."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from test_app import APP, TIMEOUT, errors, new_app, seeded_session


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    return path


def _ws(workspace_dir: Path):
    from ui import state

    return state._workspace(str(workspace_dir.resolve()))


def _review(at: AppTest) -> AppTest:
    at.switch_page("app_pages/3_review.py").run()
    assert not errors(at)
    return at


def _card_ids(at: AppTest) -> list[str]:
    return [c.key.split("_", 3)[3] for c in at.checkbox if c.key.startswith("rv_tick_")]


def _state(ws, key: str) -> dict[str, str]:
    cur = ws.decisions(key)
    return dict(zip(cur["id"], cur["action"]))


def test_ticked_bulk_drop_touches_only_the_ticked_and_clears_the_ticks(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ids = _card_ids(at)
    assert len(ids) == 18
    for i in ids[:2]:
        at.checkbox(key=f"rv_tick_0_{i}").check().run()
    assert at.button(key="rv_bulk_drop_").label == "Drop 2"
    at.button(key="rv_bulk_drop_").click().run()
    assert not errors(at)
    assert _state(_ws(workspace_dir), key) == {ids[0]: "drop", ids[1]: "drop"}
    # the Undecided view moved up; no tick sits on the rows that took their place
    assert not any(c.value for c in at.checkbox if c.key.startswith("rv_tick_"))
    assert at.button(key="rv_bulk_drop_").label == "Drop 16"
    assert any("this page (16 samples)" in m.value for m in at.markdown)


def test_page_wide_bulk_asks_first_then_undo_sets_it_all_back(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    at.button(key="rv_bulk_drop_").click().run()
    ws = _ws(workspace_dir)
    assert ws.decisions(key).empty  # nothing ticked: asked, not done
    assert any("Drop all 18 samples on this page" in w.value for w in at.warning)
    at.button(key="rv_confirm_yes").click().run()
    assert len(_state(ws, key)) == 18 and not at.warning
    at.button(key="rv_undo").click().run()
    assert not errors(at)
    assert ws.decisions(key).empty and len(ws.decision_log(key)) == 36
    assert len(_card_ids(at)) == 18


def _log_size(ws, key: str) -> int:
    return len(ws.decision_log(key))


def _button_type(at: AppTest, key: str) -> str:
    return at.button(key=key).proto.type


def test_a_failed_write_shows_one_line_and_the_card_shows_the_stored_state(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ws = _ws(workspace_dir)
    at.selectbox(key="rv_status").set_value("All").run()  # decided cards stay on the page
    first = _card_ids(at)[0]
    at.button(key=f"rv_keep_{first}").click().run()  # stored: keep
    assert _state(ws, key) == {first: "keep"} and _button_type(at, f"rv_keep_{first}") == "primary"
    with sqlite3.connect(ws.db_path) as con:  # the database refuses every decision, as a full disk does
        con.execute("CREATE TRIGGER full BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'database or disk "
                    "is full'); END")
    at.button(key=f"rv_drop_{first}").click().run()
    assert not at.exception
    (line,) = [e.value for e in at.error]
    assert line.startswith("Not saved: ") and "disk is full" in line and line.endswith("The sample stays as before.")
    assert _state(ws, key) == {first: "keep"}
    # the card shows what is stored: still Kept, Drop not chosen
    assert _button_type(at, f"rv_drop_{first}") == "secondary" and _button_type(at, f"rv_keep_{first}") == "primary"
    assert sum("**Kept**" in m.value for m in at.markdown) == 1
    assert not any("**Dropped**" in m.value for m in at.markdown)
    at.run()  # a rerun neither retries the refused click nor shows it as done
    assert _state(ws, key) == {first: "keep"} and _button_type(at, f"rv_drop_{first}") == "secondary"
    with sqlite3.connect(ws.db_path) as con:
        con.execute("DROP TRIGGER full")
    at.button(key=f"rv_drop_{first}").click().run()
    assert not at.error and _state(ws, key) == {first: "drop"}
    assert _button_type(at, f"rv_drop_{first}") == "primary" and _button_type(at, f"rv_keep_{first}") == "secondary"
    assert _log_size(ws, key) == 2


def test_a_failed_bulk_write_keeps_the_old_state_and_the_ticks(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ws = _ws(workspace_dir)
    ids = _card_ids(at)
    for i in ids[:3]:
        at.checkbox(key=f"rv_tick_0_{i}").check().run()
    with sqlite3.connect(ws.db_path) as con:
        con.execute("CREATE TRIGGER full BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'database or disk "
                    "is full'); END")
    at.button(key="rv_bulk_drop_").click().run()
    assert any(e.value.endswith("The samples stay as before.") for e in at.error)
    assert ws.decisions(key).empty and _card_ids(at) == ids  # nothing left the Undecided view
    assert at.button(key="rv_bulk_drop_").label == "Drop 3"  # the ticks are kept for a retry
    assert all(_button_type(at, f"rv_drop_{i}") == "secondary" for i in ids)


def test_a_rerun_after_a_bulk_action_makes_no_write(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ws = _ws(workspace_dir)
    at.selectbox(key="rv_status").set_value("All").run()  # the same 18 cards stay on the page throughout
    ids = _card_ids(at)
    assert len(ids) == 18
    expected = 0
    for action in ("drop", "keep", "drop"):
        at.button(key=f"rv_bulk_{action}_").click().run()  # nothing ticked: asks first
        assert _log_size(ws, key) == expected
        at.button(key="rv_confirm_yes").click().run()
        expected += 18
        assert _log_size(ws, key) == expected and set(_state(ws, key).values()) == {action}
        for _ in range(3):  # reruns (a fragment tick, a filter change) write nothing
            at.run()
            assert _log_size(ws, key) == expected
        at.selectbox(key="rv_sort").set_value("Class").run()
        at.selectbox(key="rv_sort").set_value("Value (lowest first)").run()
        assert _log_size(ws, key) == expected
        # every card shows the stored action as its chosen button
        assert all(_button_type(at, f"rv_{action}_{i}") == "primary" for i in ids)
    # one card click after the bulks: one write, and the rerun after it none
    at.button(key=f"rv_keep_{ids[5]}").click().run()
    at.run()
    assert _log_size(ws, key) == expected + 1
    assert _state(ws, key) == {**{i: "drop" for i in ids}, ids[5]: "keep"}
    # a click on the action already stored writes nothing; the reset button sets it back to undecided
    at.button(key=f"rv_keep_{ids[5]}").click().run()
    assert _log_size(ws, key) == expected + 1
    at.button(key=f"rv_reset_{ids[5]}").click().run()
    assert _log_size(ws, key) == expected + 2 and ids[5] not in _state(ws, key)
    steps = ws.decision_log(key).groupby("time").size().tolist()
    assert steps == [18, 18, 18, 1, 1]  # three bulk steps and two one-card clicks: no write nobody made


def test_undo_works_after_a_reload(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    at.button(key=f"rv_drop_{_card_ids(at)[0]}").click().run()
    ws = _ws(workspace_dir)
    assert len(ws.decisions(key)) == 1
    again = _review(new_app(sid))  # a reload: a new Streamlit session, same sid
    assert not again.button(key="rv_undo").disabled
    again.button(key="rv_undo").click().run()
    assert ws.decisions(key).empty and list(ws.decision_log(key)["action"]) == ["drop", "undecided"]
    assert again.button(key="rv_undo").disabled


def test_review_opens_on_the_best_run_and_view_state_survives_pages_and_reload(workspace_dir, tmp_path):
    from dataval_core.jobs import JobManager

    sid, key, knn = seeded_session(workspace_dir, tmp_path)
    ws = _ws(workspace_dir)
    jobs = JobManager(ws, max_workers=1)
    rnd = jobs.submit_run(key, ws.load_dataset(key), "random")  # the newest run, as after "run all"
    assert jobs.wait(rnd, timeout=60).status == "done"
    jobs.shutdown()
    at = _review(new_app(sid))
    assert at.selectbox(key="rv_run").value == knn
    at.selectbox(key="rv_status").set_value("All").run()
    at.selectbox(key="rv_size").set_value(12).run()
    at.selectbox(key="rv_sort").set_value("Class").run()
    at.number_input(key="rv_page").set_value(2).run()
    at.switch_page("app_pages/1_data.py").run()
    _review(at)
    view = {k: at.session_state[k] for k in ("rv_run", "rv_status", "rv_size", "rv_page", "rv_sort")}
    assert view == {"rv_run": knn, "rv_status": "All", "rv_size": 12, "rv_page": 2, "rv_sort": "Class"}
    reload = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in at.query_params.items():
        reload.query_params[name] = value[0] if isinstance(value, list) else value
    reload.run()
    _review(reload)  # pages keep the URL's parameters on a reload
    assert {k: reload.session_state[k] for k in view} == view
    compare = new_app(sid)
    compare.switch_page("app_pages/5_compare.py").run()
    # knn first; random only as the baseline because no second method ran
    assert compare.multiselect(key="cmp_runs").value == [ws.run_record(knn).label, ws.run_record(rnd).label]


def test_jump_to_an_id_shows_that_sample_whatever_the_filters(workspace_dir, tmp_path):
    sid, _, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    last = _card_ids(at)[-1]
    at.selectbox(key="rv_size").set_value(12).run()
    assert last not in _card_ids(at)
    at.text_input(key="rv_jump_0").input(last).run()
    assert _card_ids(at) == [last]
    at.text_input(key="rv_jump_0").input("no-such-id").run()
    assert any("No valued sample has the id 'no-such-id'" in e.value for e in at.error)
    at.button(key="rv_clear_jump").click().run()
    assert len(_card_ids(at)) == 12


def test_demo_run_that_finished_before_valuate_drew_still_opens_review(workspace_dir, tmp_path):
    sid, _, run_id = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.session_state["demo_run"] = run_id  # the demo's run, already done when Valuate first draws
    at.switch_page("app_pages/2_valuate.py").run()
    assert not errors(at)
    assert [t.value for t in at.title] == ["Review"]
    assert "demo_run" not in at.session_state


def _table_files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    paths = []
    for name, n in (("census.csv", 60), ("census_target.csv", 30)):
        frame = pd.DataFrame({"age": rng.normal(40, 10, n).round(), "job": rng.choice(["a", "b", "c"], n),
                              "city": rng.choice(["x", "y"], n), "bad": np.arange(n) % 6 == 0,
                              "label": np.where(np.arange(n) % 2 == 0, "hi", "lo")})
        frame.loc[frame.index % 7 == 1, "job"] = None
        frame.loc[frame.index % 9 == 2, "age"] = np.nan
        frame.to_csv(tmp_path / name, index=False)
        paths.append(tmp_path / name)
    return paths[0], paths[1]


def test_export_counts_with_a_separate_target_file_equal_the_cleaned_file(workspace_dir, tmp_path):
    from dataval_core.export import export_dataset
    from dataval_core.io import load_dataset
    from dataval_core.targets import with_target_file

    train, target = _table_files(tmp_path)
    ds = with_target_file(load_dataset(train, label="label"), load_dataset(target, label="label"))
    ws = _ws(workspace_dir)
    sid = "a" * 32
    record = ws.add_dataset(sid, ds)
    ws.record_decisions(record.key, sid, [{"id": "0", "action": "drop"}, {"id": "1", "action": "keep"}])
    at = new_app(sid)
    at.switch_page("app_pages/6_export.py").run()
    assert not errors(at)
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    cleaned = pd.read_csv(export_dataset(ws.load_dataset(record.key), ws.decision_log(record.key),
                                         tmp_path / "clean.csv"))
    assert metrics["Rows out"] == len(cleaned) == 59
    assert metrics["Undecided"] + metrics["Kept"] + metrics["Relabeled"] == len(cleaned)
    assert any("30 rows are not part of your data and are not exported" in c.value for c in at.caption)


def test_data_page_states_the_encoding_and_compare_scores_a_truth_column(workspace_dir, tmp_path):
    from dataval_core.io import load_dataset
    from dataval_core.jobs import JobManager
    from dataval_core.targets import split_target

    train, _ = _table_files(tmp_path)
    at = new_app()
    at.switch_page("app_pages/1_data.py").run()
    at.segmented_control(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="data_upload").upload("census.csv", train.read_bytes(), "text/csv").run()
    assert not errors(at)
    assert at.multiselect(key="data_left_out").value == ["bad"]  # a known-bad marker is no feature by default
    line = next(i.value for i in at.info if "How the methods see this table" in i.value)
    assert "1 numeric column(s) standardised" in line  # age; bad is left out
    n_empty = int(pd.read_csv(train)[["age", "job"]].isna().sum().sum())
    assert "2 text column(s) one-hot encoded (`job`, `city`)" in line and f"{n_empty} empty cell(s) imputed" in line

    ws = _ws(workspace_dir)
    sid = at.session_state["sid"]
    loaded = load_dataset(train, label="label")
    assert "bad" not in loaded.feature_columns  # the engine leaves a truth-like column out, as the page does
    ds = split_target(loaded.replace(feature_columns=loaded.feature_columns + ("bad",)), 0.25)  # put back here
    record = ws.add_dataset(sid, ds)
    jobs = JobManager(ws, max_workers=1)
    assert jobs.wait(jobs.submit_run(record.key, ds, "knn_shapley"), timeout=60).status == "done"
    jobs.shutdown()
    at = new_app(sid)
    at.switch_page("app_pages/5_compare.py").run()
    assert at.segmented_control(key="cmp_truth").options == ["A column of the table", "A file of known-bad ids"]
    assert at.selectbox(key="cmp_truth_col").value == "bad"
    table = next(d.value for d in at.dataframe if "auroc" in d.value.columns)
    assert 0 <= table["auroc"].iloc[0] <= 1 and not errors(at)
    # the report's detection figure: one curve per run, the random order and the ideal curve
    chart = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if "fraction inspected" in c.proto.spec))
    assert [t["name"] for t in chart["data"]] == [ws.list_runs(record.key)[0].label, "random order", "ideal"]
    assert any("also a feature the methods saw" in w.value for w in at.warning)  # stored here with it as a feature


def test_card_texts_show_a_percentage_only_where_calibrated_and_counts_stay_readable():
    import numpy as np

    from ui import review

    rec = {"suggested": "b", "label": "a", "confidence": np.nan}
    assert review._suggestion_text(rec) == "suggests **b**"  # e.g. knn_shapley: no made-up "100% sure"
    assert review._suggestion_text({**rec, "confidence": 0.934}) == "suggests **b** (93% sure)"
    assert review._suggestion_text({**rec, "suggested": "a"}) == "suggests its own label"
    assert review._suggestion_text({**rec, "suggested": None}) == "no suggestion"
    # small counts sit on the scale's white end: written dark there, white on the dark squares
    assert review.count_text_colours(pd.Series([1, 2, 40])) == ["#31333f", "#31333f", "white"]


def test_overview_low_share_table_and_empty_cells(workspace_dir, tmp_path):
    sid, _, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    (summary,) = [d.value for d in at.dataframe if "low_share" in d.value.columns]
    low = summary["low"] / summary["samples"]
    assert (summary["low_share"] == 100 * low).all() and summary["low_share"].max() > 1  # percent, not a share
    at.segmented_control(key="rv_view").set_value("Table").run()
    (shown,) = [d.value for d in at.dataframe if "decision" in d.value.columns]
    assert not shown[["new label", "suggested", "sure"]].isna().any().any()  # empty reads "" or "—", never None
    assert set(shown["new label"]) == {"—"}
    assert (shown["sure"] == "").all()  # a knn_shapley run: no calibrated confidence, no percentage


def test_a_cards_relabel_button_opens_one_picker_that_writes_the_pick_once(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ids = _card_ids(at)
    assert not [s for s in at.selectbox if s.key == "rv_pick"]  # no class menu drawn per card
    at.button(key=f"rv_relabel_{ids[0]}").click().run()
    label = card_label(at, ids[0])
    others = at.selectbox(key="rv_pick").options
    assert label not in others and len(others) >= 1
    assert at.button(key="rv_relabel_go").disabled  # nothing picked yet: nothing to write
    at.selectbox(key="rv_pick").select(others[0]).run()
    assert _ws(workspace_dir).decisions(key).empty  # a pick alone writes nothing
    at.button(key="rv_relabel_go").click().run()
    assert not errors(at)
    stored = _ws(workspace_dir).decisions(key)
    assert stored[["id", "action", "new_label"]].values.tolist() == [[ids[0], "relabel", others[0]]]
    assert len(_ws(workspace_dir).decision_log(key)) == 1
    assert not [s for s in at.selectbox if s.key == "rv_pick"]  # the picker closed
    at.run()
    assert len(_ws(workspace_dir).decision_log(key)) == 1  # a rerun writes nothing


def card_label(at: AppTest, sample_id: str) -> str:
    """The label the card of ``sample_id`` shows (its "label **x**" line)."""
    lines = [m.value for m in at.markdown if m.value.startswith("**#") and "label **" in m.value]
    return lines[_card_ids(at).index(sample_id)].split("label **")[1].split("**")[0]
