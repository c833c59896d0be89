"""gitpod-requirements-exporter: watches the requirements of a self-hosted Gitpod installation."""

__version__ = "0.2.0"
