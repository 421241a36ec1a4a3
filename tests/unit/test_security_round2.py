"""Issue 22 (security round 2), what needs no cluster and no docker: the tool's own credentials refused in
`build.env`/`build.secrets` (item 3), secret values kept byte for byte by `secrets set/edit` (item 6), saved
plans bound to their namespace and context (item 7), control characters escaped (item 8), symlinks under dist/
(item 9), `build.inputs` that git does not track (item 10), FIFOs and oversized files named with --service
(item 11), kubeconfig exec plugins (item 12)."""
from __future__ import annotations

import io
import os

import pytest

from support import Monorepo
from tars_tasks.core import redact
from tars_tasks.image.images import compile_env, run_compile

AGE_KEY = "AGE-SECRET-KEY-1QQPZ5V8Z9W4C2X5N7Y2K4J6H8G0F2D4S6A8Q0W2E4R6T8Y0U2I4O6PQZ"


# -- item 3: the tool's credentials never reach a compile step -----------------------------------------------

def test_build_env_and_secrets_refuse_every_credential_of_the_tool(repo: Monorepo):
    repo.service("A", "B", """\
        build:
          env: [GOFLAGS, TARS_AGE_KEY, DOCKER_AUTH_CONFIG, TARS_REGISTRY_PASSWORD, TARS_REGISTRY_USERNAME, KUBECONFIG,
                DOCKER_CONFIG, DOCKER_CERT_PATH, TARS_SECRET_PAY_API_KEY]
          secrets: [NPM_TOKEN, TARS_AGE_KEY_FILE]
        """)
    found = [p for p in repo.problems() if "credential or key of this tool" in p]
    named = [p.split(": ")[1] for p in found]
    assert named == ["build.env[1]", "build.env[2]", "build.env[3]", "build.env[4]", "build.env[5]", "build.env[6]",
                     "build.env[7]", "build.env[8]", "build.secrets[1]"]
    assert found[0] == ("services/A/B/values.yaml:5:18: build.env[1]: TARS_AGE_KEY holds a credential or key of this "
                        "tool itself: the compile step never gets it (see docs/security.md)")
    assert not [p for p in repo.problems() if "warning" in p and "TARS_AGE_KEY" in p]  # an error, not a warning


def test_the_compile_step_never_gets_a_tool_credential_and_its_value_is_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("TARS_AGE_KEY", AGE_KEY)
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", '{"auths": {"r.io": {"auth": "dXNlcjpkb2NrZXItYXV0aA"}}}')
    environ = {"PATH": os.environ["PATH"], "TARS_AGE_KEY": AGE_KEY, "DOCKER_AUTH_CONFIG": "x" * 8, "GOFLAGS": "-v"}
    env = compile_env(["GOFLAGS", "TARS_AGE_KEY", "DOCKER_AUTH_CONFIG"], [], environ, tmp_path)
    assert env == {"PATH": os.environ["PATH"], "GOFLAGS": "-v"}
    log = io.StringIO()
    code, tail = run_compile(["sh", "-c", "echo key=$K; echo $A"], tmp_path,
                             {"PATH": os.environ["PATH"], "K": AGE_KEY,
                              "A": os.environ["DOCKER_AUTH_CONFIG"]}, 60, log)
    assert code == 0 and tail == ["key=***", "***"]
    assert AGE_KEY not in log.getvalue() and "dXNlcjpkb2NrZXItYXV0aA" not in log.getvalue()
    assert redact.redact_text(f"x {AGE_KEY} y") == "x *** y"


# -- item 6: secret values are strings, byte for byte --------------------------------------------------------

TRICKY = ["0123", "0x1F", "12:30", "1_000", "1.50", "yes", "~", "null", "1e3", "0o17", ".inf", "2026-12-05"]


def test_secrets_set_and_edit_keep_every_value_byte_for_byte(tmp_path):
    from pyrage import x25519

    from tars_tasks.core.secret_files import edit_secrets, read_all, set_secret

    environ = {"TARS_AGE_KEY": str(x25519.Identity.generate())}
    names = [f"V{i}" for i in range(len(TRICKY))]
    for name, value in zip(names, TRICKY):
        set_secret(tmp_path, "prod", name, value, environ)
    assert read_all(tmp_path, "prod", environ) == dict(zip(names, TRICKY))

    def typed_by_hand(path):  # what a person types in the editor: the values unquoted
        path.write_text("".join(f"{n}: {v}\n" for n, v in zip(names, TRICKY)) + "NEW: 0123\n")

    assert edit_secrets(tmp_path, "prod", typed_by_hand, environ) is True
    assert read_all(tmp_path, "prod", environ) == {**dict(zip(names, TRICKY)), "NEW": "0123"}
    assert edit_secrets(tmp_path, "prod", lambda path: None, environ) is False  # a round trip changes nothing


