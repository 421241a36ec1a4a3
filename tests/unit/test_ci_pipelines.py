"""The ready CI pipelines run the same tasks a person runs, with flags those tasks have."""
from __future__ import annotations

import re
import shlex

import pytest
import yaml
from support import REPO_ROOT

from tars_tasks.cli.tasks import ns

PIPELINES = sorted((REPO_ROOT / "ci").glob("*.yml"))


def invoke_lines(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for v in node.values():
            found += invoke_lines(v)
    elif isinstance(node, list):
        for v in node:
            found += invoke_lines(v)
    elif isinstance(node, str):
        found += [m.group(0) for m in re.finditer(r"invoke [^\n>|&]+", node)]
    return found


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipeline_commands_are_real_tasks_and_flags(path):
    lines = invoke_lines(yaml.safe_load(path.read_text()))
    assert any(line.startswith("invoke plan") for line in lines)
    assert any(line.startswith("invoke release --since") for line in lines)
    for line in lines:
        words = shlex.split(line.replace("${{", "").replace("}}", ""))
        task = ns.tasks[words[1]]
        flags = {n for arg in task.get_arguments() for n in arg.names}
        for word in words[2:]:
            if word.startswith("--"):
                assert word[2:].split("=")[0] in flags, f"{path.name}: {line}: unknown flag {word}"
