"""Messages: Jinja2 templates of Block Kit messages and modals, and their renderer.

The renderer escapes user text and checks every result against Slack's limits.
"""
