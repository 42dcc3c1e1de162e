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
export RECONCILER_MASTER="mesos://$MASTER" RECONCILER_STORE="bolt:$WORK/state.db" RECONCILER_API_TOKEN_FILE="$WORK/api-token"

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
$BIN/reconciler status clickstream | sed -n '/Events:/,$p'

step "GitOps: the same manifests in a Git repository, followed by reconciler run --git"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
git init -q --bare -b main "$WORK/repo.git"
git init -q -b main "$WORK/clone"
mkdir "$WORK/clone/spark" && cp "$WORK"/manifests/*.yaml "$WORK/clone/spark/"
git -C "$WORK/clone" add -A && git -C "$WORK/clone" commit -qm "Spark applications" && git -C "$WORK/clone" push -q "$WORK/repo.git" HEAD:main
printf 'demo-webhook-secret' > "$WORK/hook-secret"
LISTEN=127.0.0.1:${DEMO_LISTEN_PORT:-18080}
$BIN/reconciler run --git "file://$WORK/repo.git" --git-path spark --git-cache "$WORK/git-cache" \
  --git-webhook-secret-file "$WORK/hook-secret" --git-poll 1h --listen "$LISTEN" > "$WORK/run.log" 2>&1 &
RUN=$!
trap 'kill $RUN $SIM 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://$LISTEN/readyz" >/dev/null && break; sleep 0.1; done
$BIN/reconciler status --source | sed -n 1,3p   # sed reads it all: no SIGPIPE under pipefail

step "commit: spark-pi arguments 1000 -> 2000; a signed push webhook syncs it at once"
sed -i 's/arguments: \["1000"\]/arguments: ["2000"]/' "$WORK/clone/spark/spark-pi.yaml"
git -C "$WORK/clone" commit -qam "spark-pi: 2000 slices" && git -C "$WORK/clone" push -q "$WORK/repo.git" HEAD:main
HEAD_SHA=$(git -C "$WORK/clone" rev-parse HEAD)
BODY='{"ref":"refs/heads/main"}'
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac demo-webhook-secret | awk '{print $NF}')
curl -sS -X POST -H "X-Hub-Signature-256: sha256=$SIG" -d "$BODY" "http://$LISTEN/hooks/git"
for _ in $(seq 100); do $BIN/reconciler status --source -o json | jq -e --arg r "main@sha1:$HEAD_SHA" '.lastAppliedRevision == $r' >/dev/null && break; sleep 0.1; done
$BIN/reconciler status
grep -E 'git: new revision|action=resubmit' "$WORK/run.log" | cut -c1-200

step "a schedule: run-now nightly-report --arg (through run), then Forbid refuses a second one"
$BIN/reconciler run-now nightly-report --server "$LISTEN" --arg --day=2026-11-30 --arg --sim-duration=20s
RUNNING='.get_tasks.tasks[] | select(.state == "TASK_RUNNING") | select(any(.labels.labels[]?; .key == "sparkmesos.io/schedule" and .value == "nightly-report")) | .name'
for _ in $(seq 100); do
  curl -sS -X POST -H 'Content-Type: application/json' -d '{"type":"GET_TASKS"}' "http://$MASTER/api/v1" | jq -e -r "$RUNNING" 2>/dev/null && break
  sleep 0.1
done
$BIN/reconciler run-now nightly-report --server "$LISTEN" || true
$BIN/reconciler status nightly-report | sed -n '/^  schedule:/,/^  status:/p'

step "spark-pi's runs (the first killed for the new spec) and its driver's log"
$BIN/reconciler history spark-pi
$BIN/reconciler logs spark-pi --tail 4

step "the status page that run serves: http://$LISTEN/ (live; here its applications, as curl reads them)"
curl -sS "http://$LISTEN/?part=main" | grep -o 'data-app="[^"]*" class="phase-[a-z]*"' | sed -E 's/data-app="([^"]*)" class="phase-([a-z]*)"/  \1: \2/'
