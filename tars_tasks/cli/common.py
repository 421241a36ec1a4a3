"""What every invoke task shares: the task decorator (no short flags), settings from invoke's config, and
turning expected failures into a one-line message and an exit code."""
from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from invoke import Context, Exit, task

from tars_tasks.core.errors import InputError, TarsError, UsageError
from tars_tasks.core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
ENV_HELP = "environment from tars.environments in invoke.yaml (default: INVOKE_TARS_ENV, else the base settings)"


def tars_task(*args: Any, **kwargs: Any) -> Callable[[F], Any]:
    """invoke's @task without short flags (one letter meant different flags), and with `--env NAME` on every
    task: the flag selects the environment whose settings `settings_of` returns."""
    kwargs.setdefault("auto_shortflags", False)
    kwargs["help"] = {**kwargs.get("help", {}), "env": ENV_HELP}

    def decorate(fn: F) -> Any:
        @functools.wraps(fn)
        def wrapper(c: Context, *a: Any, env: str | None = None, **kw: Any) -> Any:
            if env is not None:
                c.config["tars"]["env"] = env
            return fn(c, *a, **kw)

        sig = inspect.signature(fn)
        extra = inspect.Parameter("env", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation="str | None")
        wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
        return task(*args, **kwargs)(wrapper)

    return decorate


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def settings_of(c: Context, env: str | None = None) -> Settings:
    """The settings of the environment chosen by --env / INVOKE_TARS_ENV, or of ``env`` when given."""
    tars = c.config.get("tars", {})
    if not hasattr(tars, "items"):  # e.g. `tars: 3` in a file invoke merged without asking us
        raise UsageError(f"tars: expected a mapping of settings, got {tars!r}")
    data = _plain(tars)
    if env is not None:
        data["env"] = env
    return Settings.from_mapping(data)


def reports_errors(fn: F) -> F:
    """Turn expected failures into a one-line message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(c, *args, **kwargs)
        except InputError as exc:
            for p in exc.problems:
                print(p, file=sys.stderr)
            raise Exit(f"{len(exc.problems)} problem(s) found", code=1) from None
        except TarsError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


SERVICE_HELP = "App.Server id of a service; repeat for several (default: all)"
