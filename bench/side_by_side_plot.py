#!/usr/bin/env python3
"""Draws the table printed by bench/side-by-side.sh as one SVG (issue 19's plot).

Usage: bench/side_by_side_plot.py TABLE.md OUT.svg [TITLE]

TABLE.md holds the script's output (other lines are ignored); each row is one target:
| name | produce MB/s | consume MB/s | half-max rate | publish p99 / p99.9 | e2e p99 / p99.9 |
  CPU-s per GB produced | per GB consumed |
Three panels, one group of bars per target: throughput (produce at max, consume), latency at
half the maximum (publish p99 and p99.9, end-to-end p99; log scale, so 3 ms and 3 s both show),
and broker CPU seconds per GB (produced, consumed). Standard library only.
"""

import math
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def parse(text):
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or not line.lstrip().startswith("|"):
            continue
        try:
            pub99, pub999 = (float(x) for x in cells[4].split("/"))
            e2e99, _ = (float(x) for x in cells[5].split("/"))
            row = {
                "name": cells[0],
                "produce": float(cells[1]),
                "consume": float(cells[2]),
                "pub99": pub99,
                "pub999": pub999,
                "e2e99": e2e99,
                "cpu_p": float(cells[6]) if cells[6] != "n/a" else 0.0,
                "cpu_c": float(cells[7]) if cells[7] != "n/a" else 0.0,
            }
        except ValueError:
            continue  # the header
        if row["name"] not in [r["name"] for r in rows]:
            rows.append(row)
    return rows


def panel(out, x0, y0, w, h, title, unit, rows, series, log=False):
    """One bar chart: `series` is [(label, key)], a bar per series in each target's group."""
    values = [r[k] for r in rows for _, k in series]
    top = max(values + [1e-9])
    if log:
        lo = 10 ** math.floor(math.log10(max(min(v for v in values if v > 0), 0.1)))
        hi = 10 ** math.ceil(math.log10(top))

        def scale(v):
            v = max(v, lo)
            return (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

        ticks = [lo * 10**i for i in range(int(round(math.log10(hi / lo))) + 1)]
    else:
        step = 10 ** math.floor(math.log10(top))
        hi = math.ceil(top / step) * step

        def scale(v):
            return v / hi

        ticks = [step * i for i in range(int(round(hi / step)) + 1)]
    out.append(f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-weight="bold">'
               f'{escape(title)}</text>')
    left, bottom = x0 + 50, y0 + h - 40
    plot_h = h - 50
    for t in ticks:
        y = bottom - scale(t) * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{t:g}"
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
                   f'{label}</text>')
    out.append(f'<text x="{x0 + 10}" y="{y0 + plot_h / 2}" font-size="10" '
               f'transform="rotate(-90 {x0 + 10} {y0 + plot_h / 2})" text-anchor="middle">'
               f'{escape(unit)}</text>')
    group_w = (x0 + w - left) / max(len(rows), 1)
    bar_w = group_w * 0.8 / len(series)
    for i, r in enumerate(rows):
        gx = left + i * group_w + group_w * 0.1
        for j, (_, key) in enumerate(series):
            v = r[key]
            bh = scale(v) * plot_h
            bx = gx + j * bar_w
            out.append(f'<rect x="{bx:.1f}" y="{bottom - bh:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{bh:.1f}" fill="{COLORS[j % len(COLORS)]}">'
                       f'<title>{escape(r["name"])}: {v:g} {escape(unit)}</title></rect>')
            out.append(f'<text x="{bx + bar_w / 2:.1f}" y="{bottom - bh - 2:.1f}" '
                       f'text-anchor="middle" font-size="8">{v:.3g}</text>')
        out.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'font-size="10">{escape(r["name"])}</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{x0 + w}" y2="{bottom}" stroke="#000"/>')
    lx = left
    for j, (label, _) in enumerate(series):
        out.append(f'<rect x="{lx}" y="{bottom + 22}" width="10" height="10" '
                   f'fill="{COLORS[j % len(COLORS)]}"/>')
        out.append(f'<text x="{lx + 14}" y="{bottom + 31}" font-size="10">{escape(label)}</text>')
        lx += 14 + 7 * len(label) + 16


def render(rows, title):
    w, ph = 900, 260
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{3 * ph + 60}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           f'{escape(title)}</text>']
    panel(out, 10, 50, w - 20, ph - 10, "Throughput (acks=all, 1 KB, 16 partitions)", "MB/s",
          rows, [("produce, max rate", "produce"), ("consume (kcat, from the start)", "consume")])
    panel(out, 10, 50 + ph, w - 20, ph - 10, "Latency at half the maximum rate (log scale)",
          "ms", rows, [("publish p99", "pub99"), ("publish p99.9", "pub999"),
                       ("end-to-end p99", "e2e99")], log=True)
    panel(out, 10, 50 + 2 * ph, w - 20, ph - 10, "Broker CPU per GB (all brokers together)",
          "CPU-s/GB", rows, [("produced", "cpu_p"), ("consumed", "cpu_c")])
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: side_by_side_plot.py TABLE.md OUT.svg [TITLE]")
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = parse(f.read())
    if not rows:
        sys.exit(f"no result rows in {sys.argv[1]}")
    title = sys.argv[3] if len(sys.argv) > 3 else "bench/side-by-side.sh"
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(render(rows, title))


if __name__ == "__main__":
    main()
