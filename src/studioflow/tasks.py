"""Imports every feature's task module so the worker knows every task. Add new ones here."""

from studioflow.platform import tasks as platform_tasks

__all__ = ["platform_tasks"]
