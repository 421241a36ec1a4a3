"""Two services that would overwrite each other in the cluster or the registry.

Ids that differ only in case (`Base.HelloServer`, `base.helloserver`) both validate on their own, yet
deploy to the same helm release and TServer (`base-helloserver`), and may push to the same image
repository: every release would overwrite the other one, forever. Any such pair is an error in each file,
naming the other. So is an `appConfig` name declared by two services of one app (app_config_problems).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.spec import image_name, pinned_image

# what collides, where to point in the file, the value that must be unique
Key = tuple[str, Callable[[Service], list], Callable[[Service], str]]


def collision_problems(services: list[Service], settings: Settings | None = None) -> list[Problem]:
    """One problem per service and per service it collides with, located at the first field that collides."""
    named = [s for s in services if s.app and s.server]
    keys: list[Key] = [("id (ignoring case)", lambda s: ["app"], lambda s: s.id.lower()),
                       ("helm release and TServer name", lambda s: ["server"], lambda s: s.name)]
    if settings is not None:
        # a pinned image is never pushed, so it cannot overwrite the repository another service builds into
        keys.append(("image repository", _image_field,
                     lambda s: f"pinned {s.id}" if pinned_image(s) else image_name(s, settings).lower()))
    clashes: dict[tuple[int, int], list[str]] = defaultdict(list)  # (index, other's index) -> what collides
    fields: dict[tuple[int, int], list] = {}
    for what, locate, key in keys:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(named):
            groups[key(s)].append(i)
        for value, group in groups.items():
            for i in group:
                for j in group:
                    if i != j and named[i].id != named[j].id:  # the same id twice: discovery's "duplicate id"
                        clashes[(i, j)].append(f"{what} {value!r}")
                        fields.setdefault((i, j), locate(named[i]))
    problems = []
    for (i, j), whats in sorted(clashes.items()):
        other = named[j]
        problems.append(named[i].problem(fields[(i, j)], f"collides with {other.id} ({other.display}): same "
                                                         f"{', '.join(whats)}; one would overwrite the other"))
    return problems + app_config_problems(named)


def app_config_problems(services: list[Service]) -> list[Problem]:
    """An `appConfig` is the app's config file (a TConfig with no server), not the service's: two services of an
    app declaring one name would each activate their own version on deploy, the framework deactivating the
    other's, on every release. One problem per declaring service and per other one, at its entry's name."""
    owners: dict[tuple[str, str], list[tuple[Service, int]]] = defaultdict(list)
    for s in services:
        items = s.values.get("appConfig")
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                owners[(s.app, item["name"])].append((s, i))
    problems = []
    for (app, name), group in owners.items():
        for s, i in group:
            for other, _ in group:
                if other.id != s.id:
                    problems.append(s.problem(["appConfig", i, "name"], (
                        f"collides with {other.id} ({other.display}): both declare app config {name!r} of app {app}, "
                        "which the app's services share; each deploy would deactivate the other's version: declare "
                        "it in one service only")))
    return problems


def _image_field(s: Service) -> list:
    """Where an image repository comes from: repo.image when written, else the app and server names."""
    repo = s.values.get("repo")
    return ["repo", "image"] if isinstance(repo, dict) and repo.get("image") else ["server"]
