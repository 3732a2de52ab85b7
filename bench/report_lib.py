# Copyright Switchboard authors.
"""What bench/report.py computes and writes, apart from running the bench.

Pure functions of the bench's Google Benchmark JSON output: which designs
and loads it ran (from the run's context, see described()), the cases of a
run, medians over runs, and the Markdown tables and SVG chart of the report.
tests/bench/report_lib_test.py checks them on hand-made runs.
"""

import math
import re
import statistics

# The bench (bench/echo_models_bench.cc) describes what it ran in the JSON
# context under these keys:
#   echo_models_designs  "name=label;name=label;...", in the order it runs
#                        them (the label is the design's server flags, for
#                        the tables; it may contain "=" but never ";")
#   echo_models_loads    "CONNECTIONSxDEPTH,...", in the order it runs them
DESIGNS_KEY = "echo_models_designs"
LOADS_KEY = "echo_models_loads"

# Runs saved before the bench described itself (bench/results/
# echo_models_runs.json up to 2026-11-25) have neither key. For those files
# only, this is what that bench ran, in the same format; a run with the keys
# is described by them alone.
LEGACY_CONTEXT = {
    DESIGNS_KEY: "reference=reference loop;reactor_auto=reactor, dispatch=auto;"
                 "reactor_pool=reactor, dispatch=pool;blocking=blocking;iterative=iterative",
    LOADS_KEY: "1x1,10x1,100x1,1000x1,10x16",
}

# How the chart draws the designs it knows: a shorter name for the legend
# and the colour of the line (Okabe-Ito, readable by colour-blind eyes).
# A design not here is drawn with its label and the next colour of
# FALLBACK_COLOURS, so a new design still shows.
CHART_STYLE = {
    "reference": ("reference loop", "#000000"),
    "reactor_auto": ("reactor, auto", "#0072B2"),
    "reactor_pool": ("reactor, pool", "#E69F00"),
    "blocking": ("blocking", "#009E73"),
    "iterative": ("iterative", "#CC79A7"),
}
FALLBACK_COLOURS = ["#D55E00", "#56B4E9", "#F0E442", "#999999", "#882255", "#44AA99"]

NAME_RE = re.compile(r"^echo/(?P<design>[a-z_]+)/connections:(?P<conns>\d+)/depth:(?P<depth>\d+)")
FIGURES = ["msgs_per_s", "bytes_per_s", "p50_us", "p99_us", "p999_us",
           "server_cpu_us_per_msg", "server_cpu_util", "load_cpu_util",
           "ref_msgs_ratio", "ref_cpu_ratio"]


class ReportError(Exception):
    """The runs cannot be reported as they are (said in the message)."""


# ---------------------------------------------------------------------------
# What the bench ran.

def parse_designs(text):
    """[(name, label)] from an echo_models_designs value."""
    designs = []
    for item in text.split(";"):
        name, equals, label = item.partition("=")
        if not equals or not name or not label:
            raise ReportError(f"{DESIGNS_KEY}: '{item}' is not NAME=LABEL")
        designs.append((name, label))
    return designs


def parse_loads(text):
    """[(connections, depth)] from an echo_models_loads value."""
    loads = []
    for item in text.split(","):
        conns, x, depth = item.partition("x")
        if not x or not conns.isdigit() or not depth.isdigit():
            raise ReportError(f"{LOADS_KEY}: '{item}' is not CONNECTIONSxDEPTH")
        loads.append((int(conns), int(depth)))
    return loads


