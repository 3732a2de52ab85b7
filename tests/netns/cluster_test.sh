#!/usr/bin/env bash
# Copyright Switchboard authors.
#
# Several servers past one machine, on one host: four network namespaces on
# a virtual switch (a bridge in a fifth), as four machines on a LAN:
#   engines  PostgreSQL 15 (pg_virtualenv) and Redis 7
#   srv-a    a Switchboard server, --host=::
#   srv-b    another, --host=::, on the same store and chat backplane
#   clients  the clients
# so that every hop (client to server, server to PostgreSQL and Redis)
# crosses a (virtual) network. Checks: a user registered through A logs in
# through B (over IPv4 and IPv6), a session made on A resumes on B, a name
# told to A is known to B, and a chat member on A and one on B share one
# room (one sequence, each other's messages, WHO lists both).
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it: "SKIPPED: ..." and
# a pass. Everything it makes is removed on every exit path.
#
# Usage: cluster_test.sh SERVER_BINARY

set -euo pipefail
export PATH="/usr/sbin:/sbin:/usr/bin:/bin:${PATH:-}"

step() { echo "[cluster_test] $*"; }
fail() {
  echo "[cluster_test] FAILED: $*" >&2
  exit 1
}
skip() {
  echo "SKIPPED: $* (this test needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2)"
  exit 0
}

