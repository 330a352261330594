"""The stand-in's Web API methods, by family; `METHODS` maps each name to its function."""

from onboard.standin.methods import apps, conversations, files, messages, people, views
from onboard.standin.methods.api import METHODS, Handler

__all__ = ["METHODS", "Handler", "apps", "conversations", "files", "messages", "people", "views"]
