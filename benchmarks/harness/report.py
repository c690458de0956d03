"""The results: a table on stdout, JSON and Markdown files, PNG plots of ratios and scale curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTENDERS = ("raw", "raw pipelined", "raw+pyd", "popoto")


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def ratio(r: dict[str, Any] | None) -> str:
    if not r:
        return ""
    return f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"


def target_text(t: dict[str, Any], bold: bool = False) -> str:
    if t["met"] is None:
        return f"{t['versus']} >= {t['at_least']:g}: not measured"
    verdict = "met" if t["met"] else ("**missed**" if bold else "MISSED")
    return f"{t['versus']} >= {t['at_least']:g}: {verdict}"


def target_rows(results: dict[str, Any]) -> list[list[str]]:
    """Every target with the ratio (or growth) it is judged on, met or missed."""
    rows = [["workload", "target", "measured: median (min-max)", ""]]
    for w in results["workloads"]:
        for t in w["targets"]:
            r = w["ratios"].get(t["versus"])
            verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
            rows.append([w["name"], f">= {t['at_least']:g} x {t['versus']}", ratio(r), verdict])
    for shape, points in shapes(results).items():
        flat = points[0]["flat_within"]
        g = growth(points)
        if flat and g is not None:
            sizes = f"{points[0]['scale'][1]:,} to {points[-1]['scale'][1]:,}"
            rows.append(
                [
                    shape,
                    f"typedis' time flat within {flat:g}x from {sizes}",
                    f"{g:.2f}x",
                    "met" if g <= flat else "MISSED",
                ]
            )
    return rows


def main_rows(results: dict[str, Any]) -> list[list[str]]:
    """Header and one row per workload outside the scale curves."""
    rows = [["workload", "typedis per op", *(f"x {c}" for c in CONTENDERS), "targets"]]
    for w in results["workloads"]:
        if w["scale"]:
            continue
        mine = w["seconds_per_op"].get("typedis")
        rows.append(
            [
                w["title"],
                duration(mine["median"]) if mine else "",
                *(ratio(w["ratios"].get(c)) for c in CONTENDERS),
                "; ".join(target_text(t) for t in w["targets"]),
            ]
        )
    return rows


def shapes(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The scale points, by shape, in size order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for w in results["workloads"]:
        if w["scale"]:
            out.setdefault(w["scale"][0], []).append(w)
    for points in out.values():
        points.sort(key=lambda w: w["scale"][1])
    return out


def growth(points: list[dict[str, Any]], contender: str = "typedis") -> float | None:
    times = [p["seconds_per_op"].get(contender) for p in points]
    if len(times) < 2 or None in times:
        return None
    return times[-1]["median"] / times[0]["median"]  # type: ignore[index]


def scale_rows(results: dict[str, Any]) -> list[list[str]]:
    by_shape = shapes(results)
    if not by_shape:
        return []
    sizes = [p["scale"][1] for p in next(iter(by_shape.values()))]
    rows = [["shape", "contender", *(f"n = {n:,}" for n in sizes), "growth", "target"]]
    for shape, points in by_shape.items():
        names = list(points[0]["seconds_per_op"])
        for name in names:
            cells = []
            for p in points:
                t = p["seconds_per_op"][name]["median"]
                r = p["ratios"].get(name)
                cells.append(duration(t) + (f" (x{r['median']:.2f})" if r else ""))
            g = growth(points, name)
            target = ""
            flat = points[0]["flat_within"]
            if name == "typedis" and flat and g is not None:
                target = f"<= {flat:g}x: " + ("met" if g <= flat else "MISSED")
                # The sizes run minutes apart, so a change of load on the machine shows as
                # growth; raw+pyd's own growth, over the same minutes, measures that drift.
                reference = growth(points, "raw+pyd")
                if reference:
                    target += f" ({g / reference:.2f}x of raw+pyd's growth)"
            rows.append(
                [
                    f"{shape}: {points[0]['title']}" if name == names[0] else "",
                    name,
                    *cells,
                    f"{g:.2f}x" if g else "",
                    target,
                ]
            )
    return rows


def memory_rows(results: dict[str, Any]) -> list[list[str]]:
    memory: dict[str, dict[str, dict[str, float]]] = results["memory"]
    if not memory:
        return []
    sizes = sorted(memory, key=int)
    rows = [["contender", *(f"n = {int(n):,}: INFO delta / MEMORY USAGE" for n in sizes)]]
    for name in memory[sizes[-1]]:
        cells = []
        for n in sizes:
            m = memory[n].get(name)
            cells.append(f"{m['info_delta']:.0f} / {m['memory_usage']:.0f} B" if m else "")
        rows.append([name, *cells])
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows: list[list[str]]) -> str:
    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"

    out = [line(rows[0]), "|" + "---|" * len(rows[0])]
    out += [line(r).replace("MISSED", "**missed**") for r in rows[1:]]
    return "\n".join(out)


def meta_lines(results: dict[str, Any]) -> list[str]:
    m = results["meta"]
    v = m["versions"]
    return [
        f"{m['when']}, {m['rounds']} interleaved rounds ({m['mode']} run)",
        f"server: {m['server']} ({m['where']}); machine: {m['machine']}",
        "Python {python}, typedis {typedis}, redis-py {redis} (hiredis {hiredis}), "
        "pydantic {pydantic}, Popoto {popoto}".format(**v),
    ]


def text(results: dict[str, Any]) -> str:
    parts = [*meta_lines(results), *results["notes"], ""]
    parts += ["ratios: typedis speed / contender speed, median (min-max) of the rounds", ""]
    parts += [text_table(target_rows(results)), ""]
    parts += [text_table(main_rows(results)), ""]
    if scale_rows(results):
        parts += ["scale curves: median time per op (x typedis speed / that contender's)", ""]
        parts += [text_table(scale_rows(results)), ""]
    if memory_rows(results):
        parts += ["memory per record, bytes", "", text_table(memory_rows(results)), ""]
    return "\n".join(parts)


def markdown(results: dict[str, Any], pngs: list[str]) -> str:
    m = results["meta"]
    parts = [f"# Benchmark results: {m['server']}", ""]
    parts += [f"- {line}" for line in meta_lines(results) + results["notes"]]
    parts += [
        "",
        "Ratios are typedis' speed over each contender's (above 1: typedis is faster), the "
        "median of the per-round ratios and, in brackets, their min-max. "
        "See [docs/performance.md](../../docs/performance.md) for the method.",
        "",
        "## Targets",
        "",
        md_table(target_rows(results)),
        "",
        "## All workloads",
        "",
        md_table(main_rows(results)),
        "",
    ]
    if scale_rows(results):
        parts += [
            "## Scale curves",
            "",
            "Median time per operation; in brackets typedis' speed over that contender's. "
            "Growth: time at the largest size over the smallest. The sizes run minutes apart: "
            "raw+pyd's growth over the same minutes shows how much of it is a change of load "
            "on the machine.",
            "",
            md_table(scale_rows(results)),
            "",
        ]
    if memory_rows(results):
        parts += [
            "## Memory per record",
            "",
            "`INFO memory` used_memory delta over the fill of each contender's data set, and "
            "`MEMORY USAGE ... SAMPLES 0` summed over its keys, divided by the records.",
            "",
            md_table(memory_rows(results)),
            "",
        ]
    parts += [f"![{png}]({png})" for png in pngs]
    return "\n".join(parts) + "\n"


# ---- plots ----------------------------------------------------------------------------------


def plot(results: dict[str, Any], ratios_png: Path, scale_png: Path) -> list[Path]:
    """Draw the two PNGs; [] (and a note on stdout) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        from matplotlib.ticker import FixedLocator, FuncFormatter
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plots")
        return []
    server = results["meta"]["server"]
    plain = FuncFormatter(lambda x, _: f"{x:g}")
    colours = {"raw": "#4c72b0", "raw pipelined": "#8172b2", "raw+pyd": "#55a868",
               "popoto": "#c44e52", "typedis": "#222222"}  # fmt: skip

    # ratios: one bar per (workload, contender), log scale, targets as diamonds
    bars = [
        (w, name, r)
        for w in results["workloads"]
        if not w["scale"]
        for name, r in w["ratios"].items()
    ]
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(bars) + 1.8))
    ys = list(range(len(bars)))[::-1]
    for y, (w, name, r) in zip(ys, bars, strict=True):
        ax.barh(y, r["median"], color=colours.get(name, "grey"), alpha=0.85)
        ax.plot([r["min"], r["max"]], [y, y], color="black", lw=1)
        right = r["max"]
        for t in w["targets"]:
            if t["versus"] == name:
                met = bool(t["met"])
                ax.plot(t["at_least"], y, marker="D", ms=7, mfc="white" if met else "red",
                        mec="green" if met else "red", mew=1.5)  # fmt: skip
                right = max(right, t["at_least"])
        ax.text(right * 1.12, y, f"{r['median']:.2f}", va="center", fontsize=7)
    ax.set_yticks(ys, [f"{w['name']} vs {name}" for w, name, _ in bars], fontsize=8)
    ax.set_ylim(-0.8, len(bars) - 0.2)
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["max"] for _, _, r in bars) * 3)  # room for the last label
    ax.xaxis.set_major_locator(
        FixedLocator([0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500])
    )
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
    ax.axvline(1, color="grey", lw=0.8, ls="--")
    fig.suptitle(f"typedis vs raw redis-py and Popoto 1.10.1 on {server}\n"
                 "typedis speed / contender speed: median of the rounds, black bar = min-max "
                 "(right of 1: typedis is faster)", fontsize=9)  # fmt: skip
    handles = [Patch(color=c, label=n) for n, c in colours.items() if n != "typedis"]
    handles += [
        Line2D([], [], marker="D", ls="", mfc="white", mec="green", label="target, met"),
        Line2D([], [], marker="D", ls="", mfc="red", mec="red", label="target, missed"),
    ]
    height = fig.get_figheight()
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=6)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))
    fig.savefig(ratios_png, dpi=110)
    plt.close(fig)

    by_shape = shapes(results)
    if not by_shape:
        return [ratios_png]
    columns = 3
    rows = -(-len(by_shape) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(11, 3.3 * rows), squeeze=False)
    cells = [ax for row in axes for ax in row]
    for ax, (shape, points) in zip(cells, by_shape.items(), strict=False):
        sizes = [p["scale"][1] for p in points]
        for name in points[0]["seconds_per_op"]:
            times = [p["seconds_per_op"][name]["median"] * 1e3 for p in points]
            ax.plot(sizes, times, marker="o", label=name, color=colours.get(name))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
        g = growth(points)
        ax.set_title(f"{shape}\n{points[0]['title']} (typedis x{g:.2f})", fontsize=8)
        ax.set_xlabel("records", fontsize=8)
        ax.set_ylabel("ms per op (median)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for ax in cells[len(by_shape) :]:
        ax.axis("off")
    handles = [Line2D([], [], color=c, marker="o", label=n) for n, c in colours.items()
               if n != "raw pipelined"]  # fmt: skip
    (cells[len(by_shape)] if len(by_shape) < len(cells) else cells[0]).legend(
        handles=handles, loc="center", fontsize=9
    )
    fig.suptitle(f"scale curves on {server} (log-log): time per operation as the data grows",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(scale_png, dpi=110)
    plt.close(fig)
    return [ratios_png, scale_png]


def write(results: dict[str, Any], folder: Path, stems: list[str], png_stem: str) -> list[Path]:
    """``<stem>.json`` and ``<stem>.md`` for each stem, and ``<png_stem>-*.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs = plot(results, folder / f"{png_stem}-ratios.png", folder / f"{png_stem}-scale.png")
    written = list(pngs)
    for stem in stems:
        (folder / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
        (folder / f"{stem}.md").write_text(markdown(results, [p.name for p in pngs]))
        written += [folder / f"{stem}.json", folder / f"{stem}.md"]
    return written
