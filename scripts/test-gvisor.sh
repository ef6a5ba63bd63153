#!/usr/bin/env bash
# Runs the sandbox's security tests again under gVisor (runsc), the second
# wall: starts a Docker engine of its own with docker/build/runsc registered
# (make runsc), loads the sandbox image into it, runs
#   go test -count=1 ./sandbox/docker/ -run "$GVISOR_TESTS"
# against it with AGENTTEAM_TEST_RUNTIME=runsc, and always stops the engine
# and removes everything it made (containers, mounts, processes, directory),
# also when the tests fail or the script is interrupted.
#
# Exit status: the tests'. Without runsc (or root, or dockerd) it says SKIP
# and exits 0, unless CI is set: then that is a failure.
#
# Environment: GVISOR_TESTS (a go test -run pattern), RUNSC (the runsc
# binary), GVISOR_TIMEOUT (go test -timeout, default 20m); with
# GVISOR_BENCH_REPORT=FILE it runs the latency comparison of make bench
# (BenchmarkCompare) under runsc instead and writes its table to FILE.
set -uo pipefail
cd "$(dirname "$0")/.."

# The image the sandbox tests use (docker.Defaults in sandbox/docker).
IMAGE=agentteam-sandbox:latest
RUNSC=${RUNSC:-$PWD/docker/build/runsc}
GVISOR_TESTS=${GVISOR_TESTS:-'^(TestHostileBlocks|TestContainerIsHardened|TestConfinementFromInside|TestWarm|TestIPC|TestPoolNextTaskStartsClean|TestPython|TestEgress)'}
GVISOR_TIMEOUT=${GVISOR_TIMEOUT:-20m}

