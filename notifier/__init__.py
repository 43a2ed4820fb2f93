"""Habarlama: the platform (app factory, configuration, staff, delivery)."""

from notifier.app import create_app

__all__ = ["create_app"]
