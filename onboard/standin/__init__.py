"""Slack Web API stand-in: a real HTTP server keeping one workspace in memory."""
