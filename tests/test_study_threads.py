"""Threads of one process sharing a study through different spellings of its database path."""

from __future__ import annotations

import os
import threading
import time

import nagen
from nagen.labellers import CallableLabeller

CALLS: list[str] = []
_LOCK = threading.Lock()


def _slow(arch) -> float:
    with _LOCK:
        CALLS.append(arch.canonical_hash())
    time.sleep(0.3)
    return float(len(arch.ops))


def test_two_spellings_of_one_database_do_not_label_a_trial_twice(tmp_path, monkeypatch) -> None:
    """The in-process "am I alone" key was the path as typed: the second thread adopted the first's
    running trials as orphans, labelled one twice and crashed on the completed trial."""
    monkeypatch.chdir(tmp_path)
    CALLS.clear()
    errors: list[BaseException] = []

    def work(path: str) -> None:
        try:
            nagen.Study("nb201", "v", CallableLabeller(_slow), proposer="random", storage=path, name="th", seed=0,
                        executor="inline").optimize(4, batch_size=2)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    a = threading.Thread(target=work, args=("th.db",))
    a.start()
    time.sleep(0.15)
    b = threading.Thread(target=work, args=(os.path.join(".", "th.db"),))
    b.start()
    a.join()
    b.join()
    assert not errors, errors
    st = nagen.load_study("th", storage="th.db")
    assert [t.state for t in st.trials] == ["complete"] * 4
    assert len(CALLS) == len(set(CALLS)) == 4  # no label paid twice