[[ $# -eq 1 ]] || fail "usage: $0 SERVER_BINARY"
SERVER="$1"
if [[ "$SERVER" != /* ]]; then
  if [[ -n "${TEST_SRCDIR:-}" && -e "${TEST_SRCDIR}/${TEST_WORKSPACE:-switchboard}/$SERVER" ]]; then
    SERVER="${TEST_SRCDIR}/${TEST_WORKSPACE:-switchboard}/$SERVER"
  else
    SERVER="$PWD/$SERVER"
  fi
fi
[[ -x "$SERVER" ]] || fail "not an executable: $SERVER"

WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/cluster_test.XXXXXX")"
chmod 755 "$WORK"  # PostgreSQL runs as user postgres
ID=$$
NET="10.232.$((ID % 250 + 1))"
NET6="fd00:232:$(printf %x $((ID % 65536)))"  # one group: 4 hex digits at most
ROLES=(engines srva srvb clients)
declare -A NS V4 V6
i=1
for role in "${ROLES[@]}"; do
  NS[$role]="sb-$role-$ID"
  V4[$role]="$NET.$i"
  V6[$role]="$NET6::$i"
  i=$((i + 1))
done
NS_SWITCH="sb-sw-$ID"
CREATED_NS=()
PIDS=()

cleanup() {
  local status=$?
  set +e
  touch "$WORK/stop"  # the PostgreSQL holder drops its cluster
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  local ns
  for ns in "${CREATED_NS[@]}"; do
    [[ -e "/run/netns/$ns" ]] || continue
    local left
    left="$(ip netns pids "$ns" 2>/dev/null)"
    # shellcheck disable=SC2086  # one PID per word
    [[ -n "$left" ]] && kill -KILL $left 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  if ((status != 0)); then
    for log in "$WORK"/*.err "$WORK"/*.log; do
      [[ -f "$log" ]] || continue
      echo "----- $log -----" >&2
      tail -n 30 "$log" >&2
    done
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v ip >/dev/null 2>&1 || skip "the 'ip' command (iproute2) is not installed"
[[ "$(id -u)" -eq 0 ]] || skip "not running as root (uid $(id -u))"
for tool in pg_virtualenv redis-server python3 timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (./bazelw installs it)"
done

# --- The LAN ---------------------------------------------------------------------
CREATED_NS+=("$NS_SWITCH")
if ! out="$(ip netns add "$NS_SWITCH" 2>&1)"; then
  case "$out" in
    *"not permitted"* | *"ermission denied"*) skip "cannot create a network namespace: $out" ;;
    *) fail "ip netns add: $out" ;;
  esac
fi
ip -n "$NS_SWITCH" link add sw0 type bridge
ip -n "$NS_SWITCH" link set sw0 up
for role in "${ROLES[@]}"; do
  ns="${NS[$role]}"
  CREATED_NS+=("$ns")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # One cable per machine, from its eth0 to a port of the switch.
  ip -n "$ns" link add eth0 type veth peer name "p-$role" netns "$NS_SWITCH"
  ip -n "$NS_SWITCH" link set "p-$role" master sw0 up
  ip -n "$ns" addr add "${V4[$role]}/24" dev eth0
  ip -n "$ns" addr add "${V6[$role]}/64" dev eth0 nodad
  ip -n "$ns" link set eth0 up
  step "machine $role: namespace $ns, ${V4[$role]} and ${V6[$role]}"
done
in_ns() {
  local role="$1"
  shift
  ip netns exec "${NS[$role]}" "$@"
}

# --- The engines --------------------------------------------------------------------
step "engines: PostgreSQL (pg_virtualenv) on ${V4[engines]}:5432"
# The holder opens the cluster to the LAN, writes what clients need, and
# waits; cleanup's "stop" file ends it, and pg_virtualenv drops the cluster.
in_ns engines pg_virtualenv -t -o fsync=off -o "listen_addresses=*" -c "-p 5432" sh -c '
  conf="$PG_CLUSTER_CONF_ROOT/$PGVERSION/regress"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$conf/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >> "$conf/pg_hba.conf"
  pg_ctlcluster "$PGVERSION" regress reload
  echo "$PGPASSWORD" > "$1/pgpassword.tmp" && mv "$1/pgpassword.tmp" "$1/pgpassword"
  while [ ! -e "$1/stop" ]; do sleep 0.2; done' holder "$WORK" \
  >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do  # at most 60 s
  [[ -s "$WORK/pgpassword" ]] && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || fail "pg_virtualenv stopped: $(cat "$WORK/postgres.log")"
  sleep 0.1
done
[[ -s "$WORK/pgpassword" ]] || fail "PostgreSQL did not start within 60 s"
PGPASSWORD="$(cat "$WORK/pgpassword")"
export PGPASSWORD

step "engines: Redis on ${V4[engines]}:6379"
in_ns engines redis-server --port 6379 --bind "${V4[engines]}" --protected-mode no \
  --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)

STORE="postgresql://postgres@${V4[engines]}:5432/postgres"
BACKPLANE="redis://${V4[engines]}:6379"

# --- Two servers on two machines ---------------------------------------------------
start_server() {
  local role="$1"
  in_ns "$role" "$SERVER" --host=:: --services=identity,auth,chat --pwhash_cost=min \
    --identity_port=7008 --auth_port=7009 --chat_port=7010 \
    --store="$STORE" --chat_backplane="$BACKPLANE" \
    >"$WORK/$role.out" 2>"$WORK/$role.err" &
  PIDS+=($!)
  local pid=$!
  for _ in $(seq 200); do  # at most 20 s (the engines may still be starting)
    grep -q '^listening chat udp ' "$WORK/$role.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "the server on $role exited: $(cat "$WORK/$role.err")"
    sleep 0.1
  done
  grep -q '^listening chat udp ' "$WORK/$role.out" || fail "the server on $role did not start"
  step "server on $role: $(tr '\n' ' ' <"$WORK/$role.out")"
}
for _ in $(seq 50); do  # Redis answers within a second or so
  in_ns clients timeout 2 python3 -c \
    "import socket; socket.create_connection(('${V4[engines]}', 6379), 1)" 2>/dev/null && break
  sleep 0.2
done
start_server srva
start_server srvb

# --- From the clients' machine -----------------------------------------------------
step "clients: auth, identity and chat across both servers"
in_ns clients timeout 60 python3 - "${V4[srva]}" "${V6[srvb]}" "${V4[srvb]}" <<'PY' ||
import socket, sys, time

a4, b6, b4 = sys.argv[1:4]

def dialogue(host, port, lines):
    with socket.create_connection((host, port), timeout=10) as s:
        f = s.makefile("rwb")
        replies = [f.readline().decode().rstrip("\r\n")]
        for line in lines:
            f.write(line.encode() + b"\n")
            f.flush()
            replies.append(f.readline().decode().rstrip("\r\n"))
        return replies

def expect(what, got, prefix):
    if not got.startswith(prefix):
        sys.exit(f"{what}: expected {prefix!r}..., got {got!r}")
    print(f"[cluster_test]   ok: {what}: {got[:60]}")

r = dialogue(a4, 7009, ["REGISTER netuser netuser-password"])
expect("REGISTER through A over IPv4", r[1], "201 registered netuser; session ")
token = r[1].rsplit(" ", 1)[1]
r = dialogue(b6, 7009, ["LOGIN netuser netuser-password"])
expect("LOGIN through B over IPv6", r[1], "200 welcome netuser; session ")
r = dialogue(b4, 7009, ["RESUME " + token])
expect("RESUME of A's session through B", r[1], "200 welcome back netuser")
r = dialogue(a4, 7008, ["Net Client"])
expect("a name told to A", r[1], "201 Nice to meet you, Net Client!")
r = dialogue(b4, 7008, [])
expect("the name known to B", r[0], "200 Hello, Net Client!")

def chat(sock, host, datagram):
    sock.sendto(datagram.encode(), (host, 7010))

def receive(sock, want, what):
    deadline = time.time() + 10
    seen = []
    while time.time() < deadline:
        sock.settimeout(max(0.1, deadline - time.time()))
        try:
            data = sock.recv(2048).decode()
        except socket.timeout:
            break
        seen.append(data)
        if data.startswith(want):
            return data
    sys.exit(f"{what}: expected {want!r}..., got {seen!r}")

def join(host, nick):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    chat(s, host, f"JOIN {nick}")
    cookie = receive(s, "COOKIE ", f"cookie for {nick}").split()[1]
    chat(s, host, f"JOIN {nick} {cookie}")
    key = receive(s, "OK ", f"{nick} joining").split()[1]
    print(f"[cluster_test]   ok: {nick} joined the room through {host}")
    return s, key

sa, ka = join(a4, "ann")
sb, kb = join(b4, "bob")
# One sequence for the whole room, whichever server numbered the event.
# Ann speaks once she has heard Bob join (a message sent while his join is
# on its way may be numbered before it: one order for all, either way).
expect_a = ["JOINED 1 ann", "JOINED 2 bob"]
seen = [receive(sa, "", f"ann on A, datagram {i + 1}") for i in range(2)]
if seen != expect_a:
    sys.exit(f"ann on A saw {seen!r}, expected {expect_a!r}")
chat(sa, a4, f"MSG {ka} hello from A")
expect_a = ["MSG 3 ann hello from A"]
expect_b = ["JOINED 2 bob", "MSG 3 ann hello from A"]
for sock, want, who in ((sa, expect_a, "ann on A"), (sb, expect_b, "bob on B")):
    seen = [receive(sock, "", f"{who}, datagram {i + 1}") for i in range(len(want))]
    if seen != want:
        sys.exit(f"{who} saw {seen!r}, expected {want!r}")
    print(f"[cluster_test]   ok: {who} saw {seen!r}")
chat(sb, b4, f"WHO {kb}")
members = receive(sb, "MEMBERS ", "WHO through B")
if "ann" not in members.split() or "bob" not in members.split():
    sys.exit(f"WHO through B: {members!r}")
print(f"[cluster_test]   ok: WHO through B lists both: {members!r}")
PY
  fail "a check from the clients' machine failed (see above)"

step "PASSED: two servers on two machines shared one store and one chat room"
