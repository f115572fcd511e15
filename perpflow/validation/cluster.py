"""Studies on Dask (`dask.distributed`): each unfinished variant is one task on a cluster.

`run_on_dask` connects to a scheduler ("tcp://host:8786") or starts a `LocalCluster` ("local":
`workers` processes, one thread each), submits one `variant_task` per variant that has no
finished result yet (finished ones are read back in the parent, exactly as the local pool does)
and shows progress with tqdm over `distributed.as_completed`.

Data, config and study folder are addressed by path: a shared filesystem mounted at the SAME
absolute path on every node (NFS, CIFS, a cluster filesystem). fsspec URLs are not accepted:
Freqtrade reads `--datadir` and writes `--userdir` through local paths, so a URL would mean
copying the data to each worker and the results back, which a shared mount already does.

Each task starts its own local exchange (`VenueServer`, port 0, on 127.0.0.1 of its worker) over
`datadir` and writes its own overlay to `<study>/variants/<id>/venue.json`, instead of keeping one
venue per worker in a WorkerPlugin: the parent's 127.0.0.1 venue is out of reach of a remote
worker, a venue starts in ~20 ms against seconds for a backtest, one study may use several
datadirs (`validate exchanges`: one per exchange), a worker with several threads would otherwise
share one venue between concurrent tasks, and nothing has to be installed on (or cleaned up from)
a cluster shared with other work.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from uuid import uuid4

from perpflow.errors import UserError
from perpflow.validation.study import Variant, run_variant, stored_result

logger = logging.getLogger(__name__)
# how long to wait for the scheduler to answer and for its first worker to join
CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = "pip install 'perpflow[cluster]' (or: pip install 'dask[distributed]')"
# Dask's housekeeping, slowed for tasks that each run one backtest of seconds to minutes: the
# worker's statistical profiler (a stack sample every 10 ms) off, the event-loop tick, system
# and memory monitors at 1-2 s instead of 20-500 ms. An idle 2-worker LocalCluster used 7% of a
# core with Dask's defaults and 1.4% with these, CPU the backtests on the same cores get back.
# `lean_dask_env()` gives the same as environment variables for `dask scheduler`/`dask worker`.
LEAN_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def lean_dask_env() -> dict[str, str]:
    """`LEAN_CONFIG` as the DASK_* environment variables a deployed scheduler or worker reads."""
    return {"DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v)
            for k, v in LEAN_CONFIG.items()}  # fmt: skip


def local_cluster(workers: int):
    """A `LocalCluster` of `workers` processes (one thread each, no dashboard) whose workers run
    with `LEAN_CONFIG`."""
    import dask

    distributed = _distributed()
    with dask.config.set(LEAN_CONFIG):  # the workers start with this config
        return distributed.LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                        processes=True, dashboard_address=None)  # fmt: skip


def _distributed():
    """The `distributed` package, or a UserError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError(f"--scheduler needs Dask's distributed scheduler: {INSTALL_HINT}, "
                        "or leave --scheduler out for the local pool") from None  # fmt: skip
    return distributed


def _check_scheduler(scheduler: str) -> None:
    if scheduler != "local" and ":" not in scheduler:
        raise UserError(f"--scheduler {scheduler!r}: expected tcp://host:port (e.g. "
                        "tcp://10.0.0.1:8786, the address `dask scheduler` prints) or local")  # fmt: skip


def _client(distributed, scheduler: str, workers: int):
    """(client, cluster or None): a LocalCluster of `workers` processes with one thread each for
    "local", else a client of the scheduler at `scheduler` with at least one worker."""
    if scheduler == "local":
        cluster = local_cluster(workers)
        return distributed.Client(cluster), cluster
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {scheduler} ({exc}): start it with "
                        "`dask scheduler` on that host (it listens on port 8786) and `dask worker "
                        f"{scheduler}` on each node, check the address and firewall, or use "
                        "--scheduler local") from None  # fmt: skip
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except TimeoutError:
        client.close()
        raise UserError(f"the Dask scheduler at {scheduler} has no workers: start `dask worker "
                        f"{scheduler}` on each node (with this repo, its venv and the shared "
                        "data path)") from None  # fmt: skip
    return client, None


def variant_task(variant: Variant, *, study_dir: Path, datadir: Path, pairs: list[str],
                 config: Path | None, export: str) -> dict:  # fmt: skip
    """One Dask task: the variant's result (stored, or from a backtest against a local exchange
    started on this worker over `datadir`); a UserError if a path is missing on this worker."""
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    for what, path in (("study folder", study_dir), ("datadir", datadir), ("config", config)):
        if path is not None and not Path(path).exists():
            raise UserError(f"{what} {path} does not exist on Dask worker {_worker_name()}: "
                            "studies on a cluster need it at the same path on every node (a "
                            "shared filesystem)")  # fmt: skip
    stored = stored_result(variant, study_dir)
    if stored is not None:
        return stored
    vdir = Path(study_dir) / "variants" / variant.id
    vdir.mkdir(parents=True, exist_ok=True)
    with VenueServer(Path(datadir), mode="history", port=0) as venue:
        overlay = vdir / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(venue.url)))
        return run_variant(variant, study_dir=study_dir, datadir=datadir, venue_overlay=overlay,
                           pairs=pairs, config=config, export=export)  # fmt: skip


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "(not on a worker)"


def run_on_dask(variants: list[Variant], *, scheduler: str, study_dir: Path, datadir: Path,
                pairs: list[str], workers: int = 2, progress: bool = True,
                config: Path | None = None, export: str = "trades") -> list[dict]:  # fmt: skip
    """The results of all variants: finished ones read back here, the others one Dask task each
    on `scheduler` ("local" or "tcp://host:port"); paths are made absolute for the workers
    (`workers` only sizes a LocalCluster: a remote cluster has its own)."""
    from tqdm import tqdm

    _check_scheduler(scheduler)
    distributed = _distributed()
    study_dir, datadir = Path(study_dir).resolve(), Path(datadir).resolve()
    config = Path(config).resolve() if config is not None else None
    done = {v.id: stored_result(v, study_dir) for v in variants}
    results = [r for r in done.values() if r is not None]
    pending = [v for v in variants if done[v.id] is None]
    if not pending:
        return results
    client, cluster = _client(distributed, scheduler, workers)
    try:
        logger.info("study on Dask (%s): %d variant(s) to run, %d finished", scheduler,
                    len(pending), len(results))  # fmt: skip
        futures = [client.submit(variant_task, v, study_dir=study_dir, datadir=datadir,
                                 pairs=pairs, config=config, export=export, pure=False,
                                 key=f"variant-{v.id}-{uuid4().hex[:8]}")
                   for v in pending]  # fmt: skip
        for fut in tqdm(distributed.as_completed(futures), total=len(futures), desc="variants",
                        unit="run", disable=not progress):  # fmt: skip
            results.append(fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
