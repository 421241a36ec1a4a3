"""`prune`: uninstall the releases of this tool whose service no longer exists (orphans, see status.py), and
every version of their configs (helm keeps TConfigs; deploy/configs.py removes them in the framework's order)."""
from __future__ import annotations

from collections.abc import Callable

from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.deploy.configs import uninstall
from tars_tasks.deploy.kube import Kube, KubeError
from tars_tasks.operate.status import ServiceState


def prune(helm: Helm, kube: Kube, orphans: list[ServiceState], namespace: str, timeout: str,
          progress: Callable[[str], None] = lambda msg: None) -> list[tuple[str, str]]:
    """Uninstall each orphan's release and remove its configs; (release, "" or the error) per orphan, in order."""
    out = []
    for state in orphans:
        try:
            uninstall(helm, kube, state.release, namespace, timeout, progress)
            out.append((state.release, ""))
        except (HelmError, KubeError) as exc:
            out.append((state.release, str(exc)))
    return out
