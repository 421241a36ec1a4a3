"""What every invoke task shares: the task decorator (no short flags), settings from invoke's config, and
turning expected failures into a one-line message and an exit code."""
from __future__ import annotations

import contextlib
import functools
import inspect
import io
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO, TypeVar

from invoke import Context, Exit, task

from tars_tasks.core.errors import InputError, TarsError, UsageError
from tars_tasks.core.escape import escape_lines
from tars_tasks.core.redact import Redacted, redact_text
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


class Redacting(io.TextIOBase):
    """A text stream that hides every known secret value (core/redact.py) in what is written to it: whatever a
    task prints, a report, a diff, a note or progress, passes here, so no single printer can forget it. A JSON
    document comes as `Redacted` (redacted as data before it was encoded) and is written unchanged: rewriting
    encoded JSON as text could break it."""

    def __init__(self, inner: TextIO):
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(text if isinstance(text, Redacted) else redact_text(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it writable
        return getattr(self.inner, "encoding", "utf-8")


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """stdout and stderr redacted by value while a task runs (secrets resolved during it are known by then)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Redacting(out), Redacting(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def reports_errors(fn: F) -> F:
    """Turn expected failures into a one-line message and an exit code, never a traceback; everything the task
    prints, and the message it ends with, is redacted by value."""

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        from tars_tasks.cli.interrupt import Interrupts, Stopped

        try:
            with redacted_output(), Interrupts(cooperative=False):  # a signal stops the task's children first
                return fn(c, *args, **kwargs)
        except Stopped as exc:
            raise Exit(f"interrupted by {exc}", code=exc.code) from None
        except InputError as exc:
            for p in exc.problems:
                print(redact_text(str(p)), file=sys.stderr)
            raise Exit(f"{len(exc.problems)} problem(s) found", code=1) from None
        except TarsError as exc:
            raise Exit(escape_lines(redact_text(f"error: {exc}")), code=exc.exit_code) from None
        except Exit as exc:
            if isinstance(exc.message, str):
                exc.message = escape_lines(redact_text(exc.message))
            raise
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


SERVICE_HELP = "App.Server id of a service; repeat for several (default: all)"
