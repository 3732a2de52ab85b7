#!/usr/bin/env python3
# Copyright Switchboard authors.
"""several_servers: one server against several, on the shared engines.

Starts its own engines (PostgreSQL 15 through pg_virtualenv, fsync on as in
production; Redis 7 on a Unix socket) and the real server and load binaries,
then measures in one run, so that the ratios compare like with like:
  auth   logins/s (--pwhash_cost=min, so the store's share shows) on one
         server with SQLite, one with PostgreSQL, and two processes on one
         PostgreSQL; CPU per login of the servers and of PostgreSQL.
  chat   deliveries/s and delivery latency for 100 members on one server
         (room in memory), one server on Redis, and two servers on Redis with
         the members spread over both (one load run, one timeline); CPU
         per delivery of the servers and of Redis.
Each case runs --rounds times; the medians are printed as a Markdown table
and written as JSON.

  ./bazelw build -c opt //services:server //clients:load
  python3 bench/several_servers.py --server bazel-bin/services/server \\
      --load bazel-bin/clients/load --out bench/results/several_servers.json
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def engines_cpu():
    """CPU seconds of every PostgreSQL and Redis process (backends come and go)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() not in ("postgres", "redis-server"):
                    continue
        except OSError:
            continue
        total += cpu_seconds(int(entry))
    return total


class Postgres:
    """A throw-away cluster; lives until close()."""

    def __init__(self):
        self.port = free_port()
        script = 'printf "%s\\n" "PGPASSWORD=$PGPASSWORD" READY; exec cat >/dev/null'
        self.holder = subprocess.Popen(
            ["pg_virtualenv", "-t", "-o", "fsync=on", "-c", f"-p {self.port}",
             "sh", "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        password = None
        for line in self.holder.stdout:  # pg_virtualenv's own lines come first
            if line.startswith("PGPASSWORD="):
                password = line.strip().split("=", 1)[1]
            if line.strip() == "READY":
                break
        if password is None:
            sys.exit("several_servers: pg_virtualenv made no PostgreSQL server")
        os.environ["PGPASSWORD"] = password
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def close(self):
        self.holder.stdin.close()
        self.holder.wait(timeout=60)


class Redis:
    def __init__(self, folder):
        self.path = os.path.join(folder, "redis.sock")
        self.process = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.path, "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.path):
            if time.time() > deadline:
                sys.exit("several_servers: redis-server did not start")
            time.sleep(0.05)
        self.uri = f"unix://{self.path}"

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def start_servers(args, count, flags):
    """`count` servers with `flags`; returns [(process, {service: port})]."""
    servers = []
    for _ in range(count):
        process = subprocess.Popen([args.server] + flags, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        ports = {}
        while True:
            line = process.stdout.readline()
            if not line:
                sys.exit(f"several_servers: a server exited at start-up: {flags}")
            service, _, address = line.split()[1:4]
            ports[service] = int(address.rsplit(":", 1)[1])
            if service == flags_last_service(flags):
                break
        servers.append((process, ports))
    return servers


def flags_last_service(flags):
    for flag in flags:
        if flag.startswith("--services="):
            return flag.split("=", 1)[1].split(",")[-1]
    return "chat"


def stop_servers(servers):
    for process, _ in servers:
        process.terminate()
    for process, _ in servers:
        process.wait(timeout=30)


def run_case(args, count, server_flags, service, load_flags):
    servers = start_servers(args, count, server_flags)
    targets = ",".join(f"127.0.0.1:{ports[service]}" for _, ports in servers)
    before = ([cpu_seconds(p.pid) for p, _ in servers], engines_cpu())
    load = subprocess.run([args.load, f"--target={targets}", "--json",
                           f"--duration={args.duration}s"] + load_flags,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=False)
    after = ([cpu_seconds(p.pid) for p, _ in servers], engines_cpu())
    stop_servers(servers)
    try:
        result = json.loads(load.stdout)
    except json.JSONDecodeError:
        sys.exit(f"several_servers: the load run printed no JSON: {load.stdout[:200]!r}")
    count_key = "deliveries" if result["scenario"] == "chat" else "messages"
    done = max(1, result[count_key])
    result["servers_cpu_us_per"] = 1e6 * (sum(after[0]) - sum(before[0])) / done
    result["engines_cpu_us_per"] = 1e6 * (after[1] - before[1]) / done
    return result


def median_of(rounds, key, sub=None):
    values = [r[key][sub] if sub else r[key] for r in rounds]
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--load", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--out", help="where to write the JSON")
    parser.add_argument("--quick", action="store_true", help="one short round (for CI)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 0.5
    folder = tempfile.mkdtemp(prefix="several_servers.")
    postgres = Postgres()
    redis = Redis(folder)
    # Every run registers its users from 127.0.0.1: no registration limit.
    common = ["--pwhash_cost=min", "--workers=2", "--auth_port=0", "--chat_port=0",
              "--max_registrations_per_address=0"]
    cases = [
        ("auth", "sqlite, 1 server", 1,
         ["--services=auth", f"--data_dir={folder}/data"]),
        ("auth", "postgresql, 1 server", 1, ["--services=auth", f"--store={postgres.uri}"]),
        ("auth", "postgresql, 2 servers", 2, ["--services=auth", f"--store={postgres.uri}"]),
        ("chat", "in memory, 1 server", 1, ["--services=chat"]),
        ("chat", "redis, 1 server", 1, ["--services=chat", f"--chat_backplane={redis.uri}"]),
        ("chat", "redis, 2 servers", 2, ["--services=chat", f"--chat_backplane={redis.uri}"]),
    ]
    load_flags = {
        "auth": ["--scenario=auth", "--connections=8"],
        "chat": ["--scenario=chat", "--connections=100", "--rate=500", "--warmup=1s"],
    }
    results = []
    try:
        for service, label, count, flags in cases:
            rounds = [run_case(args, count, common + flags, service, load_flags[service])
                      for _ in range(args.rounds)]
            results.append({"service": service, "case": label, "servers": count,
                            "rounds": rounds})
            print(f"several_servers: {service}, {label}: done", file=sys.stderr)
    finally:
        redis.close()
        postgres.close()
        shutil.rmtree(folder, ignore_errors=True)

    print("| service | case | per second | p50 | p99 | servers' CPU per | engine's CPU per |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for case in results:
        rounds = case["rounds"]
        chat = case["service"] == "chat"
        rate = median_of(rounds, "deliveries_per_second" if chat else "messages_per_second")
        unit = "deliveries" if chat else "logins"
        print(f"| {case['service']} | {case['case']} | {rate:,.0f} {unit} "
              f"| {median_of(rounds, 'latency_ns', 'p50') / 1e3:,.0f} µs "
              f"| {median_of(rounds, 'latency_ns', 'p99') / 1e3:,.0f} µs "
              f"| {median_of(rounds, 'servers_cpu_us_per'):,.1f} µs "
              f"| {median_of(rounds, 'engines_cpu_us_per'):,.1f} µs |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
