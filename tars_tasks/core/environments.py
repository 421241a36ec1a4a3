"""A project's services as one environment deploys them: overlays found, checked and merged (see overlays).

Every overlay is checked in every run, with or without `--env`: a `values.<env>.yaml` or `environments/<env>.yaml`
for an environment invoke.yaml does not define, or a `values.<env>.yaml` in a folder that is no service, is an
error. With an environment, `environments/<env>.yaml` is laid over every service, then its own `values.<env>.yaml`.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tars_tasks.core.errors import Problem
from tars_tasks.core.overlays import ENV_DIR, Layer, merge_layers, overlay_env, shared_key_problems
from tars_tasks.core.services import Discovery, Service, display_path, read_values
from tars_tasks.core.settings import Settings
from tars_tasks.core.yamlfile import YamlFileError


def _unknown(env: str | None, settings: Settings) -> str:
    known = ", ".join(settings.environments) or "none: define them under tars.environments in invoke.yaml"
    return f"overlay for unknown environment {env!r} (known: {known})"


def env_files(settings: Settings) -> dict[str, Path]:
    """environments/<env>.yaml files by environment name: every entry but folders (a FIFO, a device or a
    symlink out of the repository is one too, refused when read like a service overlay)."""
    folder = settings.root / ENV_DIR
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in (".yaml", ".yml") and not p.is_dir()}


def overlay_problems(discovery: Discovery, settings: Settings) -> list[Problem]:
    """Overlays of unknown environments or of no service."""
    root, out = settings.root, []
    dirs = {s.dir for s in discovery.services}
    for path in discovery.overlays:
        env, display = overlay_env(path), display_path(path, root)
        if env not in settings.environments:
            out.append(Problem(display, 1, 1, "", _unknown(env, settings)))
        elif path.parent not in dirs:
            out.append(Problem(display, 1, 1, "", "overlay of no service: this folder has no values.yaml"))
    for env, path in env_files(settings).items():
        if env not in settings.environments:
            out.append(Problem(display_path(path, root), 1, 1, "", _unknown(env, settings)))
        elif not path.is_file():  # checked in every run, as service overlays are: its located refusal
            _read(path, settings, out)
    return out


def _read(path: Path, settings: Settings, problems: list[Problem]) -> tuple[dict, Layer] | None:
    display = display_path(path, settings.root)
    try:
        values, text = read_values(path, display, settings.root, settings.max_values_bytes)
    except YamlFileError as exc:
        problems.append(exc.problem)
        return None
    layer = Layer(display, text)
    problems.extend(shared_key_problems(values, layer))
    return values, layer


def apply_environment(discovery: Discovery, settings: Settings) -> Discovery:
    """The discovery with every service's values merged for ``settings.env`` (unchanged without one), and the
    overlays' problems added."""
    problems = list(discovery.problems) + overlay_problems(discovery, settings)
    env = settings.env
    if not env:
        return replace(discovery, problems=problems)
    common: list[tuple[dict, Layer]] = []
    env_file = env_files(settings).get(env)
    if env_file is not None and env_file.is_file():  # one that is not was refused by overlay_problems
        read = _read(env_file, settings, problems)
        common = [read] if read else []
    own = {path.parent: path for path in discovery.overlays if overlay_env(path) == env}
    services = []
    for service in discovery.services:
        layers = list(common)
        if service.dir in own:
            read = _read(own[service.dir], settings, problems)
            layers += [read] if read else []
        services.append(_merged(service, layers) if layers else service)
    return replace(discovery, services=services, problems=problems)


def _merged(service: Service, layers: list[tuple[dict, Layer]]) -> Service:
    values, origin = merge_layers([service.values] + [v for v, _ in layers])
    return replace(service, values=values, layers=[Layer(service.display, service.text)] + [lay for _, lay in layers],
                   origin=origin)
