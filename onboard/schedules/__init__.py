"""The scheduler and its periodic sweeps.

A sweep asks the database what is due as of a moment and writes it to the outbox.
"""
