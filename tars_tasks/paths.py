"""Where the tool's own assets live (the tool is installed from its checkout: `pip install -e`)."""
from pathlib import Path

TOOL_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = TOOL_ROOT / "schema" / "values.schema.json"
CHART_DIR = TOOL_ROOT / "helm-template"
DOCKERFILES_DIR = Path(__file__).resolve().parent / "dockerfiles"
