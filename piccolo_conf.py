"""Lets the bare ``piccolo`` CLI, run from the repository root, find our configuration."""

from survey_app.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
