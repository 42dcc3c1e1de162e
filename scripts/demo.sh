#!/usr/bin/env bash
# make demo: the control loop against the simulated Mesos cluster and Spark
# dispatcher, with the embedded store: apply a directory of manifests, watch
# it converge, edit one manifest, watch the resubmission.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
WORK=$(mktemp -d)
MASTER=127.0.0.1:${DEMO_MASTER_PORT:-15050}
DISPATCHER=127.0.0.1:${DEMO_DISPATCHER_PORT:-17077}
export RECONCILER_MASTER="mesos://$MASTER" RECONCILER_STORE="bolt:$WORK/state.db"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "reconciler validate examples/manifests"
$BIN/reconciler validate examples/manifests

step "mesos-sim --agents 3 --master $MASTER --dispatcher $DISPATCHER"
$BIN/mesos-sim --agents 3 --master "$MASTER" --dispatcher "$DISPATCHER" --queues URGENT=1.0,batch=0.5 > "$WORK/sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do grep -q serving "$WORK/sim.log" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/sim.log"
cp -r examples/demo "$WORK/manifests"

step "reconciler diff manifests/"
$BIN/reconciler diff "$WORK/manifests" || true

step "reconciler apply manifests/ --wait"
$BIN/reconciler apply "$WORK/manifests" --wait --timeout 30s || true

step "reconciler status"
$BIN/reconciler status

step "Mesos sees the drivers (labelled with owner and spec hash) and their executors"
curl -sS -X POST -H 'Content-Type: application/json' -d '{"type":"GET_TASKS"}' "http://$MASTER/api/v1" | jq -r '
  ["TASK", "NAME", "STATE", "SPEC HASH"],
  (.get_tasks.tasks[] | [.task_id.value, .name, .state,
    ((.labels.labels // [])[] | select(.key == "sparkmesos.io/spec-hash") | .value)]) | @tsv' | column -t -s $'\t'

step "edit clickstream.yaml: spark.sql.shuffle.partitions 200 -> 400, then diff"
sed -i 's/spark.sql.shuffle.partitions: "200"/spark.sql.shuffle.partitions: "400"/' "$WORK/manifests/clickstream.yaml"
$BIN/reconciler diff "$WORK/manifests" || true

step "reconciler apply manifests/ --wait"
$BIN/reconciler apply "$WORK/manifests" --wait --timeout 30s || true

step "reconciler status clickstream (record, events)"
$BIN/reconciler status clickstream | sed -n '/events:/,$p'
