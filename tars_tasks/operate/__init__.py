"""Operate what is deployed: status (what git would deploy against what runs), diff, history and rollback,
and orphans (prune). Plain functions over data; the invoke layer (cli/operate.py) prints."""
