"""The invoke collection: every task, with the `tars:` settings' defaults."""
from __future__ import annotations

from invoke import Collection

from tars_tasks.cli import init, interfaces, operate, tasks
from tars_tasks.cli.secrets import secrets
from tars_tasks.core.settings import COLLECTION_DEFAULTS

ns = Collection(*tasks.TASKS, *operate.TASKS, *interfaces.TASKS, *init.TASKS)
ns.add_collection(secrets)
ns.configure({"tars": COLLECTION_DEFAULTS, "tasks": {"auto_dash_names": True}})
