"""The benchmark report: the headline rows of every workload as a Markdown table (with the
machine, thread count and versions it was measured with), the same as JSON, and a bar chart
of dropnet's advantage over each peer and of the limits it reaches."""

from __future__ import annotations

import json
import os
from typing import Any

from .common import fmt_num
from .workloads.base import Headline

NAMES = {"dropnet": "dropnet", "keras": "Keras", "torch": "PyTorch", "numpy": "numpy"}
ORDER = ("dropnet", "keras", "torch", "numpy")


def _frameworks(headlines: list[Headline]) -> list[str]:
    seen = {fw for h in headlines for fw in h.values}
    return [fw for fw in ORDER if fw in seen] + sorted(seen - set(ORDER))


def _times(x: float) -> str:
    """2.3×, 23×, 2,300× (two significant figures, no exponent)."""
    if x >= 100:
        return f"{float(f'{x:.2g}'):,.0f}×"
    return f"{x:.2g}×" if x >= 1 else f"{x:.2f}×"


def _met(h: Headline) -> str:
    if not h.target:
        return ""
    return {True: "yes", False: "**no**", None: "not measured"}[h.met]


def machine_lines(context: dict[str, Any], options: dict[str, Any]) -> list[str]:
    m, v, build = context["machine"], context["versions"], context.get("dropnet_build", {})
    cores = f"{m['logical_cores']} logical cores"
    if m.get("physical_cores"):
        cores += f" ({m['physical_cores']} physical)"
    isa = build.get("isa") or build.get("cpu_capability") or build.get("simd")
    versions = ", ".join(f"{k} {val}" for k, val in v.items())
    lines = [
        f"- CPU: {m['cpu_model']}, {cores}; flags {', '.join(m.get('cpu_flags', [])) or '-'}",
        f"- Python {m['python']} on {m['platform']}",
        f"- Versions: {versions}" + (f"; dropnet kernels: {isa}" if isa else ""),
        f"- Run: {context['timestamp']}, {options['repeats']} repeats per framework and case "
        f"(median shown), frameworks interleaved"
        + (", quick sizes (a smoke test, not the reference figures)" if options["quick"] else "")
        + f"; {options['elapsed_seconds']:.0f} s in all",
    ]
    if context.get("git", {}).get("commit"):
        g = context["git"]
        lines.append(
            f"- dropnet source: {g['commit'][:12]}" + (" (modified)" if g["dirty"] else "")
        )
    return lines