def described(runs):
    """The designs and loads of `runs`, from their context: (designs, loads).

    Every run must describe the same, and every case a run has must be one
    of them: a design or load the report does not know would otherwise
    vanish from it without a word. A run whose context has neither key is
    an old saved one, described by LEGACY_CONTEXT.
    """
    description = None
    for index, run in enumerate(runs, 1):
        context = run.get("context", {})
        if DESIGNS_KEY not in context and LOADS_KEY not in context:
            context = LEGACY_CONTEXT
        if DESIGNS_KEY not in context or LOADS_KEY not in context:
            raise ReportError(f"run {index}: its context has only one of {DESIGNS_KEY} "
                              f"and {LOADS_KEY}")
        this = (parse_designs(context[DESIGNS_KEY]), parse_loads(context[LOADS_KEY]))
        if description is not None and this != description:
            raise ReportError(f"run {index} describes other designs or loads than run 1")
        description = this
        names = {name for name, _ in this[0]}
        for design, conns, depth in parse_run(run):
            if design not in names:
                raise ReportError(f"run {index} has design '{design}', which its context "
                                  f"does not describe ({', '.join(sorted(names))})")
            if (conns, depth) not in this[1]:
                raise ReportError(f"run {index} has the load {conns}x{depth}, which its "
                                  "context does not describe")
    if description is None:
        raise ReportError("no runs")
    return description


def chart_styles(designs):
    """[(name, legend label, colour)] for `designs`, in their order."""
    styles = []
    fallback = iter(FALLBACK_COLOURS)
    for name, label in designs:
        if name in CHART_STYLE:
            styles.append((name, *CHART_STYLE[name]))
        else:
            styles.append((name, label, next(fallback, "#777777")))
    return styles


# ---------------------------------------------------------------------------
# Medians.

def parse_run(result):
    """{(design, conns, depth): {"figures": {...}} or {"skipped"/"error": text}}."""
    cases = {}
    for bench in result.get("benchmarks", []):
        match = NAME_RE.match(bench.get("name", ""))
        if not match:
            continue
        key = (match["design"], int(match["conns"]), int(match["depth"]))
        if bench.get("error_occurred"):
            message = bench.get("error_message", "")
            kind = "skipped" if message.startswith("skipped:") else "error"
            cases[key] = {kind: message}
        else:
            cases[key] = {"figures": {f: bench[f] for f in FIGURES if f in bench}}
    return cases


def summarize(runs, designs, loads):
    """Per case: the median of each figure over the runs it succeeded in.

    `designs` ([(name, label)]) and `loads` ([(connections, depth)]) are the
    cases, as described() gives them.
    """
    parsed = [parse_run(r) for r in runs]
    summary = {}
    for design, _ in designs:
        for conns, depth in loads:
            key = (design, conns, depth)
            seen = [p[key] for p in parsed if key in p]
            ok = [s["figures"] for s in seen if "figures" in s]
            entry = {"runs": len(seen), "ok": len(ok),
                     "skipped": [s["skipped"] for s in seen if "skipped" in s],
                     "errors": [s["error"] for s in seen if "error" in s]}
            entry["median"] = {}
            for figure in FIGURES:
                values = [f[figure] for f in ok if figure in f]
                if values:
                    entry["median"][figure] = statistics.median(values)
            msgs = [f["msgs_per_s"] for f in ok if "msgs_per_s" in f]
            entry["msgs_range"] = (min(msgs), max(msgs)) if msgs else None
            summary[key] = entry
    return summary


# ---------------------------------------------------------------------------
# Markdown.

def scaled(value):
    """`value` as (number, unit): in millions ("M"), thousands ("k") or ones ("")."""
    if value >= 1e6:
        return value / 1e6, "M"
    if value >= 1e3:
        return value / 1e3, "k"
    return value, ""


def fmt_rate(value):
    number, unit = scaled(value)
    digits = {"M": 2, "k": 1, "": 0}[unit]
    return f"{number:.{digits}f} {unit}".rstrip()


def fmt_us(value):
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} µs"


def fmt_ratio(value):
    return f"{value:.2f}×"


def fmt_util(value):
    return "-" if value is None else f"{value:.2f}"


def load_name(conns, depth):
    return f"{conns} × {depth} in flight" if depth > 1 else f"{conns}"


