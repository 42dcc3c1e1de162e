#!/usr/bin/env bash
# make bench: run the benchmarks and print each measure beside its target.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

echo "running benchmarks (about ten minutes; BENCH_100K=0 leaves out the 100,000-application cases, five of them)..." >&2
go test -run '^$' -bench 'Plan10k' -benchtime 20x ./reconcile >> "$OUT"
go test -run '^$' -bench 'Plan100k' -benchtime 5x -timeout 20m ./reconcile >> "$OUT"
go test -run '^$' -bench 'ExecuteSteady' -benchtime 5x -benchmem ./reconcile >> "$OUT"
go test -run '^$' -bench 'Render10k' -benchtime 3x -benchmem ./render >> "$OUT"
go test -run '^$' -bench 'Writes|Reads' -benchtime 2000x ./store/bolt ./store/zk >> "$OUT"
go test -run '^$' -bench 'PutAll' -benchtime 20x ./store/bolt ./store/zk >> "$OUT"
go test -run '^$' -bench 'Versions' -benchtime 5x ./store/bolt ./store/zk >> "$OUT"
go test -run '^$' -bench SyncNewCommit -benchtime 20x ./source/git >> "$OUT"
go test -run '^$' -bench DecodeState10k -benchtime 5x -benchmem ./mesos >> "$OUT"
go test -run '^$' -bench Loop -benchtime 1x ./e2e >> "$OUT"
go run ./cmd/bench | tee -a "$OUT" >&2

