"""The digest's chart: clients per stage and the time-to-onboard trend, as a PNG.

matplotlib draws off-screen (Agg); the text of the digest is complete without the picture.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from onboard.bot.digest import Digest


def digest_chart(digest: Digest) -> bytes:
    figure, (stages, trend) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    try:
        names = [name[:28] for name, _, _ in digest.stages] or ["(no clients)"]
        counts = [count for _, count, _ in digest.stages] or [0]
        stages.barh(names[::-1], counts[::-1], color="#457b9d")
        stages.set_title("Clients per stage")
        stages.set_xlabel("clients")
        stages.xaxis.get_major_locator().set_params(integer=True)
        labels = [label for label, _ in digest.trend]
        values = [value if value is not None else float("nan") for _, value in digest.trend]
        trend.plot(labels, values, marker="o", color="#e63946")
        trend.set_title("Median days to onboard, by quarter")
        known = [v for v in values if v == v]  # NaN marks a quarter with nothing completed
        trend.set_ylim(0, max([*known, 1.0]) * 1.25)
        trend.tick_params(axis="x", labelrotation=20, labelsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