def markdown(summary, runs, info, args_text, designs, loads):
    context = runs[0].get("context", {}) if runs else {}
    lines = []
    add = lines.append
    add("# Echo server designs compared")
    add("")
    add("Written by `bench/report.py` from "
        f"{len(runs)} run(s) of `//bench:echo_models_bench` "
        f"(`{args_text}`); every figure is the median over the runs. "
        "Each case starts the server as a child process, drives it with the "
        "load generator (`clients/load_generator.h`: 1024-byte messages, "
        "closed loop, every echoed byte checked), and reads the server's CPU "
        "time (user + system, whole process) from `/proc` over the "
        "measurement window. The ratios divide each design by the reference "
        "loop measured at the same load in the same run (the median of the "
        f"{len(runs)} per-run ratios).")
    add("")
    add("## Machine")
    add("")
    mhz = f" at {info['cpu_mhz']:.0f} MHz" if info.get("cpu_mhz") else ""
    add(f"- CPU: {info['cpu']}{mhz}, {info['logical_cpus']} logical CPU(s) "
        f"(`nproc`: {info['nproc']})" + (", a virtual machine (the `hypervisor` "
                                          "flag is set)" if info["virtual"] else ""))
    if info.get("memory_gib"):
        add(f"- Memory: {info['memory_gib']:.1f} GiB")
    add(f"- Kernel: {info['kernel']}")
    add(f"- OS: {info['os']}")
    add(f"- Build: {context.get('echo_models_build', '?')}; "
        f"window {context.get('echo_models_window', '?')} after "
        f"{context.get('echo_models_warmup', '?')} of warm-up per case; "
        f"{context.get('echo_models_message_bytes', '?')}-byte messages")
    add(f"- CPUs: {context.get('echo_models_cpus', '?')}")
    if info.get("source"):
        add(f"- Source: {info['source']}")
    if context.get("library_build_type") == "debug":
        add("- Google Benchmark itself (the distribution's library) says it was "
            "built as debug; it only times and reports here, the code measured "
            "is ours, built with `-c opt`.")
    add("")
    add("What else ran: before each run the report watches the machine for 2 s, "
        "and it adds up the CPU time every other process used during the run "
        "(processes that came and went count through the parent that reaped "
        "them); the figures are CPUs' worth (1.00 = one CPU all the time). The "
        "load average counts runnable threads, the bench's own included (the "
        "blocking server's 1000 threads in the run before raise it), so the "
        "CPU-time columns are the ones that measure other work.")
    add("")
    add("| run | started | took | load average before | CPUs busy before (top) | "
        "CPUs busy elsewhere during (top) |")
    add("| --- | --- | --- | --- | --- | --- |")
    for index, run in enumerate(runs, 1):
        c = run.get("report_conditions")
        if not c:
            continue
        before_top = ", ".join(f"{n} {v:.2f}" for n, v in c["before_top"]) or "-"
        during_top = ", ".join(f"{n} {v:.2f}" for n, v in c["during_top"] if v >= 0.01) or "-"
        add(f"| {index} | {c['started']} | {c['seconds']:.0f} s | "
            f"{c['loadavg_before'][0]:.2f} | {c['before_cpus_busy']:.2f} ({before_top}) | "
            f"{c['during_cpus_busy_elsewhere']:.2f} ({during_top}) |")
    add("")
    add("## Messages per second at a glance")
    add("")
    header = "| design | " + " | ".join(load_name(c, d) for c, d in loads) + " |"
    add(header)
    add("| --- |" + " ---: |" * len(loads))
    for design, label in designs:
        cells = []
        for conns, depth in loads:
            entry = summary[(design, conns, depth)]
            if "msgs_per_s" in entry["median"]:
                cells.append(fmt_rate(entry["median"]["msgs_per_s"]))
            elif entry["skipped"]:
                cells.append("skipped")
            else:
                cells.append("failed (errors)" if entry["errors"] else "-")
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("")
    add("Columns are connections (ping-pong, one message in flight each), and "
        "10 connections with 16 messages in flight each.")
    add("")
    add("## Every design at every load")
    add("")
    add("msgs/s range: the lowest and highest of the runs. CPU/msg: server CPU "
        "time per echoed message. × ref: this design's figure over the "
        "reference loop's at the same load. Server busy: the server's CPU time "
        "over the window, in CPUs (1.00 = one CPU all the time); load busy: the "
        "load generator's, over its whole run. With the two pinned to one CPU "
        "each, a side near 1.00 is the bottleneck of that case.")
    add("")
    add("| connections | design | msgs/s | msgs/s range | MB/s | p50 | p99 | p99.9 | "
        "CPU/msg | × ref msgs/s | × ref CPU/msg | server busy | load busy |")
    add("| --- | --- |" + " ---: |" * 11)
    notes = []
    for conns, depth in loads:
        for design, label in designs:
            entry = summary[(design, conns, depth)]
            m = entry["median"]
            if "msgs_per_s" not in m:
                if entry["skipped"] and design == "iterative":
                    continue  # said once below the table
                if entry["errors"]:
                    notes.append(f"{label} at {load_name(conns, depth)} failed in "
                                 f"{len(entry['errors'])} of {entry['runs']} run(s): "
                                 + "; ".join(entry["errors"]))
                    status = "failed in every run, see below"
                else:
                    notes.append(f"{label} at {load_name(conns, depth)}: "
                                 + (entry["skipped"] or ["not run"])[0])
                    status = "skipped"
                add(f"| {load_name(conns, depth)} | {label} ({status}) | "
                    + " | ".join(["-"] * 11) + " |")
                continue
            low, high = entry["msgs_range"]
            cpu = m.get("server_cpu_us_per_msg")
            partial = (f" ({entry['ok']} of {entry['runs']} runs)"
                       if entry["ok"] < entry["runs"] else "")
            if entry["errors"]:
                notes.append(f"{label} at {load_name(conns, depth)} failed in "
                             f"{len(entry['errors'])} of {entry['runs']} run(s) (the "
                             "figures are the other runs'): " + "; ".join(entry["errors"]))
            add(f"| {load_name(conns, depth)} | {label}{partial} | "
                f"{fmt_rate(m['msgs_per_s'])} | {fmt_rate(low)}–{fmt_rate(high)} | "
                f"{m['bytes_per_s'] / 1e6:.1f} | {fmt_us(m['p50_us'])} | "
                f"{fmt_us(m['p99_us'])} | {fmt_us(m['p999_us'])} | "
                f"{'-' if cpu is None else f'{cpu:.2f} µs'} | "
                f"{fmt_ratio(m['ref_msgs_ratio']) if 'ref_msgs_ratio' in m else '-'} | "
                f"{fmt_ratio(m['ref_cpu_ratio']) if 'ref_cpu_ratio' in m else '-'} | "
                f"{fmt_util(m.get('server_cpu_util'))} | {fmt_util(m.get('load_cpu_util'))} |")
    add("")
    add("The iterative model serves one client at a time (the others wait in the "
        "listen backlog), so it is measured at one connection only.")
    for note in notes:
        add(f"- {note}")
    add("")
    add("## Chart")
    add("")
    add("![messages per second against connections](echo_models.svg)")
    add("")
    add("Ping-pong loads only; the 10 × 16 pipelined load is in the tables.")
    add("")
    add("## Reproduce")
    add("")
    add("```")
    add("./bazelw run -c opt //bench:report          # or: python3 bench/report.py")
    add("./bazelw run -c opt //bench:echo_models     # one run, console table")
    add("```")
    add("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# SVG.

def svg_chart(summary, subtitle, designs, loads):
    """Messages/s against connections (the ping-pong loads), one line per design."""
    width, height = 840, 470
    left, right, top, bottom = 80, 240, 70, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    x_values = [c for c, d in loads if d == 1]
    series = []
    peak = 0
    for design, label, colour in chart_styles(designs):
        points = []
        failed = []  # loads where every run had errors: marked on the x axis
        for conns in x_values:
            entry = summary[(design, conns, 1)]
            m = entry["median"]
            if "msgs_per_s" in m:
                points.append((conns, m["msgs_per_s"]))
                peak = max(peak, m["msgs_per_s"])
            elif entry["errors"]:
                failed.append(conns)
        series.append((label, colour, points, failed))
    step = nice_step(peak / 7 if peak else 1)
    y_max = step * (int(peak / step) + 1) if peak else 1

    x_lo, x_hi = math.log10(x_values[0]), math.log10(x_values[-1])

    def x_of(conns):
        pad = 0.06 * plot_w
        return left + pad + (math.log10(conns) - x_lo) / (x_hi - x_lo) * (plot_w - 2 * pad)

    def y_of(value):
        return top + plot_h - value / y_max * plot_h

    out = []
    add = out.append
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        f'font-size="13">')
    add('<rect width="100%" height="100%" fill="#ffffff"/>')
    add(f'<text x="{left + plot_w / 2}" y="26" text-anchor="middle" font-size="16" '
        f'font-weight="bold">Echo, 1 KB ping-pong: messages/s by server design</text>')
    add(f'<text x="{left + plot_w / 2}" y="46" text-anchor="middle" fill="#555555">'
        f'{escape(subtitle)}</text>')
    # Grid and y ticks.
    value = 0
    while value <= y_max + 1e-9:
        y = y_of(value)
        add(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#dddddd"/>')
        add(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick_label(value)}</text>')
        value += step
    # X ticks.
    for conns in x_values:
        x = x_of(conns)
        add(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eeeeee"/>')
        add(f'<text x="{x:.1f}" y="{top + plot_h + 20}" text-anchor="middle">{conns}</text>')
    add(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#444444"/>')
    add(f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">'
        f'connections (log scale), one message in flight each</text>')
    add(f'<text transform="translate(20 {top + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">messages per second (median)</text>')
    # Lines and points.
    for label, colour, points, failed in series:
        for conns in failed:
            x, y = x_of(conns), top + plot_h - 12
            add(f'<g stroke="{colour}" stroke-width="3"><title>{escape(label)}, {conns} '
                f'connections: failed (load errors) in every run</title>'
                f'<line x1="{x - 6:.1f}" y1="{y - 6:.1f}" x2="{x + 6:.1f}" y2="{y + 6:.1f}"/>'
                f'<line x1="{x - 6:.1f}" y1="{y + 6:.1f}" x2="{x + 6:.1f}" y2="{y - 6:.1f}"/></g>')
        if len(points) > 1:
            path = " ".join(f"{x_of(c):.1f},{y_of(v):.1f}" for c, v in points)
            add(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for conns, value in points:
            add(f'<circle cx="{x_of(conns):.1f}" cy="{y_of(value):.1f}" r="4.5" '
                f'fill="{colour}"><title>{escape(label)}, {conns} connection(s): '
                f'{value:,.0f} msgs/s</title></circle>')
    # Legend.
    lx, ly = left + plot_w + 20, top + 10
    for index, (label, colour, points, failed) in enumerate(series):
        y = ly + index * 24
        add(f'<line x1="{lx}" y1="{y}" x2="{lx + 24}" y2="{y}" stroke="{colour}" '
            f'stroke-width="2.5"/>')
        add(f'<circle cx="{lx + 12}" cy="{y}" r="4.5" fill="{colour}"/>')
        suffix = "" if len(points) > 1 else " (1 conn.)" if points else " (not run)"
        if failed:
            suffix += f" (✕: failed at {', '.join(map(str, failed))})"
        add(f'<text x="{lx + 32}" y="{y + 4}">{escape(label + suffix)}</text>')
    add("</svg>")
    return "\n".join(out) + "\n"


def nice_step(raw):
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def tick_label(value):
    number, unit = scaled(value)
    return f"{number:g}{unit}"


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
