"""The pieces every self-contained HTML report shares: one stylesheet, escaping, inline PNG plots.

Reports (audit, defend, glitch, and later LM inversion) are single files that make no request: CSS
is inline, plots are base64 PNG data URIs, there is no script, and each page sets a
Content-Security-Policy of ``default-src 'none'`` (plus inline styles and data: images) so that a
browser refuses any request the page could make. Recovered text is always escaped with :func:`e`.

Layer rule: imports only numpy and matplotlib (lazily); reports import this, never the reverse.
"""
from __future__ import annotations

import base64
import html as _html
import io

__all__ = ["CSS", "CSP", "e", "pct", "num", "png", "figure", "page"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
*{box-sizing:border-box}body{font:15px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
margin:0;color:#1d2330;background:#f4f5f8}main{max-width:1180px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px}.sub{color:#5a6275;font-size:13px;word-break:break-all}
.verdict{font-size:18px;background:#fff;border-left:6px solid #c62828;padding:16px 20px;margin:18px 0;border-radius:4px}
.verdict.low{border-left-color:#f0b35a}.banner{padding:12px 16px;border-radius:4px;margin:10px 0;font-weight:600}
.warn{background:#fff4e5;border:1px solid #f0b35a}.bad{background:#fdecea;border:1px solid #e57373}
.ok{background:#edf7ed;border:1px solid #81c784}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.card{background:#fff;border-radius:6px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:28px;font-weight:700}.card .k{color:#5a6275;font-size:13px}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:14px}
.plots figure{margin:0;background:#fff;border-radius:6px;padding:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.plots img{width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{border-bottom:1px solid #e3e6ed;padding:7px 9px;text-align:left;vertical-align:top}
th{background:#eceff5;position:sticky;top:0}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td.id{white-space:nowrap}
.hit{background:#ffd0c9;border-radius:2px}.miss{color:#8a91a3}.pii{border-bottom:2px dashed #7b8294;font-weight:600}
.pii.got{border-bottom:3px solid #c62828}.tag{font-size:11px;color:#fff;background:#7b8294;border-radius:3px;padding:0 4px;margin-left:3px}
.tag.got{background:#c62828}.legend span{margin-right:16px}dl{display:grid;grid-template-columns:220px 1fr;gap:4px 12px;
background:#fff;padding:14px;border-radius:6px}dt{color:#5a6275}dd{margin:0;word-break:break-word}
.small{font-size:13px;color:#5a6275}
"""


def e(x) -> str:
    """``x`` as escaped HTML text (None is empty)."""
    return _html.escape("" if x is None else str(x))


def pct(x, digits: int = 0) -> str:
    """A fraction as a percentage, or n/a."""
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def num(x, fmt: str = "{:.1f}") -> str:
    """A number formatted, or n/a."""
    return "n/a" if x is None else fmt.format(x)


def png(fig) -> str:
    """A matplotlib figure as a ``data:image/png;base64`` URI (rendered with Agg, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure(title: str, size: tuple[float, float] = (6.2, 3.4)):
    """A figure with one axis, titled on the left, without top and right spines."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.add_subplot(111)
    ax.set_title(title, fontsize=11, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def page(title: str, body: str, extra_css: str = "") -> str:
    """A whole self-contained page: doctype, CSP, the shared stylesheet, and ``body`` inside main."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}{extra_css}</style></head>"
            f"<body><main>{body}</main></body></html>\n")
