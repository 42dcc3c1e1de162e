#!/usr/bin/env bash
# make demo: start the simulated Mesos cluster and Spark dispatcher, render
# an example manifest, submit exactly the rendered request, and watch the
# driver and its executors run. (The control loop will take this over.)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin
MASTER=127.0.0.1:${DEMO_MASTER_PORT:-15050}
DISPATCHER=127.0.0.1:${DEMO_DISPATCHER_PORT:-17077}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "reconciler validate examples/manifests"
$BIN/reconciler validate examples/manifests

step "mesos-sim --agents 3 --master $MASTER --dispatcher $DISPATCHER"
$BIN/mesos-sim --agents 3 --master "$MASTER" --dispatcher "$DISPATCHER" --queues URGENT=1.0,batch=0.5 > .demo-sim.log 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null; rm -f .demo-sim.log' EXIT
for _ in $(seq 50); do grep -q serving .demo-sim.log 2>/dev/null && break; sleep 0.1; done
cat .demo-sim.log

api() { curl -sS -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' -d "$1" "http://$MASTER/api/v1"; }

step "reconciler render examples/manifests --name spark-pi -o submit"
$BIN/reconciler render examples/manifests --kind SparkApplication --name spark-pi -o submit

step "POST the rendered CreateSubmissionRequest to the simulated dispatcher"
$BIN/reconciler render examples/manifests --kind SparkApplication --name spark-pi -o request | sed 1d > .demo-request.json
RESPONSE=$(curl -sS -X POST -H 'Content-Type: application/json' --data-binary @.demo-request.json "http://$DISPATCHER/v1/submissions/create")
rm -f .demo-request.json
echo "$RESPONSE"
ID=$(printf '%s' "$RESPONSE" | sed -n 's/.*"submissionId" : "\([^"]*\)".*/\1/p')

step "GET /v1/submissions/status/$ID"
sleep 1
curl -sS "http://$DISPATCHER/v1/submissions/status/$ID"; echo

step "Mesos GET_TASKS: the driver task (labels carry the owner and spec hash) and its executors"
api '{"type":"GET_TASKS"}' | jq -r '
  ["TASK", "NAME", "STATE", "CPUS", "MEM", "FRAMEWORK"],
  (.get_tasks.tasks[] | [.task_id.value, .name, .state,
     (.resources[] | select(.name == "cpus") | .scalar.value),
     (.resources[] | select(.name == "mem") | .scalar.value),
     .framework_id.value[-40:]]) | @tsv' | column -t -s $'\t'
echo "driver labels:"
api '{"type":"GET_TASKS"}' | jq -r '.get_tasks.tasks[] | select(.name | startswith("Driver")) | .labels.labels[] | "  \(.key)=\(.value)"'

step "POST /v1/submissions/kill/$ID"
curl -sS -X POST "http://$DISPATCHER/v1/submissions/kill/$ID"; echo