# -- item 7: a saved plan runs only in the namespace and kube context it was made for -------------------------

class NoImages:
    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        return False


def test_a_saved_plan_is_bound_to_its_namespace_and_kube_context(repo: Monorepo, tmp_path, monkeypatch):
    import json

    from tars_tasks import Options, UsageError, make_plan
    from tars_tasks.core.files import FileLister
    from tars_tasks.core.helm import Helm
    from tars_tasks.deploy.release import load_saved_plan

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    project = repo.load(namespace="tars")
    plan, _ = make_plan(project, Options(dry_run=True), registries=NoImages())
    assert (plan.namespace, plan.kube_context) == ("tars", "prod-eu")
    saved = tmp_path / "p.json"
    plan.save(saved)
    data = json.loads(saved.read_text())
    assert (data["namespace"], data["kubeContext"]) == ("tars", "prod-eu")

    def refused(opts: Options | None = None) -> str:
        with pytest.raises(UsageError) as exc:
            load_saved_plan(project, opts or Options(), saved, Helm("helm"), FileLister(repo.root))
        return str(exc.value)

    saved.write_text(json.dumps({**data, "namespace": "kube-system"}))
    assert refused() == (f"{saved}: the plan was made for namespace kube-system, this run is for namespace tars "
                         "(--namespace, else tars.namespace): make a new plan for this namespace (a plan made with "
                         "`plan --namespace N` runs with `release --plan FILE --namespace N`)")
    saved.write_text(json.dumps(data))
    assert "made for namespace tars, this run is for namespace other" in refused(Options(namespace="other"))
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: staging\n")
    assert refused() == (f"{saved}: the plan was made for kube context prod-eu, this run is for kube context staging "
                         "(tars.kube_context, else the kubeconfig's current-context): make a new plan against this "
                         "cluster")
    same = repo.load(namespace="tars", kube_context="prod-eu")  # named in the settings: the plan's cluster
    loaded, _, _ = load_saved_plan(same, Options(namespace="tars"), saved, Helm(str(tmp_path / "no-helm")),
                                   FileLister(repo.root))
    assert (loaded.namespace, loaded.kube_context) == ("tars", "prod-eu")


# -- item 8: control characters from input are escaped in everything shown or logged ---------------------------

def test_a_saved_plans_forged_reasons_print_escaped_on_one_line(tmp_path):
    from tars_tasks.cli.output import ProgressView, TableReporter
    from tars_tasks.core.fsio import open_log
    from tars_tasks.plan.model import Plan, ServicePlan

    forged = "values changed\nok: 7 service(s) valid\x1b[31m\x9b2J\r"
    plan = Plan([ServicePlan("A.B", True, [forged], ["deploy"], "r/a/b:1", 0)], [["A.B"]], "tars",
                notes=["note\x1b]0;title\x07"])
    text = TableReporter().plan(plan)
    assert text.splitlines() == [
        "WAVE  SERVICE  CHANGED  STEPS   WHY",
        "0     A.B      yes      deploy  values changed\\nok: 7 service(s) valid\\x1b[31m\\x9b2J\\r",
        "note: note\\x1b]0;title\\x07"]
    stream = io.StringIO()
    ProgressView(["A.B"], stream=stream, live=False)("A.B", "deploy", forged)
    assert stream.getvalue().count("\n") == 1 and "\x1b" not in stream.getvalue()
    with open_log(tmp_path / "x.log") as log:
        log.write(f"container said: {forged}\n")
    assert (tmp_path / "x.log").read_text() == \
        "container said: values changed\nok: 7 service(s) valid\\x1b[31m\\x9b2J\\r\n"


# -- item 9: no folder under the project on the way to an output is a symlink ----------------------------------

def test_logs_and_files_under_a_symlinked_folder_are_refused_never_written_through(tmp_path):
    from tars_tasks.core.fsio import SymlinkedFolder, open_log, write_atomic

    root, target = tmp_path / "repo", tmp_path / "elsewhere"
    (root / "dist").mkdir(parents=True)
    target.mkdir()
    (root / "dist" / "logs").symlink_to(target)
    with open_log(root / "dist/logs/A.B.deploy.log", root) as log:
        log.write("secretless but still not there\n")
    assert log.error == (f"log {root}/dist/logs/A.B.deploy.log not written: dist/logs is a symlink: outputs are "
                         "written only through real folders, never through a symlink (remove it)")
    with pytest.raises(SymlinkedFolder, match="^dist/logs is a symlink"):
        write_atomic(root / "dist/logs/deep/er/x.json", b"{}", within=root)
    assert list(target.iterdir()) == []
    write_atomic(tmp_path / "chosen" / "x.json", b"{}", within=root)  # outside the project: the user's choice
    assert (tmp_path / "chosen" / "x.json").read_bytes() == b"{}"