say() { echo "test-gvisor: $*" >&2; }
now() { date +%s%N | cut -c1-13; } # ms
secs() { local ms=$(($2 - $1)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
# unavailable: what a machine without gVisor does; a failure in CI.
unavailable() {
  if [ -n "${CI:-}" ]; then
    say "FAIL: $* (CI is set, so the gVisor pass is required)"
    exit 1
  fi
  say "SKIP: the sandbox tests did not run under gVisor: $*"
  exit 0
}

[ -x "$RUNSC" ] || unavailable "$RUNSC is missing (make runsc builds it)"
RUNSC=$(cd "$(dirname "$RUNSC")" && pwd)/$(basename "$RUNSC") # dockerd needs an absolute path
[ "$(id -u)" = 0 ] || unavailable "starting a second Docker engine needs root"
command -v dockerd >/dev/null || unavailable "no dockerd to start a second engine with"
command -v setsid >/dev/null || unavailable "setsid (util-linux) is missing"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
driver=$(docker info --format '{{.Driver}}' 2>/dev/null) || { say "FAIL: the Docker engine is not reachable"; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { say "FAIL: $IMAGE is missing: run 'make image'"; exit 1; }

# Short: a unix socket's path has a length limit (the engine's and
# containerd's sockets live under it).
dir=$(mktemp -d /tmp/at-gv-XXXX)
sock=$dir/docker.sock
dpid= gpid= tailpid= part=
# d2 speaks to the second engine (plain unix socket, whatever DOCKER_* says).
unset_main='env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH -u DOCKER_CONTEXT'
d2() { $unset_main docker -H "unix://$sock" "$@"; }
# group runs a long step in a process group of its own and waits for it: a
# signal to this script then interrupts the wait at once, and cleanup stops
# the whole step (go test and its test binary, or docker save | load).
group() {
  setsid "$@" &
  gpid=$!
  wait "$gpid"
  local st=$?
  gpid=
  return "$st"
}

cleanup() {
  trap '' INT TERM HUP # finish cleaning up even when Ctrl-C comes again
  if [ -n "$gpid" ] && kill -0 "$gpid" 2>/dev/null; then
    kill -INT -- "-$gpid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$gpid" 2>/dev/null
  fi
  [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
  if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
    ids=$(d2 ps -aq 2>/dev/null)
    if [ -n "$ids" ]; then
      say "removing $(echo "$ids" | wc -l) container(s) left on the engine"
      d2 rm -f $ids >/dev/null 2>&1
    fi
    kill -INT "$dpid"
    for _ in $(seq 200); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$dpid" 2>/dev/null; then
      say "dockerd $dpid did not stop in 20 s: killing it"
      kill -KILL "$dpid"
    fi
  fi
  # What a killed engine may leave: its containerd, shims, sandboxes. Each
  # names this directory on its command line.
  # (The pattern comes from a file, so grep's own command line lacks it.)
  for p in $(grep -lsFf <(printf '%s\n' "$dir/") /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$p" = $$ ] && continue
    say "killing process $p left by the engine: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-120)"
    kill -KILL "$p" 2>/dev/null
  done
  # Mounts, deepest (latest) first.
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | tac | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
  [ -n "$part" ] && rm -f "$part"
  rm -rf "$dir" 2>/dev/null || { sleep 1; rm -rf "$dir"; } || say "could not remove $dir"
}
trap cleanup EXIT
trap 'say "interrupted: stopping the tests and the engine"; exit 130' INT
trap 'say "terminated: stopping the tests and the engine"; exit 143' TERM HUP

printf '{"runtimes": {"runsc": {"path": "%s", "runtimeArgs": ["--oci-seccomp"]}}}\n' "$RUNSC" >"$dir/daemon.json"
t0=$(now)
# Its own session: Ctrl-C on a terminal reaches this script, which stops the
# engine in order, not the engine directly.
setsid dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
  --pidfile "$dir/pid" -H "unix://$sock" --bridge=none --iptables=false --ip-masq=false \
  --storage-driver "$driver" >"$dir/dockerd.log" 2>&1 &
dpid=$!
until d2 info >/dev/null 2>&1; do
  if ! kill -0 "$dpid" 2>/dev/null || [ $(($(now) - t0)) -gt 60000 ]; then
    say "FAIL: the second engine did not start; its log ends:"
    tail -20 "$dir/dockerd.log" >&2
    exit 1
  fi
  sleep 0.2
done
t1=$(now)
dpid=$(cat "$dir/pid") # the engine's own word, should setsid ever have forked
d2 info --format '{{json .Runtimes.runsc}}' | grep -q -- --oci-seccomp \
  || { say "FAIL: runsc is not registered with --oci-seccomp"; exit 1; }
say "engine started in $(secs "$t0" "$t1") ($dir, $driver, runsc $RUNSC); loading $IMAGE"
# docker save once per image ID, kept in docker/build/ for the next run.
id=$(docker image inspect --format '{{.Id}}' "$IMAGE" | sed 's/^sha256://' | cut -c1-12)
tar=docker/build/sandbox-image-$id.tar
export IMAGE sock tar unset_main part=$tar.part.$$
if [ -s "$tar" ]; then
  group bash -c '$unset_main docker -H "unix://$sock" load -q -i "$tar" >/dev/null'
else
  mkdir -p docker/build && rm -f docker/build/sandbox-image-*.tar # older images'
  group bash -o pipefail -c 'docker save "$IMAGE" | tee "$part" | $unset_main docker -H "unix://$sock" load -q >/dev/null && mv "$part" "$tar"'
fi || { say "FAIL: could not load $IMAGE into the second engine"; exit 1; }
t2=$(now)
say "image loaded in $(secs "$t1" "$t2"); go test ./sandbox/docker/ -run '$GVISOR_TESTS' under runsc"

# Streamed from a log, which the summary is read from.
log=$dir/test.log
: >"$log"
tail -n +1 -f "$log" &
tailpid=$!
gotest=(-run "$GVISOR_TESTS")
[ -n "${GVISOR_BENCH_REPORT:-}" ] && gotest=(-run '^$' -bench '^BenchmarkCompare$' -benchtime 1x)
group $unset_main DOCKER_HOST="unix://$sock" AGENTTEAM_TEST_RUNTIME=runsc AGENTTEAM_BENCH_REPORT="${GVISOR_BENCH_REPORT:-}" \
  go test -count=1 -timeout "$GVISOR_TIMEOUT" ./sandbox/docker/ "${gotest[@]}" >"$log" 2>&1 </dev/null
status=$?
sleep 1.2 # tail -f reads every second
kill "$tailpid"
wait "$tailpid" 2>/dev/null
tailpid=
t3=$(now)
summary=$(grep -E '^ *--- FAIL|^(ok|FAIL)\s|^FAIL:|^panic:' "$log")
cleanup
trap - EXIT
# The result last, after the engine's clean-up lines.
echo
echo "test-gvisor: under runsc (engine start $(secs "$t0" "$t1"), image load $(secs "$t1" "$t2"), tests $(secs "$t2" "$t3")):"
echo "${summary:-no result line from go test (exit $status)}"
exit "$status"
