#!/usr/bin/env bash
# Run the cross-process tests (node, bag play, demo) N times in a row and count the failures.
#
#   tools/stress_tests.sh N            N runs (default 5)
#   tools/stress_tests.sh N --busy     the same beside a busy loop that keeps one core at 100 %
#   STRESS_TESTS="test/ros/test_node.py" tools/stress_tests.sh 3   only these tests
#
# Each run's pytest output goes to $STRESS_LOG_DIR (default /tmp/la_pose_stress/run_K.log).
# Prints one line per run and the failure count; exits 1 when any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
BUSY=${2:-}
TESTS=${STRESS_TESTS:-test/ros/test_node.py test/ros/test_bags.py test/ros/test_demo.py}
LOG_DIR=${STRESS_LOG_DIR:-/tmp/la_pose_stress}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$LOG_DIR"

busy_pid=""
stop_busy() { [[ -n "$busy_pid" ]] && kill "$busy_pid" 2>/dev/null; }
trap stop_busy EXIT
if [[ "$BUSY" == "--busy" ]]; then
  bash -c 'while :; do :; done' &
  busy_pid=$!
  echo "busy loop on one core: pid $busy_pid"
elif [[ -n "$BUSY" ]]; then
  echo "usage: $0 [N] [--busy]" >&2
  exit 2
fi

failed_runs=0
failed_tests=0
for run in $(seq 1 "$RUNS"); do
  log="$LOG_DIR/run_$run.log"
  started=$(date +%s)
  # shellcheck disable=SC2086
  "$PYTHON" -m pytest -q -p no:cacheprovider $TESTS > "$log" 2>&1
  status=$?
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$log" | tail -1 | tr -d '=')
  echo "run $run/$RUNS: exit $status, $(( $(date +%s) - started )) s:${summary:- no summary, see $log}"
  if [[ $status -ne 0 ]]; then
    failed_runs=$((failed_runs + 1))
    count=$(grep -cE '^FAILED|^ERROR' "$log")
    failed_tests=$((failed_tests + (count > 0 ? count : 1)))
    grep -E '^FAILED|^ERROR' "$log" | sed 's/^/    /'
  fi
done
echo "failures: $failed_tests failed tests in $failed_runs of $RUNS runs (logs: $LOG_DIR)"
[[ $failed_runs -eq 0 ]]
