"""The web app and REST API of revaxis (`revaxis serve`)."""

from revaxis.web._app import create_app

__all__ = ["create_app"]
