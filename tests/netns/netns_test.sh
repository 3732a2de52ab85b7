#!/usr/bin/env bash
# Copyright Switchboard authors.
#
# The exercise's "local, virtual and remote machine", without a second
# machine: two network namespaces, "server" and "remote", joined by a veth
# pair (a virtual cable) with their own IPv4 and IPv6 addresses. The real
# server runs in the first; the real client (and netcat, if installed) talk
# to it from the second:
#   1. --host=:: (dual-stack) accepts the remote machine over IPv4 and IPv6;
#   2. the default --host=127.0.0.1 is reachable only from its own machine.
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it the test says
# "SKIPPED: ..." and passes. The namespaces and addresses exist only inside
# this test and are removed on every exit path.
#
# Usage: netns_test.sh SERVER_BINARY CLIENT_BINARY

set -euo pipefail
export PATH="/usr/sbin:/sbin:/usr/bin:/bin:${PATH:-}"

step() { echo "[netns_test] $*"; }
fail() {
  echo "[netns_test] FAILED: $*" >&2
  exit 1
}

resolve() {
  # A path from the test's arguments: relative to the runfiles tree.
  local path="$1"
  if [[ "$path" != /* ]]; then
    if [[ -n "${TEST_SRCDIR:-}" && -e "${TEST_SRCDIR}/${TEST_WORKSPACE:-switchboard}/$path" ]]; then
      path="${TEST_SRCDIR}/${TEST_WORKSPACE:-switchboard}/$path"
    else
      path="$PWD/$path"
    fi
  fi
  [[ -x "$path" ]] || fail "not an executable: $path"
  echo "$path"
}

[[ $# -eq 2 ]] || fail "usage: $0 SERVER_BINARY CLIENT_BINARY"
SERVER="$(resolve "$1")"
CLIENT="$(resolve "$2")"

WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/netns_test.XXXXXX")"
ID=$$
NS_SERVER="sb-srv-$ID"
NS_REMOTE="sb-rem-$ID"
VETH_SERVER="sbs$ID"  # interface names: at most 15 characters
VETH_REMOTE="sbr$ID"
NET="10.231.$((ID % 250 + 1))"
V4_SERVER="$NET.1"
V4_REMOTE="$NET.2"
V6_SERVER="fd00:231::1"
V6_REMOTE="fd00:231::2"
SERVER_PID=""
CREATED_NS=()

cleanup() {
  local status=$?
  set +e
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    step "cleanup: stopping server (pid $SERVER_PID)"
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  local ns
  for ns in "${CREATED_NS[@]}"; do
    [[ -e "/run/netns/$ns" || -e "/var/run/netns/$ns" ]] || continue
    # Anything still running in it (a stray nc, say) goes first.
    local pids
    pids="$(ip netns pids "$ns" 2>/dev/null)"
    # shellcheck disable=SC2086  # one PID per word
    [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null
    step "cleanup: deleting namespace $ns"
    ip netns del "$ns" 2>/dev/null
  done
  if (( status != 0 )); then
    for log in "$WORK"/*.err; do
      [[ -f "$log" ]] || continue
      echo "----- $log -----" >&2
      tail -n 40 "$log" >&2
    done
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skip() {
  echo "SKIPPED: $* (this test needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2)"
  exit 0
}

# --- Can we? -------------------------------------------------------------------
command -v ip >/dev/null 2>&1 || skip "the 'ip' command (iproute2) is not installed"
command -v timeout >/dev/null 2>&1 || fail "the 'timeout' command (coreutils) is missing"
[[ "$(id -u)" -eq 0 ]] || skip "not running as root (uid $(id -u))"
step "creating network namespaces $NS_SERVER and $NS_REMOTE"
CREATED_NS+=("$NS_SERVER")  # cleanup deletes what exists of it, whatever happens
if ! out="$(ip netns add "$NS_SERVER" 2>&1)"; then
  # Root in a container without CAP_SYS_ADMIN gets "Operation not permitted".
  case "$out" in
    *"not permitted"* | *"ermission denied"*) skip "cannot create a network namespace: $out" ;;
    *) fail "ip netns add $NS_SERVER: $out" ;;
  esac
fi
CREATED_NS+=("$NS_REMOTE")
ip netns add "$NS_REMOTE"

# --- The virtual network ---------------------------------------------------------
step "joining them with a veth pair $VETH_SERVER <-> $VETH_REMOTE"
# Created inside the server namespace, so it never appears on the host.
ip -n "$NS_SERVER" link add "$VETH_SERVER" type veth peer name "$VETH_REMOTE" netns "$NS_REMOTE"
step "addresses: $NS_SERVER has $V4_SERVER/24 and $V6_SERVER/64, $NS_REMOTE has $V4_REMOTE/24 and $V6_REMOTE/64"
ip -n "$NS_SERVER" addr add "$V4_SERVER/24" dev "$VETH_SERVER"
ip -n "$NS_REMOTE" addr add "$V4_REMOTE/24" dev "$VETH_REMOTE"
ip -n "$NS_SERVER" addr add "$V6_SERVER/64" dev "$VETH_SERVER" nodad
ip -n "$NS_REMOTE" addr add "$V6_REMOTE/64" dev "$VETH_REMOTE" nodad
for ns in "$NS_SERVER" "$NS_REMOTE"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SERVER" link set "$VETH_SERVER" up
ip -n "$NS_REMOTE" link set "$VETH_REMOTE" up
ip -n "$NS_SERVER" -brief addr show
ip -n "$NS_REMOTE" -brief addr show

if command -v ping >/dev/null 2>&1; then
  step "checking the cable: ping $V4_SERVER from $NS_REMOTE"
  for _ in $(seq 5); do  # at most ~5 s; the echo checks below are the real test
    timeout 2 ip netns exec "$NS_REMOTE" ping -c 1 -W 1 "$V4_SERVER" >/dev/null 2>&1 && break
  done
fi

# --- Helpers -----------------------------------------------------------------------

# start_server NAME FLAGS...: starts the server in the server namespace and
# sets PORT from its "listening echo tcp ADDRESS:PORT" line.
start_server() {
  local name="$1"
  shift
  ip netns exec "$NS_SERVER" "$SERVER" --services=echo --echo_port=0 \
    --data_dir="$WORK/data-$name" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVER_PID=$!
  local line=""
  for _ in $(seq 100); do  # at most 10 s
    line="$(grep -m1 '^listening echo tcp ' "$WORK/$name.out" || true)"
    [[ -n "$line" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server ($*) exited: $(cat "$WORK/$name.err")"
    sleep 0.1
  done
  [[ -n "$line" ]] || fail "the server ($*) did not print its listening line within 10 s"
  PORT="${line##*:}"
  [[ "$PORT" =~ ^[0-9]+$ ]] || fail "cannot read the port from '$line'"
  step "server started in $NS_SERVER with flags [${*:-defaults}]: '$line' (pid $SERVER_PID)"
}

stop_server() {
  step "stopping the server (SIGTERM)"
  kill -TERM "$SERVER_PID"
  local status=0
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$SERVER_PID" || status=$?
  SERVER_PID=""
  [[ "$status" -eq 0 ]] || fail "the server exited with status $status after SIGTERM"
}

# host:port as one writes it: [v6]:port.
hostport() { if [[ "$1" == *:* ]]; then echo "[$1]:$PORT"; else echo "$1:$PORT"; fi; }

# echo_with_client NS HOST TEXT: the project's client, from namespace NS.
echo_with_client() {
  local ns="$1" host="$2" text="$3"
  local got
  got="$(printf '%s\nexit\n' "$text" |
    timeout 10 ip netns exec "$ns" "$CLIENT" --host="$host" --port="$PORT" 2>"$WORK/client.err")" ||
    fail "client from $ns to $host port $PORT failed: $(cat "$WORK/client.err")"
  [[ "$got" == "$text"$'\n'"exit" ]] ||
    fail "client from $ns to $host: expected '$text' and 'exit' back, got '$got'"
  step "  ok: client in $ns -> $(hostport "$host") echoed '$text'"
}

# echo_with_nc NS HOST TEXT: OpenBSD netcat, if there is one.
NC=""
for candidate in nc.openbsd nc; do
  if command -v "$candidate" >/dev/null 2>&1; then NC="$(command -v "$candidate")"; break; fi
done
echo_with_nc() {
  local ns="$1" host="$2" text="$3"
  [[ -n "$NC" ]] || { step "  (netcat not installed: skipping the nc check)"; return 0; }
  local got
  got="$(printf '%s\nexit\n' "$text" | timeout 10 ip netns exec "$ns" "$NC" -N "$host" "$PORT")" ||
    fail "nc from $ns to $host port $PORT failed"
  [[ "$got" == "$text"$'\n'"exit" ]] ||
    fail "nc from $ns to $host: expected '$text' and 'exit' back, got '$got'"
  step "  ok: nc in $ns -> $(hostport "$host") echoed '$text'"
}

# expect_unreachable NS HOST: a connection must fail (refused or timed out).
expect_unreachable() {
  local ns="$1" host="$2"
  local got status=0
  got="$(printf 'should not come back\nexit\n' |
    timeout 5 ip netns exec "$ns" "$CLIENT" --host="$host" --port="$PORT" 2>"$WORK/client.err")" ||
    status=$?
  [[ "$status" -ne 0 ]] ||
    fail "the server listening on 127.0.0.1 was reachable from $ns at $(hostport "$host") (got '$got')"
  [[ -z "$got" ]] || fail "got a reply from $host:$PORT in $ns: '$got'"
  local why
  if [[ "$status" -eq 124 ]]; then why="timed out"; else why="$(tail -n 1 "$WORK/client.err")"; fi
  step "  ok: $ns cannot reach $(hostport "$host") (status $status: $why)"
}

# --- 1. Dual-stack server: reachable from the remote machine --------------------------
start_server dualstack --host=::
grep -q '^listening echo tcp \[::\]:' "$WORK/dualstack.out" ||
  fail "expected the listener announced as [::]:PORT, got '$(cat "$WORK/dualstack.out")'"

step "remote -> server over IPv4 ($V4_SERVER)"
echo_with_client "$NS_REMOTE" "$V4_SERVER" "hello over IPv4"
echo_with_nc "$NS_REMOTE" "$V4_SERVER" "nc over IPv4"
step "remote -> server over IPv6 ($V6_SERVER)"
echo_with_client "$NS_REMOTE" "$V6_SERVER" "hello over IPv6"
echo_with_nc "$NS_REMOTE" "$V6_SERVER" "nc over IPv6"
step "local -> server on its own machine (127.0.0.1 and ::1)"
echo_with_client "$NS_SERVER" 127.0.0.1 "hello from the same machine"
echo_with_client "$NS_SERVER" ::1 "hello from the same machine over IPv6"

step "the server's log names the remote peers"
for peer in "client $V4_REMOTE:" "client [$V6_REMOTE]:"; do
  for _ in $(seq 50); do grep -qF "$peer" "$WORK/dualstack.err" && break; sleep 0.1; done
  grep -qF "$peer" "$WORK/dualstack.err" || fail "the server log does not show '$peer'"
  step "  ok: log shows '$(grep -F -m1 "$peer" "$WORK/dualstack.err" | sed 's/^.*] //')'"
done
stop_server

# --- 2. Loopback server: not reachable from the remote machine ------------------------
start_server loopback
grep -q '^listening echo tcp 127\.0\.0\.1:' "$WORK/loopback.out" ||
  fail "expected the default listener on 127.0.0.1, got '$(cat "$WORK/loopback.out")'"
step "remote -> server must fail now"
expect_unreachable "$NS_REMOTE" "$V4_SERVER"
expect_unreachable "$NS_REMOTE" "$V6_SERVER"
step "but the server's own machine still reaches it"
echo_with_client "$NS_SERVER" 127.0.0.1 "still here on loopback"
if grep -qF "client $V4_REMOTE:" "$WORK/loopback.err"; then
  fail "the loopback server logged a connection from $V4_REMOTE"
fi
stop_server

step "PASSED: dual-stack server reached over IPv4 and IPv6 from another namespace; loopback server not reachable from it"