metric() { # metric BENCHMARK UNIT [PACKAGE-REGEX]: the value before UNIT on the benchmark's line
  awk -v b="$1" -v u="$2" -v p="${3:-.}" '
    /^pkg: / { pkg = $2 }
    $1 ~ "^"b"(-[0-9]+)?$" && pkg ~ p { for (i = 2; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$OUT"
}
ratio() { awk -v m="$1" '$0 ~ m { for (i = 1; i <= NF; i++) if ($i ~ /x$/ && $i+0 > 0) { print $i; exit } }' "$OUT"; }

plan_ms=$(awk '$1 ~ /^BenchmarkPlan10k/ { printf "%.1f", $3/1e6 }' "$OUT")
printf '\n%-52s %18s   %s\n' "measure" "value" "target"
# row MEASURE VALUE TARGET; a value that is only its unit was not measured
# (a benchmark that skipped: the ZooKeeper ones where it is not installed).
row() {
  local v=$2
  case "${v// /}" in "" | ms | MB | s | x | "ms,MB" | "ms,ms") v="not measured" ;; esac
  printf '%-52s %18s   %s\n' "$1" "$v" "$3"
}
row "load + validate, 10,000 manifests / bare YAML decode" "$(ratio 'load \+ validate  ')" "<= 1.3x"
row "load + validate + render / bare YAML decode" "$(ratio 'load \+ validate \+ render')" "<= 1.3x"
row "plan over 10,000 running applications" "${plan_ms} ms" "<= 10 ms"
row "HTTP calls per steady pass, 10,000 running (poll)" "$(metric BenchmarkLoopRunning10k calls/pass)" "<= 2"
row "master calls per steady pass, 10,000 (events)" "$(metric BenchmarkLoopRunning10k master-calls/pass-events)" "0"
row "steady pass on the view, 10,000 running" "$(metric BenchmarkLoopRunning10k pass-events-ms) ms" "-"
row "one task update -> in the view, p50 (10,000)" "$(metric BenchmarkLoopRunning10k update-to-view-p50-ms) ms" "<= 5 ms"
row "steady pass / one GET_STATE (500 apps)" "$(metric BenchmarkLoopSteadyPass pass/getstate)x" "<= 2x"
row "steady pass / one GET_STATE (10,000 running apps)" "$(metric BenchmarkLoopRunning10k pass/getstate)x" "<= 2x"
row "manifest write -> create POST, p50" "$(metric BenchmarkLoopFileToSubmit/isolated p50-ms) ms" "<= 30 ms"
row "manifest write -> create POST, p99" "$(metric BenchmarkLoopFileToSubmit/isolated p99-ms) ms" "<= 100 ms"
row "  edits 50 ms apart (in the debounce interval), p50" "$(metric BenchmarkLoopFileToSubmit/burst p50-ms) ms" "-"
row "decode GET_STATE of 10,000 drivers, lean JSON" "$(awk '$1 ~ /^BenchmarkDecodeState10k\/json-lean/ { printf "%.0f ms, %.0f MB", $3/1e6, $7/1e6 }' "$OUT")" "(kept)"
row "  the same as protobuf (mesos-go types)" "$(awk '$1 ~ /^BenchmarkDecodeState10k\/protobuf/ { printf "%.0f ms, %.0f MB", $3/1e6, $7/1e6 }' "$OUT")" "-"
row "git sync finding one new commit, 500 manifests" "$(awk '$1 ~ /^BenchmarkSyncNewCommit/ { printf "%.1f", $3/1e6 }' "$OUT") ms" "-"
row "git commit -> create POST, webhook, p50 (500 apps)" "$(metric BenchmarkLoopGitCommitToSubmit/webhook p50-ms) ms" "-"
row "git commit -> create POST, webhook, p99" "$(metric BenchmarkLoopGitCommitToSubmit/webhook p99-ms) ms" "<= 1000 ms"
row "git commit -> create POST, polling 1s, p50" "$(metric BenchmarkLoopGitCommitToSubmit/poll-1s p50-ms) ms" "~ poll/2 + webhook"
row "git commit -> create POST, polling 1s, p99" "$(metric BenchmarkLoopGitCommitToSubmit/poll-1s p99-ms) ms" "-"
row "submissions per second to the dispatcher" "$(metric BenchmarkLoopSubmissions submissions/s)" "spark-operator: ~1.3/s"
row "peak RSS, one pass over 10,000 manifests" "$(metric BenchmarkLoopRSS10k peak-rss-MB) MB" "<= 150 MB"
row "peak RSS, run adopting + watching 10,000 running" "$(metric BenchmarkLoopRunning10k run-peak-rss-MB) MB" "<= 100 MB"
row "  the same with --observe poll" "$(metric BenchmarkLoopRunning10k run-poll-peak-rss-MB) MB" "-"
row "  run with an empty store: all 10,000 adopted after" "$(metric BenchmarkLoopRunning10k run-adopts-s) s" "-"
row "plan over 10,000 (in the loop benchmark)" "$(metric BenchmarkLoopRunning10k plan-ms) ms" "<= 10 ms"
row "plan over 10,000 in run (mean of 10 quiet steady passes)" "$(metric BenchmarkLoopRunning10k run-plan-ms) ms" "<= 10 ms"
row "  run's whole steady pass: observe + plan + execute" "$(metric BenchmarkLoopRunning10k run-pass-ms) ms" "-"
row "  its observe, its execute" "$(metric BenchmarkLoopRunning10k run-observe-ms) ms, $(metric BenchmarkLoopRunning10k run-execute-ms) ms" "-"
row "  execute of a steady plan, the executor alone" "$(awk '$1 ~ /^BenchmarkExecuteSteady10k/ { printf "%.1f", $3/1e6 }' "$OUT") ms" "-"
row "100,000 running: sim converges in" "$(metric BenchmarkLoopRunning100k converge-s) s" "-"
row "100,000: master calls per steady pass (events)" "$(metric BenchmarkLoopRunning100k master-calls/pass-events)" "0"
row "100,000: steady pass on the view" "$(metric BenchmarkLoopRunning100k pass-events-ms) ms" "-"
row "100,000: plan (in the loop benchmark, beside the sim)" "$(metric BenchmarkLoopRunning100k plan-ms) ms" "<= 150 ms"
row "100,000: plan, the planner alone" "$(awk '$1 ~ /^BenchmarkPlan100k/ { printf "%.1f", $3/1e6 }' "$OUT") ms" "<= 150 ms"
row "100,000: plan in run (mean of 10 quiet steady passes)" "$(metric BenchmarkLoopRunning100k run-plan-ms) ms" "<= 150 ms"
row "100,000: run's whole steady pass" "$(metric BenchmarkLoopRunning100k run-pass-ms) ms" "-"
row "  its observe, its execute" "$(metric BenchmarkLoopRunning100k run-observe-ms) ms, $(metric BenchmarkLoopRunning100k run-execute-ms) ms" "-"
row "  execute of a steady plan, the executor alone" "$(awk '$1 ~ /^BenchmarkExecuteSteady100k/ { printf "%.1f", $3/1e6 }' "$OUT") ms" "-"
row "100,000: one task update -> in the view, p50" "$(metric BenchmarkLoopRunning100k update-to-view-p50-ms) ms" "-"
row "100,000: run's peak RSS" "$(metric BenchmarkLoopRunning100k run-peak-rss-MB) MB" "<= 800 MB"
row "100,000: run with an empty store: all adopted after" "$(metric BenchmarkLoopRunning100k run-adopts-s) s" "-"
row "sim: 10,000 submitted apps all running after" "$(metric BenchmarkLoopRunning10k converge-s) s" "-"
row "store writes/s, bolt (10,000 records)" "$(metric BenchmarkWrites10k writes/s store/bolt)" "-"
row "  the same in batches of 256 (PutAll: what run observed)" "$(metric BenchmarkPutAll10k writes/s store/bolt)" "-"
row "store reads/s, bolt" "$(metric BenchmarkReads10k reads/s store/bolt)" "-"
row "store writes/s, ZooKeeper (fenced)" "$(metric BenchmarkWrites10k writes/s store/zk)" "-"
row "  the same in batches of 256 (32 in flight)" "$(metric BenchmarkPutAll10k writes/s store/zk)" "-"
row "store reads/s, ZooKeeper" "$(metric BenchmarkReads10k reads/s store/zk)" "-"
row "versions of 10,000 records (a pass's store read), bolt" "$(metric BenchmarkVersions10k ns/op store/bolt | awk '{ printf "%.1f", $1/1e6 }') ms" "-"
row "  the same, ZooKeeper (32 requests in flight)" "$(metric BenchmarkVersions10k ns/op store/zk | awk '{ printf "%.0f", $1/1e6 }') ms" "-"
