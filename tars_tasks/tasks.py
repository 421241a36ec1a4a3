"""The stable entry point of a monorepo's tasks.py: `from tars_tasks.tasks import ns, preflight`."""
from tars_tasks.cli.collection import ns
from tars_tasks.cli.tasks import preflight

__all__ = ["ns", "preflight"]
