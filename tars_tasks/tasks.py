"""The stable entry point of a monorepo's tasks.py: `from tars_tasks.tasks import ns, preflight`."""
from tars_tasks.cli.tasks import ns, preflight

__all__ = ["ns", "preflight"]
