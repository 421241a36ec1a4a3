"""Invoke entry point: `invoke --list`. Any monorepo can use tars-tasks with these lines."""
from tars_tasks.tasks import ns, preflight  # noqa: F401

preflight(__file__)
