#!/usr/bin/python3
"""Growth plots for the comparison harness: one PNG per figure, onemap and its peer against the
city size (log-scaled parcels axis), from benches/compare/results/growth-*.json.

    plot.py GROWTH_JSON OUT_DIR
"""
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

table = json.loads(Path(sys.argv[1]).read_text())
out = Path(sys.argv[2])
sizes = table["sizes"]
drawn = []


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:80]


def draw(name, unit, series):
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for label, values, style in series:
        pts = [(n, v) for n, v in zip(sizes, values) if v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("parcels")
    ax.set_ylabel(unit)
    ax.set_title(name, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"growth-{slug(name)}.png"
    fig.savefig(path)
    plt.close(fig)
    drawn.append(path.name)


for f in table["figures"]:
    peer = "Martin" if "Martin" in f["work"] else "PostGIS" if "PostGIS" in f["work"] else "ogr2ogr" if "ogr2ogr" in f["work"] else "peer"
    draw(f["work"], f["unit"] or "", [("onemap", f["onemap"], "o-"), (peer, f["peer"], "s--")])
if any(v is not None for v in table["rss_mb_serving"]):
    draw("onemap serve peak RSS, every layer loaded", "MB", [("onemap", table["rss_mb_serving"], "o-")])
print(f"plots: {', '.join(drawn)}")
