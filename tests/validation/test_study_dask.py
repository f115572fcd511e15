"""Studies on Dask (issue 19): a cluster deployed as docs/running.md deploys one (`dask
scheduler` and a `dask worker` process, over TCP) runs the same real `freqtrade backtesting`
variants as the local pool with the same results, resumes without rerunning finished variants,
and a missing Dask, a bad address or an unreachable scheduler is a clear UserError. The
LocalCluster path (`--scheduler local`) runs in tests/research/test_select_e2e.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from perpflow.errors import UserError
from perpflow.validation import cluster
from perpflow.validation.study import Variant, run_study, variant_trades

PAIRS = ["BTC/USDT:USDT"]
# two tiny variants on the 30-day demo market (2026-05-01..31): the fee alone differs
VARIANTS = [Variant("v0", "20260520-20260527"), Variant("v1", "20260520-20260527", fee=0.002)]


@pytest.fixture
def tcp_cluster(tmp_path):
    """`dask scheduler` on a free port and one `dask worker` process (2 threads) joined to it
    over TCP, as on separate nodes; yields the scheduler's address."""
    dask = Path(sys.executable).parent / "dask"
    address = f"tcp://127.0.0.1:{_free_port()}"
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker")]  # noqa: SIM115
    env = {**os.environ, **cluster.lean_dask_env()}  # as docs/running.md's recipe starts them
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=logs[0], stderr=subprocess.STDOUT, env=env)]  # fmt: skip
    time.sleep(1.0)
    procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "2",
                                   "--no-dashboard", "--local-directory", str(tmp_path / "dw")],
                                  stdout=logs[1], stderr=subprocess.STDOUT, env=env))  # fmt: skip
    try:
        import distributed

        with distributed.Client(address, timeout=60) as client:  # a loaded host starts slowly
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


@pytest.mark.integration
def test_a_tcp_cluster_matches_the_local_pool_and_resumes(small_demo, tmp_path, tcp_cluster):
    pool = run_study(VARIANTS, study_dir=tmp_path / "pool", datadir=small_demo, pairs=PAIRS,
                     workers=2, progress=False)  # fmt: skip
    dask = run_study(VARIANTS, study_dir=tmp_path / "dask", datadir=small_demo, pairs=PAIRS,
                     workers=2, progress=False, scheduler=tcp_cluster)  # fmt: skip
    assert (dask["returncode"] == 0).all() and dask["trades"].sum() > 0
    pd.testing.assert_frame_equal(dask, pool)
    for v in VARIANTS:
        a, b = variant_trades(tmp_path / "pool", v.id), variant_trades(tmp_path / "dask", v.id)
        pd.testing.assert_frame_equal(a, b)
        # each task served its backtest from its own local exchange on its worker
        assert (tmp_path / "dask" / "variants" / v.id / "venue.json").exists()
    assert pool["id"].tolist() == ["v0", "v1"]
    assert (pd.read_parquet(tmp_path / "dask" / "results.parquet")["id"] == ["v0", "v1"]).all()
    # resume: finished variants are read back, not rerun (neither in the parent nor in a task)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "dask").glob("variants/*/result.json")}
    again = run_study(VARIANTS, study_dir=tmp_path / "dask", datadir=small_demo, pairs=PAIRS,
                      workers=2, progress=False, scheduler=tcp_cluster)  # fmt: skip
    pd.testing.assert_frame_equal(again, dask)
    stored = cluster.variant_task(VARIANTS[0], study_dir=tmp_path / "dask", datadir=small_demo,
                                  pairs=PAIRS, config=None, export="trades")  # fmt: skip
    assert stored["trades"] == dask.loc[0, "trades"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_config(client) -> list[tuple]:
    import dask

    keys = list(cluster.LEAN_CONFIG)
    return list(client.run(lambda: tuple(dask.config.get(k) for k in keys)).values())


def test_local_cluster_workers_run_with_the_lean_housekeeping():
    import distributed

    client, local = cluster._client(distributed, "local", 1)
    try:
        assert _worker_config(client) == [tuple(cluster.LEAN_CONFIG.values())]
    finally:
        client.close()
        local.close()


def test_the_recipe_environment_reaches_a_deployed_worker(tcp_cluster):
    import distributed

    with distributed.Client(tcp_cluster, timeout=60) as client:
        assert _worker_config(client) == [tuple(cluster.LEAN_CONFIG.values())]


def test_unreachable_scheduler_names_the_address_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(UserError, match=f"cannot reach the Dask scheduler at {address}") as err:
        run_study(VARIANTS, study_dir=tmp_path, datadir=tmp_path, pairs=PAIRS, progress=False,
                  scheduler=address)  # fmt: skip
    assert "dask scheduler" in str(err.value) and f"dask worker {address}" in str(err.value)


def test_bad_address_and_missing_dask_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="expected tcp://host:port"):
        run_study(VARIANTS, study_dir=tmp_path, datadir=tmp_path, pairs=PAIRS, scheduler="nowhere")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(UserError, match=r"pip install 'perpflow\[cluster\]'"):
        run_study(VARIANTS, study_dir=tmp_path, datadir=tmp_path, pairs=PAIRS, scheduler="local")


def test_task_refuses_a_path_missing_on_its_worker(tmp_path):
    with pytest.raises(UserError, match="datadir .*nowhere does not exist on Dask worker"):
        cluster.variant_task(VARIANTS[0], study_dir=tmp_path, datadir=tmp_path / "nowhere",
                             pairs=PAIRS, config=None, export="trades")  # fmt: skip


def test_the_docs_recipe_exports_the_lean_settings():
    doc = (Path(__file__).parents[2] / "docs" / "running.md").read_text()
    for key, value in cluster.lean_dask_env().items():
        assert f"{key}={value}" in doc, f"docs/running.md's recipe lacks {key}={value}"
