#!/usr/bin/env python3
# Copyright Switchboard authors.
"""Runs //bench:echo_models_bench several times and writes the comparison.

Each run is `echo_models_bench --benchmark_format=json` (an optimized build);
the report takes, for every server design at every load, the median of each
figure over the runs, and writes

  bench/results/REPORT.md         the machine, how it was measured, the tables
  bench/results/echo_models.svg   messages/s against connections, one line
                                  per design (log-scale x axis)
  bench/results/echo_models_runs.json
                                  the raw Google Benchmark output of each run

Usage (from the workspace):
  ./bazelw run -c opt //bench:report                 # 3 runs, ~2 min each
  python3 bench/report.py                            # the same; builds the bench
  python3 bench/report.py --runs 1 -- --quick        # a smoke test
  python3 bench/report.py --from-json bench/results/echo_models_runs.json
                                                     # redraw without measuring

Only the Python standard library is used; the SVG is written by hand.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

# The designs in the order the bench runs them, with how the report names
# them and the colour of their line (Okabe-Ito, readable by colour-blind eyes).
DESIGNS = [
    ("reference", "reference loop", "#000000"),
    ("reactor_auto", "reactor, auto", "#0072B2"),
    ("reactor_pool", "reactor, pool", "#E69F00"),
    ("blocking", "blocking", "#009E73"),
    ("iterative", "iterative", "#CC79A7"),
]
# Their names in the tables: the server flags.
TABLE_LABEL = {
    "reference": "reference loop",
    "reactor_auto": "reactor, dispatch=auto",
    "reactor_pool": "reactor, dispatch=pool",
    "blocking": "blocking",
    "iterative": "iterative",
}
# Loads as (connections, depth), in the bench's order.
LOADS = [(1, 1), (10, 1), (100, 1), (1000, 1), (10, 16)]
NAME_RE = re.compile(r"^echo/(?P<design>[a-z_]+)/connections:(?P<conns>\d+)/depth:(?P<depth>\d+)")
FIGURES = ["msgs_per_s", "bytes_per_s", "p50_us", "p99_us", "p999_us",
           "server_cpu_us_per_msg", "server_cpu_util", "load_cpu_util",
           "ref_msgs_ratio", "ref_cpu_ratio"]


# ---------------------------------------------------------------------------
# Finding things.

def workspace_dir():
    """The workspace: where `bazel run` was typed, or this file's parent's parent."""
    env = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if env:
        return env
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.dirname(here)


def find_bench(workspace):
    """The optimized bench binary: from the runfiles under `bazel run`, else built."""
    script = os.path.realpath(sys.argv[0])
    candidates = []
    for root in (os.environ.get("RUNFILES_DIR"), sys.argv[0] + ".runfiles", script + ".runfiles"):
        if root:
            candidates.append(os.path.join(root, "switchboard", "bench", "echo_models_bench"))
    if os.environ.get("BUILD_WORKSPACE_DIRECTORY"):
        # bazel run starts us in our runfiles tree.
        candidates.append(os.path.join(os.getcwd(), "bench", "echo_models_bench"))
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    bazel = os.path.join(workspace, "bazelw")
    print("report: building //bench:echo_models_bench with -c opt", file=sys.stderr)
    subprocess.run([bazel, "build", "-c", "opt", "//bench:echo_models_bench"],
                   cwd=workspace, check=True)
    bin_dir = subprocess.run([bazel, "info", "-c", "opt", "bazel-bin"], cwd=workspace,
                             check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, "bench", "echo_models_bench")


# ---------------------------------------------------------------------------
# The machine, and what else ran on it.

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine():
    cpuinfo = read("/proc/cpuinfo")
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mhz = re.findall(r"^cpu MHz\s*:\s*([\d.]+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    virtual = "hypervisor" in flags.group(1).split() if flags else False
    return {
        "cpu": models[0] if models else platform.processor() or "unknown",
        "cpu_mhz": float(mhz[0]) if mhz else None,
        "logical_cpus": len(models) or os.cpu_count(),
        "nproc": len(os.sched_getaffinity(0)),
        "virtual": virtual,
        "kernel": f"{platform.system()} {platform.release()} {platform.version()}",
        "memory_gib": int(mem_kb.group(1)) / (1 << 20) if mem_kb else None,
        "os": distribution(),
    }


def source_version(workspace):
    """The commit measured, and whether the measured code differs from it."""
    try:
        commit = subprocess.run(["git", "-C", workspace, "log", "-1", "--format=%h %s"],
                                check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", workspace, "status", "--porcelain", "--",
                                "reactor", "services", "clients", "bench"],
                               check=True, capture_output=True, text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = sorted({line[3:].split("/")[0] for line in dirty if line.strip()
                      and not line[3:].startswith("bench/results")})
    return commit + (f" (with uncommitted changes in {', '.join(changed)})" if changed else "")


def distribution():
    text = read("/etc/os-release")
    found = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
    return found.group(1) if found else platform.platform()


def process_cpu_ticks():
    """{pid: (name, user + system ticks, own and reaped children's)} of every process."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read(f"/proc/{entry}/stat")
        if not stat:
            continue
        close = stat.rfind(")")
        name = stat[stat.find("(") + 1:close]
        fields = stat[close + 2:].split()
        # fields[11..14]: utime stime cutime cstime (stat fields 14..17).
        try:
            ticks[int(entry)] = (name, sum(int(x) for x in fields[11:15]))
        except (IndexError, ValueError):
            continue
    return ticks


def cpu_elsewhere(before, after, exclude, seconds):
    """CPU used by processes not in `exclude` between two snapshots.

    Returns (total CPU-seconds, [(name, CPU-seconds)] of the biggest users).
    Processes that began and ended in between are counted in the parent that
    reaped them (cutime/cstime), which is how a build's compilers show up.
    """
    hz = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid, (name, end) in after.items():
        if pid in exclude:
            continue
        start = before.get(pid, (name, 0))[1] if pid in before else 0
        delta = (end - start) / hz
        if delta > 0:
            used[name] = used.get(name, 0) + delta
    top = sorted(used.items(), key=lambda item: -item[1])[:4]
    return sum(used.values()), top


def quiet_sample(seconds=2.0):
    """What the machine does before a run: CPU-seconds per second elsewhere."""
    before = process_cpu_ticks()
    time.sleep(seconds)
    after = process_cpu_ticks()
    total, top = cpu_elsewhere(before, after, {os.getpid()}, seconds)
    return {"cpus_busy": total / seconds,
            "top": [(name, used / seconds) for name, used in top if used / seconds >= 0.01]}


# ---------------------------------------------------------------------------
# Running the bench.

def run_bench(bench, extra_args, index, runs):
    print(f"report: run {index} of {runs}: {bench} --benchmark_format=json "
          f"{' '.join(extra_args)}", file=sys.stderr)
    idle = quiet_sample()
    load_before = os.getloadavg()
    before = process_cpu_ticks()
    started = time.monotonic()
    process = subprocess.Popen([bench, "--benchmark_format=json", *extra_args],
                               stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate()
    seconds = time.monotonic() - started
    after = process_cpu_ticks()
    # Status 1: some cases failed; their errors are in the JSON and go into
    # the report. Anything else, or no JSON, ends the report.
    if process.returncode not in (0, 1):
        sys.exit(f"report: the bench exited with status {process.returncode}")
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        sys.exit(f"report: the bench (status {process.returncode}) printed no JSON")
    elsewhere, top = cpu_elsewhere(before, after, {os.getpid(), process.pid}, seconds)
    result["report_conditions"] = {
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "seconds": seconds,
        "loadavg_before": load_before,
        "before_cpus_busy": idle["cpus_busy"],
        "before_top": idle["top"],
        "during_cpus_busy_elsewhere": elsewhere / seconds,
        "during_top": [(name, used / seconds) for name, used in top],
    }
    print(f"report: run {index} took {seconds:.0f} s; other processes used "
          f"{elsewhere / seconds:.2f} CPU on average meanwhile", file=sys.stderr)
    return result


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


def summarize(runs):
    """Per case: the median of each figure over the runs it succeeded in."""
    parsed = [parse_run(r) for r in runs]
    summary = {}
    for design, _, _ in DESIGNS:
        for conns, depth in LOADS:
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

def fmt_rate(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


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


def markdown(summary, runs, info, args_text):
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
    header = "| design | " + " | ".join(load_name(c, d) for c, d in LOADS) + " |"
    add(header)
    add("| --- |" + " ---: |" * len(LOADS))
    for design, _, _ in DESIGNS:
        label = TABLE_LABEL[design]
        cells = []
        for conns, depth in LOADS:
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
    for conns, depth in LOADS:
        for design, _, _ in DESIGNS:
            label = TABLE_LABEL[design]
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

def svg_chart(summary, subtitle):
    width, height = 840, 470
    left, right, top, bottom = 80, 240, 70, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    x_values = [c for c, d in LOADS if d == 1]
    series = []
    peak = 0
    for design, label, colour in DESIGNS:
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
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of the bench (default 3)")
    parser.add_argument("--bench", help="the echo_models_bench binary (default: found or built)")
    parser.add_argument("--out", help="output folder (default: <workspace>/bench/results)")
    parser.add_argument("--from-json", help="redraw from a saved echo_models_runs.json")
    parser.add_argument("bench_args", nargs="*",
                        help="after --: arguments for the bench (e.g. --quick)")
    args = parser.parse_args()
    # Under `bazel run` the working directory is the runfiles tree; paths on
    # the command line mean the directory the command was typed in.
    typed_in = os.environ.get("BUILD_WORKING_DIRECTORY")
    if typed_in:
        for name in ("bench", "out", "from_json"):
            value = getattr(args, name)
            if value and not os.path.isabs(value):
                setattr(args, name, os.path.join(typed_in, value))

    workspace = workspace_dir()
    out_dir = args.out or os.path.join(workspace, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        runs, info, args_text = saved["runs"], saved["machine"], saved["command"]
    else:
        bench = args.bench or find_bench(workspace)
        info = machine()
        info["source"] = source_version(workspace)
        args_text = " ".join(["echo_models_bench", "--benchmark_format=json", *args.bench_args])
        runs = [run_bench(bench, args.bench_args, i, args.runs) for i in range(1, args.runs + 1)]
        build = runs[0].get("context", {}).get("echo_models_build", "")
        if not build.startswith("optimized"):
            print("report: WARNING: the bench was not built with -c opt", file=sys.stderr)
        with open(os.path.join(out_dir, "echo_models_runs.json"), "w") as f:
            json.dump({"machine": info, "command": args_text, "runs": runs}, f, indent=1)
            f.write("\n")

    summary = summarize(runs)
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write(markdown(summary, runs, info, args_text))
    with open(os.path.join(out_dir, "echo_models.svg"), "w") as f:
        context = runs[0].get("context", {}) if runs else {}
        f.write(svg_chart(summary, f"median of {len(runs)} run(s), "
                                   f"{context.get('echo_models_window', '?')} each; "
                                   f"{context.get('echo_models_cpus', '')}"))
    written = "REPORT.md and echo_models.svg" + ("" if args.from_json else
                                                  " and echo_models_runs.json")
    print(f"report: wrote {written} in {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
