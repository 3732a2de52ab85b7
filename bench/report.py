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

Only the Python standard library is used; the SVG is written by hand. The
designs and loads come from the bench's own JSON context; the parsing,
medians, tables and chart are in report_lib.py.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import report_lib

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

    try:
        designs, loads = report_lib.described(runs)
    except report_lib.ReportError as error:
        sys.exit(f"report: {error}")
    summary = report_lib.summarize(runs, designs, loads)
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write(report_lib.markdown(summary, runs, info, args_text, designs, loads))
    with open(os.path.join(out_dir, "echo_models.svg"), "w") as f:
        context = runs[0].get("context", {}) if runs else {}
        f.write(report_lib.svg_chart(summary, f"median of {len(runs)} run(s), "
                                              f"{context.get('echo_models_window', '?')} each; "
                                              f"{context.get('echo_models_cpus', '')}",
                                     designs, loads))
    written = "REPORT.md and echo_models.svg" + ("" if args.from_json else
                                                  " and echo_models_runs.json")
    print(f"report: wrote {written} in {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
