"""`prune`: uninstall the releases of this tool whose service no longer exists (orphans, see status.py)."""
from __future__ import annotations

from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.operate.status import ServiceState


def prune(helm: Helm, orphans: list[ServiceState], namespace: str, timeout: str) -> list[tuple[str, str]]:
    """Uninstall each orphan's release; (release, "" or the error) per orphan, in order."""
    out = []
    for state in orphans:
        try:
            helm.uninstall(state.release, namespace, timeout)
            out.append((state.release, ""))
        except HelmError as exc:
            out.append((state.release, str(exc)))
    return out
