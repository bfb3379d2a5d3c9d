"""Markdown tables and the growth plot for bench/standard.py's report."""

from __future__ import annotations

from pathlib import Path

HIGH_FREQUENCY = ("Q1 ", "Q9 ", "Q10 ", "Q12 ")


def _cell(x, digits: int = 2) -> str:
    return "" if x is None else f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def _size_table(run: dict) -> list[str]:
    floor = {r["vus"]: r["http"] for r in run["rows"] if r["query"].startswith("floor")}
    lines = ["| query | VUs | HTTP req/s | median ms | p95 ms | p99 ms | SQL req/s | SQL median ms | SQL p95 ms "
             "| floor median ms | median HTTP/SQL | resources/s (HTTP / SQL) | failed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in run["rows"]:
        h, s = r["http"], r["sql"]
        if r["query"].startswith("floor"):
            continue
        ratio = f"{h['median_ms'] / s['median_ms']:.2f}x" if s and s["median_ms"] else ""
        downloaded = (f"{_cell(h.get('resources_per_s'), 0)} / {_cell((s or {}).get('resources_per_s'), 0)}"
                      if r.get("kind") == "download" else "")
        lines.append(f"| {r['query']} | {r['vus']} | {_cell(h['http_req_per_s'], 1)} | {h['median_ms']} | "
                     f"{h['p95_ms']} | "
                     f"{h['p99_ms']} | {_cell(s and s['req_per_s'], 1)} | {_cell(s and s['median_ms'], 3)} | "
                     f"{_cell(s and s['p95_ms'], 3)} | {floor[r['vus']]['median_ms']} | {ratio} | {downloaded} | "
                     f"{h['failed']} |")
    return lines


def _targets(run: dict) -> list[str]:
    rows = [r for r in run["rows"] if not r["query"].startswith("floor")]
    out = []
    q1 = next(r for r in rows if r["query"].startswith("Q1 ") and r["vus"] == 32)
    out.append(f"- Q1 throughput at 32 VUs: {q1['http']['http_req_per_s']:,.0f} req/s (target 5,000): "
               f"{'met' if q1['http']['http_req_per_s'] >= 5000 else 'missed'}.")
    for r in rows:
        if not r["query"].startswith(HIGH_FREQUENCY):
            continue
        limit = 10 if r["vus"] == 1 else 50 if r["vus"] == 32 else None
        if limit is None:
            continue
        verdict = "met" if r["http"]["p95_ms"] < limit else "missed"
        extra = ""
        if r["vus"] == 1 and r["sql"]:
            ratio = r["http"]["median_ms"] / r["sql"]["median_ms"]
            extra = f"; median {ratio:.2f}x the SQL (target 1.5x: {'met' if ratio <= 1.5 else 'missed'})"
        out.append(f"- {r['query']} at {r['vus']} VU: p95 {r['http']['p95_ms']} ms (target < {limit} ms: "
                   f"{verdict}){extra}.")
    counts = [r for r in rows if r["query"].startswith("Q2 count") and r["vus"] == 32]
    for r in counts:
        matched = r["meta"]["matches"] * r["http"]["http_req_per_s"]
        out.append(f"- {r['query']}: {r['meta']['matches']:,} matches x {r['http']['http_req_per_s']:,.0f} req/s = "
                   f"{matched:,.0f} matching resources/s counted (target 1M/s: "
                   f"{'met' if matched >= 1e6 else 'missed'}).")
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_mib']:,} MiB, Python "
             f"{m['python']}; server with {report['workers']} workers; {report['duration_s']} s per cell; "
             "k6, the server and PostgreSQL share the machine.", ""]
    for run in report["runs"]:
        pg = run["postgres"]
        ds = run["dataset"]
        lines += [f"#### {run['patients']:,} patients ({ds.get('resources', ds.get('loaded', 0)):,} resources; "
                  f"queries on tenant org-1)", "",
                  "PostgreSQL " + pg["version"] + ": " + ", ".join(f"{k}={v}" for k, v in pg.items() if k != "version"),
                  ""]
        lines += _size_table(run) + ["", "Targets:", ""] + _targets(run) + [""]
    if len(report["runs"]) > 1:
        lines += ["#### Growth: p95 ms at 1 VU by data size", ""]
        sizes = [r["patients"] for r in report["runs"]]
        lines += ["| query | " + " | ".join(f"{s:,}" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        names = [r["query"] for r in report["runs"][0]["rows"] if r["vus"] == 1]
        for name in names:
            cells = []
            for run in report["runs"]:
                hit = next((r for r in run["rows"] if r["query"] == name and r["vus"] == 1), None)
                cells.append(str(hit["http"]["p95_ms"]) if hit else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = [r["patients"] for r in report["runs"]]
    fig, axes = plt.subplots(1, 2, figsize=(14, 7), sharey=False)
    for ax, vus in zip(axes, (1, 32)):
        names = [r["query"] for r in report["runs"][0]["rows"] if r["vus"] == vus]
        colors = plt.get_cmap("tab20").colors
        for i, name in enumerate(names):
            ys = []
            for run in report["runs"]:
                hit = next((r for r in run["rows"] if r["query"] == name and r["vus"] == vus), None)
                ys.append(hit["http"]["p95_ms"] if hit else float("nan"))
            ax.plot(sizes, ys, marker="os^vD"[i % 5], color=colors[i % len(colors)],
                    linestyle="-" if i < len(colors) else "--", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("patients loaded")
        ax.set_ylabel("p95 latency, ms (HTTP)")
        ax.set_title(f"{vus} virtual user{'s' if vus > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
