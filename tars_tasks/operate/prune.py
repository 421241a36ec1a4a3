"""`prune`: uninstall the releases of this tool whose service no longer exists (orphans, see status.py), and
every version of their configs (helm keeps TConfigs; deploy/configs.py removes them in the framework's order).
An orphan with no helm release left (no chart: a prune interrupted while the framework's deletion guard held
its configs) has only its configs removed. A signal (``cancel``) stops the wait for the guard and starts no
further orphan; each result says what was done and what is left."""
from __future__ import annotations

import threading
from collections.abc import Callable

from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.deploy.configs import WaitStopped, remove_all, uninstall
from tars_tasks.deploy.kube import Kube, KubeError
from tars_tasks.operate.status import ServiceState

INTERRUPTED = "interrupted"


def prune(helm: Helm, kube: Kube, orphans: list[ServiceState], namespace: str, timeout: str,
          progress: Callable[[str], None] = lambda msg: None,
          cancel: threading.Event | None = None) -> list[tuple[str, str]]:
    """Uninstall each orphan's release and remove its configs; (release, "" or the error) per orphan started,
    in order (those not started after a signal are left out)."""
    stop = cancel or threading.Event()
    out = []
    for state in orphans:
        if stop.is_set():
            break
        try:
            if state.chart:
                uninstall(helm, kube, state.release, namespace, timeout, progress, stop)
            else:
                remove_all(kube, state.release, namespace, timeout, progress, stop)
            out.append((state.release, ""))
        except WaitStopped as exc:
            gone = "helm release uninstalled; " if state.chart else ""
            out.append((state.release, f"{INTERRUPTED}: {gone}{exc} (a rerun of `invoke prune --yes` removes them)"))
        except (HelmError, KubeError) as exc:
            out.append((state.release, str(exc)))
    return out
