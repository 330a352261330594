"""Benchmarks of the bot, run with `python -m bench` (or `./dev bench`) from the repo root.

Owns nothing but the package; each module measures one thing and writes its figures to docs/.
"""