def markdown_table(headlines: list[Headline], quick: bool = False) -> str:
    fws = _frameworks(headlines)
    peers = [fw for fw in fws if fw != "dropnet"]
    head = (
        ["workload", "measure", "thr"]
        + [NAMES.get(fw, fw) for fw in fws]
        + [f"dropnet vs {NAMES.get(p, p)}" for p in peers]
        + ["accuracy", "target", "met (quick sizes: indicative)" if quick else "met"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for h in headlines:
        cells = [h.workload, h.measure, str(h.threads)]
        for fw in fws:
            value = h.values.get(fw)
            cells.append(f"{fmt_num(value)} {h.unit}" if value is not None else "-")
        for peer in peers:
            adv = h.advantage(peer)
            cells.append(f"{adv:.2f}×" if adv is not None else "-")
        acc = " / ".join(f"{NAMES.get(fw, fw)} {a}" for fw, a in h.accuracy.items())
        target = h.target
        if h.fraction is not None:
            target = f"{h.fraction:.0%} of {h.fraction_of}" + (f"; {target}" if target else "")
        cells += [acc or "-", target or "-", _met(h) or "-"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def markdown(
    headlines: list[Headline],
    figures: list[str],
    context: dict[str, Any],
    options: dict[str, Any],
    chart: str | None,
) -> str:
    parts = ["# dropnet benchmark report", "", *machine_lines(context, options), ""]
    parts.append(markdown_table(headlines, options["quick"]))
    parts += [
        "",
        (
            "dropnet vs X: how many times faster (or higher, for throughputs) dropnet's median "
            "is than X's in the same run. thr: threads each framework was given."
        ),
    ]
    notes = [f"- {h.workload}, {h.measure}: {h.note}" for h in headlines if h.note]
    if notes:
        parts += ["", "Notes:", *notes]
    if chart:
        parts += ["", f"![dropnet against its peers]({os.path.basename(chart)})"]
    for fig in figures:
        parts.append(f"![{os.path.basename(fig)}]({os.path.basename(fig)})")
    return "\n".join(parts) + "\n"


def bar_chart(headlines: list[Headline], path: str, title: str) -> str | None:
    """Left: dropnet's advantage over each peer (log scale); right: limits reached."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fws = _frameworks(headlines)
    peers = [fw for fw in fws if fw != "dropnet"]
    versus = [h for h in headlines if any(h.advantage(p) for p in peers)]
    limits = [h for h in headlines if h.fraction is not None]
    if not versus and not limits:
        return None
    height = max(3.0, 0.42 * max(len(versus) * max(len(peers), 1) / 1.6, len(limits)) + 1.6)
    fig, axes = plt.subplots(
        1, 2, figsize=(13, height), gridspec_kw={"width_ratios": [3, 2]}, squeeze=False
    )
    ax, lim_ax = axes[0]
    colors = {"keras": "#d62728", "torch": "#ff7f0e", "numpy": "#7f7f7f"}
    bar_h = 0.8 / max(len(peers), 1)
    labelled: set[str] = set()
    for i, h in enumerate(versus):
        for k, peer in enumerate(peers):
            adv = h.advantage(peer)
            if not adv:
                continue
            y = i + (k - (len(peers) - 1) / 2) * bar_h
            name = NAMES.get(peer, peer)
            ax.barh(
                y,
                adv,
                height=bar_h * 0.9,
                color=colors.get(peer, "#1f77b4"),
                label=None if name in labelled else f"vs {name}",
            )
            labelled.add(name)
            ax.text(adv, y, f" {_times(adv)}", va="center", fontsize=8)
    ax.set_yticks(range(len(versus)))
    ax.set_yticklabels([f"{h.workload}: {h.measure}" for h in versus], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("dropnet's advantage (peer time / dropnet time; > 1: dropnet faster)")
    if labelled:
        ax.legend(loc="best", fontsize=8)
    ax.set_title("against the peers")
    if limits:
        ys = range(len(limits))
        vals = [100 * (h.fraction or 0.0) for h in limits]
        lim_ax.barh(list(ys), vals, color="#2ca02c", height=0.6)
        for y, v, h in zip(ys, vals, limits):
            lim_ax.text(v, y, f" {v:.0f}%", va="center", fontsize=8)
            if h.target_fraction is not None:
                t = 100 * h.target_fraction
                lim_ax.plot([t, t], [y - 0.4, y + 0.4], color="black", linestyle="--", linewidth=1)
        lim_ax.set_yticks(list(ys))
        lim_ax.set_yticklabels(
            [f"{h.workload}: {h.measure}\n(of {h.fraction_of})" for h in limits], fontsize=7
        )
        lim_ax.invert_yaxis()
        lim_ax.axvline(100.0, color="black", linewidth=0.8)
        lim_ax.set_xlabel("dropnet's figure as % of the limit (dashed: target)")
        lim_ax.set_xlim(0, max(110.0, max(vals) * 1.2))
        lim_ax.set_title("against the machine's limits")
    else:
        lim_ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    headlines: list[Headline],
    figures: list[str],
    context: dict[str, Any],
    options: dict[str, Any],
    prefix: str,
) -> dict[str, str]:
    """Writes prefix.md, prefix.json and prefix.png; returns their paths by kind."""
    m = context["machine"]
    title = (
        f"dropnet benchmark, {m['cpu_model']}, {m['logical_cores']} cores, {context['timestamp']}"
    )
    chart = bar_chart(headlines, prefix + ".png", title)
    paths = {"md": prefix + ".md", "json": prefix + ".json"}
    with open(paths["md"], "w", encoding="utf-8") as fh:
        fh.write(markdown(headlines, figures, context, options, chart))
    with open(paths["json"], "w", encoding="utf-8") as fh:
        json.dump(
            {
                **context,
                "options": options,
                "headlines": [h.as_dict() for h in headlines],
                "figures": figures,
                "chart": chart,
            },
            fh,
            indent=1,
        )
    if chart:
        paths["png"] = chart
    return paths
