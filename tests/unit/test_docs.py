"""The docs are checked like code: the README stays an entry page, every relative link resolves, and the
reference pages name every task, flag, setting and values.yaml key the code has (derived from the invoke
collection, core/settings.py and the values schema, so a new flag without its docs fails here)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tars_tasks.core.settings import DEFAULTS
from tars_tasks.tasks import ns

ROOT = Path(__file__).resolve().parents[2]
README_MAX_BYTES = 12_000
README_COMMANDS = (
    "bash scripts/setup.sh && invoke release --all --dry-run",
    "bash scripts/setup.sh && python3 -m pytest -q",
)

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans: a link shown as code is not a link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    body = prose(text)
    return _LINK.findall(body) + _REF_DEF.findall(body)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, title in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links() -> list[tuple[Path, str]]:
    out = []
    for page in doc_pages():
        for target in links(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue  # https:, mailto:: not a file of this repository
            out.append((page, target))
    return out


def test_readme_is_an_entry_page() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move detail into docs/ (at most {README_MAX_BYTES})"


def test_readme_shows_the_two_commands_as_they_are() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in README_COMMANDS:
        assert command in text


def test_contributing_and_the_docs_index_exist() -> None:
    assert (ROOT / "CONTRIBUTING.md").is_file()
    assert (ROOT / "docs" / "README.md").is_file()


def test_readme_tells_a_monorepo_to_ignore_dist() -> None:
    """Charts, plans, logs and caches land in dist/: a user who follows the README does not commit them."""
    usage = sections((ROOT / "README.md").read_text(encoding="utf-8"), r"(Use it in your monorepo)")
    assert usage, "README.md has no '## Use it in your monorepo' section"
    assert "Add `dist/` to your `.gitignore`" in usage["Use it in your monorepo"]


def test_every_relative_link_resolves() -> None:
    found = relative_links()
    assert len(found) >= 20, "the link scanner found almost no links: it is broken"
    broken = []
    for page, target in found:
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            broken.append(f"{page.relative_to(ROOT)}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{page.relative_to(ROOT)}: {target}: no heading #{anchor} in {rel}")
    assert not broken, "\n".join(broken)


def test_the_link_checker_catches_a_broken_link_and_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top `thing`\n\n## How a release runs\n\n```\n# not a heading\n```\n", encoding="utf-8")
    assert anchors(page) == {"top-thing", "how-a-release-runs"}
    text = ("See [a](docs/x.md#y), [b](https://example.com), `[c](not/a/link.md)`\n\n"
            "```\n[d](in/a/fence.md)\n```\n[ref]: other.md\n")
    assert links(text) == ["docs/x.md#y", "https://example.com", "other.md"]


def task_flags() -> dict[str, list[str]]:
    """Every task of the collection (namespaced ones as `secrets.set`) and every flag invoke parses for it."""
    return {ctx.name: sorted({*ctx.flags, *ctx.inverse_flags}) for ctx in ns.to_contexts()}


def sections(text: str, pattern: str) -> dict[str, str]:
    """Heading name -> the text under it, up to the next heading of the same or a higher level."""
    text = _FENCE.sub(lambda m: m.group(0).replace("#", "\\#"), text)  # no headings inside code
    matches = list(re.finditer(rf"^(#{{2,4}})[ \t]+{pattern}[ \t]*$", text, re.M))
    out = {}
    for m in matches:
        level = len(m.group(1))
        end = re.compile(rf"^#{{1,{level}}}[ \t]", re.M).search(text, m.end())
        out[m.group(2)] = text[m.end():end.start() if end else len(text)]
    return out


def test_tasks_page_documents_every_task_and_flag() -> None:
    tasks = task_flags()
    assert {"release", "secrets.set", "secrets.edit", "install-helm"} <= set(tasks)
    documented = sections((ROOT / "docs" / "tasks.md").read_text(encoding="utf-8"), r"`invoke ([\w.-]+)`")
    missing = []
    for name, flags in tasks.items():
        if name not in documented:
            missing.append(f"docs/tasks.md: no section '## `invoke {name}`'")
            continue
        for flag in flags:
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", documented[name]):
                missing.append(f"docs/tasks.md: `invoke {name}` does not document {flag}")
    unknown = sorted(set(documented) - set(tasks))
    assert not missing, "\n".join(missing)
    assert not unknown, f"docs/tasks.md documents tasks the collection does not have: {unknown}"


# a command: at the start of a line or code span (after an optional `$ ` prompt and VAR=value assignments), or
# after a shell operator; the task's arguments run to the next operator, comment or end of line
_INVOKE = re.compile(r"(?:^|&&|\|\||[|;(])[ \t]*(?:\$[ \t]+)?(?:[A-Z_][A-Z0-9_]*=\S*[ \t]+)*"
                     r"invoke(?:[ \t]+-f[ \t]+\S+)?[ \t]+([a-z][\w.-]*)([^\n|;&#>`)]*)", re.M)


def shown_commands(text: str) -> list[tuple[str, list[str]]]:
    """(task, its --flags) of every `invoke TASK ...` shown as code: in fenced blocks and code spans."""
    code = [m.group(0) for m in _FENCE.finditer(text)]
    code += [m.group(0).strip("`") for m in _CODE_SPAN.finditer(_FENCE.sub("", text))]
    out = []
    for chunk in code:
        for m in _INVOKE.finditer(re.sub(r"<[^<>\n]*>", "X", chunk)):  # <base>: a placeholder, not a redirect
            out.append((m.group(1), re.findall(r"(?<![\w-])--[a-z][\w-]*", m.group(2))))
    return out


def test_commands_shown_in_the_docs_name_real_tasks_and_flags() -> None:
    tasks = task_flags()
    wrong, count = [], 0
    for page in doc_pages():
        for task, flags in shown_commands(page.read_text(encoding="utf-8")):
            count += 1
            if task not in tasks:
                wrong.append(f"{page.relative_to(ROOT)}: invoke {task}: no such task")
            wrong += [f"{page.relative_to(ROOT)}: invoke {task} {f}: no such flag" for f in flags
                      if task in tasks and f not in tasks[task]]
    assert count > 50, "the command scanner found almost no commands: it is broken"
    assert not wrong, "\n".join(wrong)


def test_the_command_scanner_reads_code_only() -> None:
    text = ("Run `invoke plan --since <base> --all | tee x` or\n\n```bash\nINVOKE_TARS_ENV=prod invoke -f p.yaml release "
            "--dry-run && invoke status --json  # not --this\n```\ninvoke list --nope in prose, invoke.yaml\n")
    assert shown_commands(text) == [("release", ["--dry-run"]), ("status", ["--json"]),
                                   ("plan", ["--since", "--all"])]


def test_readme_table_names_every_task() -> None:
    table = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    named = {m for line in table for m in re.findall(r"`invoke ([\w.-]+)", line)}
    assert set(task_flags()) <= named, f"README's task table lacks {sorted(set(task_flags()) - named)}"


def test_settings_page_documents_every_setting_and_its_default() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \|([^|]*)\|", text, re.M)}
    missing = sorted(set(DEFAULTS) - set(rows))
    assert not missing, f"docs/settings.md has no table row for {missing}"
    wrong = [f"{key}: default {value!r} not in {rows[key].strip()!r}" for key, value in DEFAULTS.items()
             if isinstance(value, str) and value and f"`{value}`" not in rows[key]]
    assert not wrong, "\n".join(wrong)
    for server_type, image in DEFAULTS["base_images"].items():
        assert f"`{server_type}`" in text and f"`{image}`" in text


def test_values_page_documents_every_key_of_the_schema() -> None:
    schema = json.loads((ROOT / "schema" / "values.schema.json").read_text(encoding="utf-8"))
    text = (ROOT / "docs" / "values.md").read_text(encoding="utf-8")
    keys = list(schema["properties"])
    keys += [f"build.{k}" for k in schema["properties"]["build"]["properties"]]
    keys += [f"repo.{k}" for k in schema["properties"]["repo"]["properties"]]
    missing = [k for k in keys if f"`{k}`" not in text]
    assert len(keys) > 40
    assert not missing, f"docs/values.md does not name {missing}"


@pytest.mark.parametrize("page", ["tasks.md", "values.md", "releases.md", "operating.md", "environments.md",
                                  "builds.md", "interfaces.md", "settings.md", "ci.md", "design.md"])
def test_docs_index_links_every_topic_page(page: str) -> None:
    assert (ROOT / "docs" / page).is_file()
    assert f"]({page})" in (ROOT / "docs" / "README.md").read_text(encoding="utf-8")


TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`|`::(\w+)`")


def test_every_test_a_doc_names_exists() -> None:
    """docs/security.md lists each boundary with the test that covers it: a renamed or removed test shows here."""
    missing = []
    for page in doc_pages():
        current = ""
        for match in TEST_REF.finditer(page.read_text(encoding="utf-8")):
            path, name, same_file = match.groups()
            current = path or current  # `::name` continues the file named before it
            test = name or same_file
            source = ROOT / current
            if not source.is_file() or not re.search(rf"^(async )?def {test}\(", source.read_text(), re.M):
                missing.append(f"{page.name}: {current}::{test}")
    assert missing == []
