"""Secrets out of manifests shown in a diff: every value of a Secret's data/stringData, every scalar under a
secret-looking key, and secret-looking `key = value` / `key: value` lines of config file content (TConfig)."""
from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|apikey|api_key|private_?key|credential)")
SECRET_LINE = re.compile(r"(?im)^(\s*[\w.-]*(?:password|passwd|secret|token|apikey|api_key|private_?key|credential)"
                         r"[\w.-]*\s*[=:]\s*)(\S.*?)\s*$")


def mask_text(text: str) -> str:
    return SECRET_LINE.sub(lambda m: m.group(1) + MASK, text)


def mask_value(value: Any) -> Any:
    """Scalars under secret-looking keys masked, text masked line by line; maps and lists walked."""
    if isinstance(value, dict):
        if SECRET_KEY.search(str(value.get("name", ""))) and isinstance(value.get("value"), (str, int, float)):
            value = {**value, "value": MASK}  # an env var or similar {name: DB_PASSWORD, value: ...}
        return {k: (MASK if SECRET_KEY.search(str(k)) and not isinstance(v, (dict, list)) and v not in ("", None)
                    else mask_value(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, str) and "\n" in value or isinstance(value, str) and SECRET_LINE.search(value):
        return mask_text(value)
    return value


def mask_object(obj: dict[str, Any]) -> dict[str, Any]:
    """One Kubernetes object as it may be shown."""
    if obj.get("kind") == "Secret":
        hidden = {k: dict.fromkeys(obj[k], MASK) for k in ("data", "stringData") if isinstance(obj.get(k), dict)}
        obj = {**obj, **hidden}
    return mask_value(obj)
