#!/usr/bin/env bash
# test_launch.sh: mcs-launch supervises real stage processes.
#
# Starts an instance with 2 collectors and 2 aggregators on free loopback
# ports under a unique instance name and a temporary data dir, then checks:
#   - mcs-ringctl list sees the control block and every ring of the shape
#     (2x2 sample rings, alert rings, query and reply rings);
#   - every stage slot gets a live pid;
#   - a stage killed with SIGKILL comes back with a new pid within ~2 s and
#     its restart count goes up;
#   - SIGTERM stops the launcher (exit 0) and every stage within 10 s;
#   - mcs-launch --cleanup removes the instance's segments.
# Uses $MCS_BIN (default bin). Exits 77 (skip) when a binary is missing.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MCS_BIN:-bin}
case $bin in /*) ;; *) bin=$top/$bin ;; esac

for b in mcs-launch mcs-ringctl mcs-collector mcs-aggregator mcs-alerter mcs-apiserver; do
	if [ ! -x "$bin/$b" ]; then
		echo "skip: $bin/$b is not built"
		exit 77
	fi
done
command -v python3 >/dev/null || { echo "skip: python3 is missing"; exit 77; }

inst=itlaunch$$x$RANDOM
dir=$(mktemp -d /tmp/mcs-test-launch.XXXXXX)
launcher=
fail() {
	echo "FAIL: $*"
	if [ -f "$dir/launch.log" ]; then
		echo "---- last lines of the launcher log ----"
		tail -n 40 "$dir/launch.log"
	fi
	exit 1
}
cleanup() {
	if [ -n "$launcher" ] && kill -0 "$launcher" 2>/dev/null; then
		kill -TERM "$launcher" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$launcher" 2>/dev/null
	fi
	"$bin/mcs-launch" --instance "$inst" --cleanup >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap "exit 1" TERM INT HUP

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
api_port=$(free_port)
push_port=$(free_port)
while [ "$push_port" = "$api_port" ]; do push_port=$(free_port); done

# jq-like helper: runs a Python expression over `mcs-ringctl list --json`
# (bound to d) and prints the result.
ringjson() {
	"$bin/mcs-ringctl" --instance "$inst" list --json --interval 0 2>/dev/null >"$dir/list.json" || return 1
	python3 - "$dir/list.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
print(r if not isinstance(r, bool) else ("yes" if r else "no"))
EOF
}
slot_field() { # stage index field
	ringjson "[s['$3'] for s in d['slots'] if s['stage'] == '$1' and s['index'] == $2][0]"
}

echo "instance $inst, data dir $dir, api 127.0.0.1:$api_port, push 127.0.0.1:$push_port"
"$bin/mcs-launch" --instance "$inst" --data-dir "$dir/data" --collectors 2 --aggregators 2 \
	--api-listen "127.0.0.1:$api_port" --push-listen "127.0.0.1:$push_port" >"$dir/launch.log" 2>&1 &
launcher=$!

# 1. The control block appears.
ok=
for _ in $(seq 100); do
	if "$bin/mcs-ringctl" --instance "$inst" list >/dev/null 2>&1; then ok=1; break; fi
	kill -0 "$launcher" 2>/dev/null || fail "mcs-launch exited during startup"
	sleep 0.1
done
[ -n "$ok" ] || fail "mcs-ringctl list did not succeed within 10 s"
echo "ok: control block attached"

[ -f "$dir/data/run/$inst.json" ] || fail "effective config $dir/data/run/$inst.json was not written"
echo "ok: effective configuration written"

# 2. Every ring of the 2x2 shape (1 alerter, 1 apiserver by default).
want="c0-a0 c0-a1 c1-a0 c1-a1 a0-r0 a1-r0 p0-a0-q p0-a1-q a0-p0-r a1-p0-r"
names=$(ringjson "' '.join(sorted(r['name'] for r in d['rings'] if r['present']))") ||
	fail "mcs-ringctl list --json failed"
for r in $want; do
	case " $names " in *" $r "*) ;; *) fail "ring $r missing from mcs-ringctl list (have: $names)" ;; esac
done
text=$("$bin/mcs-ringctl" --instance "$inst" list) || fail "mcs-ringctl list (text) failed"
for r in $want; do
	echo "$text" | grep -q "^$r " || fail "ring $r missing from the text listing"
done
echo "ok: all rings listed ($names)"

# 3. Every slot gets a live pid.
ok=
for _ in $(seq 100); do
	if [ "$(ringjson "all(s['alive'] and s['pid'] > 0 for s in d['slots'])")" = yes ]; then ok=1; break; fi
	kill -0 "$launcher" 2>/dev/null || fail "mcs-launch exited while the stages started"
	sleep 0.1
done
[ -n "$ok" ] || fail "not every stage slot has a live pid after 10 s: $(ringjson "d['slots']")"
echo "ok: every stage runs"

# 4. SIGKILL one stage; it comes back with a new pid and a higher restart count.
old_pid=$(slot_field collector 1 pid)
old_restarts=$(slot_field collector 1 restarts)
[ -n "$old_pid" ] && [ "$old_pid" -gt 0 ] || fail "no pid for collector[1]"
kill -KILL "$old_pid" || fail "kill -9 $old_pid failed"
ok=
t0=$(date +%s%N)
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ]; do
	sleep 0.1
	read -r new_pid alive restarts < <(ringjson "' '.join(str(s['pid']) + ' ' + ('yes' if s['alive'] else 'no') + ' ' + str(s['restarts']) for s in d['slots'] if s['stage'] == 'collector' and s['index'] == 1)") || continue
	if [ "$new_pid" -gt 0 ] && [ "$new_pid" != "$old_pid" ] && [ "$alive" = yes ] &&
		[ "$restarts" -gt "$old_restarts" ]; then
		ok=1
		break
	fi
done
[ -n "$ok" ] || fail "collector[1] was not restarted within ~3 s (pid $old_pid -> ${new_pid:-?}, restarts $old_restarts -> ${restarts:-?})"
echo "ok: collector[1] restarted in $((($(date +%s%N) - t0) / 1000000)) ms: pid $old_pid -> $new_pid, restarts $old_restarts -> $restarts"
grep -q "collector\[1\] pid $old_pid killed by signal 9" "$dir/launch.log" ||
	fail "the launcher did not log the SIGKILL of collector[1]"
echo "ok: the exit was logged"

# 5. SIGTERM: orderly stop within 10 s, every stage gone.
stage_pids=$(ringjson "' '.join(str(s['pid']) for s in d['slots'] if s['pid'])")
kill -TERM "$launcher"
t0=$SECONDS
stopped=
for _ in $(seq 120); do
	kill -0 "$launcher" 2>/dev/null || { stopped=1; break; }
	sleep 0.1
done
[ -n "$stopped" ] || fail "mcs-launch did not exit within 12 s of SIGTERM"
wait "$launcher"
rc=$?
dt=$((SECONDS - t0))
launcher=
[ "$rc" -eq 0 ] || fail "mcs-launch exited with status $rc after SIGTERM"
[ "$dt" -le 10 ] || fail "mcs-launch took ${dt}s to stop"
for p in $stage_pids; do
	if kill -0 "$p" 2>/dev/null && grep -q mcs- "/proc/$p/comm" 2>/dev/null; then
		fail "stage pid $p still runs after the launcher stopped"
	fi
done
echo "ok: orderly stop in ${dt}s, exit status 0, no stage left"

# 6. The segments stay after the stop; --cleanup removes them.
ls /dev/shm | grep -q "^mcs\.$inst\." || fail "shared memory was removed on stop (it should stay)"
"$bin/mcs-launch" --instance "$inst" --cleanup >/dev/null 2>&1 || fail "mcs-launch --cleanup failed"
if ls /dev/shm | grep -q "^mcs\.$inst\."; then fail "segments left after --cleanup"; fi
"$bin/mcs-ringctl" --instance "$inst" list >/dev/null 2>&1 && fail "mcs-ringctl list succeeds after --cleanup"
echo "ok: --cleanup removed the segments"
echo "PASS"
