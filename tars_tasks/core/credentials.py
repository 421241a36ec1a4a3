"""The environment variables this tool reads credentials or keys from: one list, so that every place that must
keep them to itself uses the same one. `build.env` and `build.secrets` may name none of them (a located error
at validate; the compile step never gets them either), and the values of the secret ones are redacted by value
from everything shown (core/redact.py).

- TARS_REGISTRY_USERNAME / TARS_REGISTRY_PASSWORD: the home registry's login (image/registry.py);
- TARS_AGE_KEY / TARS_AGE_KEY_FILE: the age identity that decrypts secrets/<env>.age (core/secrets.py);
- TARS_SECRET_<NAME>: the deploy-time secrets themselves (core/secrets.py);
- DOCKER_CONFIG (the folder of the docker config and its logins), DOCKER_AUTH_CONFIG (a docker config's JSON
  as CI systems pass it), DOCKER_CERT_PATH (the engine's TLS client key) and KUBECONFIG (the cluster's
  credentials).
"""
from __future__ import annotations

from collections.abc import Mapping

# variables whose value is itself a secret (redacted by value wherever it appears)
SECRET_VALUES = ("TARS_REGISTRY_PASSWORD", "TARS_AGE_KEY", "DOCKER_AUTH_CONFIG")
# variables that name where credentials or keys are (their values are paths, not secrets)
CREDENTIAL_PLACES = ("TARS_AGE_KEY_FILE", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "KUBECONFIG")
CREDENTIAL_ENV = ("TARS_REGISTRY_USERNAME", *SECRET_VALUES, *CREDENTIAL_PLACES)
SECRET_PREFIX = "TARS_SECRET_"


def is_credential(name: str) -> bool:
    """True for a variable this tool reads a credential or a key from."""
    return name in CREDENTIAL_ENV or name.startswith(SECRET_PREFIX)


def secret_env_names(environ: Mapping[str, str]) -> list[str]:
    """The variables of ``environ`` whose values are secrets: SECRET_VALUES and every TARS_SECRET_<NAME>."""
    return [n for n in environ if n in SECRET_VALUES or n.startswith(SECRET_PREFIX)]
