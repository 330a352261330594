"""Bolt listeners, one module per Slack surface.

Each parses the payload, acks within Slack's three seconds, calls one service and renders.
"""
