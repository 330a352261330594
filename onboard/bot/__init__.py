"""The core of the bot: settings, the app factory, the CLI and the domain services.

Services own the rules and the transaction; they talk to storage below and messages beside.
"""
