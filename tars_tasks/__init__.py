"""tars-tasks: build, chart and deploy a monorepo of TARS services to Kubernetes."""
__version__ = "0.1.0"
