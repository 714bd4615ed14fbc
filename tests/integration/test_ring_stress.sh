#!/usr/bin/env bash
# test_ring_stress: >= 100 million records of random sizes through one shm
# ring between two processes, with the consumer SIGKILLed mid-run and
# restarted three times. Checks that nothing was lost, order and content
# were kept (ring_stress verifies every byte), and that each restart replayed
# at most one batch (at-least-once delivery, DESIGN.md §2).
#
# Env: MCS_BIN (bin or bin-san), RING_STRESS_COUNT, RING_STRESS_MIN/MAX
# (payload bytes, default 16..4096), RING_STRESS_BATCH (default 256).
# Under bin-san the count drops to 5 million (ASan is slow).
# Exit 0 on success, 1 on failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MCS_BIN:-$top/bin}
tool=$bin/tools/ring_stress
if [ ! -x "$tool" ]; then
	echo "FAIL: $tool not built (make $bin/tools/ring_stress)"
	exit 1
fi
count=100000000
case $bin in *bin-san*) count=5000000 ;; esac
count=${RING_STRESS_COUNT:-$count}
min=${RING_STRESS_MIN:-16}
max=${RING_STRESS_MAX:-4096}
batch=${RING_STRESS_BATCH:-256}
kills=3
opts=(-m "$min" -M "$max" -b "$batch" -c $((1 << 20)))

name=/mcs.ringstress.$$
work=$(mktemp -d "${TMPDIR:-/tmp}/ring_stress.XXXXXX")
state=$work/consumer.state
prod_pid= cons_pid=
cleanup() {
	[ -n "$prod_pid" ] && kill -9 "$prod_pid" 2>/dev/null
	[ -n "$cons_pid" ] && kill -9 "$cons_pid" 2>/dev/null
	rm -f "/dev/shm/${name#/}"
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
	exit 1
}

echo "ring stress: $count records of $min..$max bytes, batch $batch, $kills consumer kills ($bin)"
t0=$(date +%s.%N)
"$tool" produce "$name" "$count" "${opts[@]}" >"$work/producer.log" 2>&1 &
prod_pid=$!
"$tool" consume "$name" "$count" "$state" "${opts[@]}" -d 2 >"$work/consumer.0.log" 2>&1 &
cons_pid=$!
disown "$cons_pid" # to be killed: no "Killed" job notice from bash

for k in $(seq 1 $kills); do
	target=$((count * k / (kills + 1)))
	# The killer waits until the consumer processed `target` records and
	# holds a partly processed batch (kills 1 and 3: the ring redelivers
	# records the consumer had not processed), or a processed batch it has
	# not released yet (kill 2: the ring redelivers records the consumer
	# must drop as duplicates), then sends SIGKILL.
	mode=batch; [ "$k" -eq 2 ] && mode=held
	"$tool" kill "$state" "$cons_pid" "$target" $mode || fail "consumer exited before kill $k"
	for i in $(seq 500); do kill -0 "$cons_pid" 2>/dev/null || break; sleep 0.01; done
	kill -0 "$cons_pid" 2>/dev/null && fail "consumer still alive after SIGKILL $k"
	read -r last taken dups redelivered restarts done < <("$tool" state "$state")
	[ "$last" -lt "$count" ] || fail "kill $k came after the end"
	echo "  kill $k ($mode): consumer SIGKILLed after $last processed, $taken taken records"
	"$tool" consume "$name" "$count" "$state" "${opts[@]}" -d 2 >"$work/consumer.$k.log" 2>&1 &
	cons_pid=$!
	[ "$k" -lt "$kills" ] && disown "$cons_pid"
done

wait "$cons_pid"; rc=$?; cons_pid=
[ $rc -eq 0 ] || fail "consumer failed with $rc"
wait "$prod_pid"; rc=$?; prod_pid=
[ $rc -eq 0 ] || fail "producer failed with $rc"
t1=$(date +%s.%N)

read -r last taken dups redelivered restarts done < <("$tool" state "$state")
[ "$last" -eq "$count" ] || fail "consumer processed $last of $count records"
[ "$done" -eq 1 ] || fail "consumer did not mark the run done"
[ "$restarts" -eq "$kills" ] || fail "consumer saw $restarts restarts, expected $kills"
[ "$redelivered" -le $((kills * batch)) ] || fail "$redelivered records redelivered: more than one batch per restart"
[ "$dups" -le "$redelivered" ] || fail "more duplicates ($dups) than redelivered records ($redelivered)"
[ "$dups" -gt 0 ] || fail "the kill after persisting replayed no duplicates"
stat=$("$tool" stat "$name") || fail "cannot read the ring counters"
echo "  ring: $stat"
eval "$(echo "$stat" | tr ' ' '\n' | grep -E '^[a-z_]+=[0-9]+$' | sed 's/^/r_/')"
[ "$r_records_in" -eq "$count" ] || fail "ring published $r_records_in records"
[ "$r_records_out" -eq "$count" ] || fail "ring released $r_records_out records (released twice or lost)"
[ "$r_read_pos" -eq "$r_write_pos" ] || fail "ring not drained"
[ "$r_corrupt" -eq 0 ] || fail "$r_corrupt corrupt records"

grep -h 'restart' "$work"/consumer.*.log | sed 's/^/  /'
cat "$work/producer.log" | sed 's/^/  /'
secs=$(echo "$t1 - $t0" | bc -l 2>/dev/null || awk "BEGIN{print $t1 - $t0}")
rate=$(awk "BEGIN{printf \"%.2f\", $count / ($secs) / 1e6}")
echo "PASS: $count records in ${secs%.*} s ($rate M records/s end to end), none lost, order kept,"
echo "      $kills consumer kills: $redelivered records redelivered in total, $dups of them already"
echo "      processed (duplicates); at most one batch of $batch per restart"
awk "BEGIN{exit !($secs > 180)}" && echo "WARNING: took more than 3 minutes"
exit 0
