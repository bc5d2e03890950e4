# Sourced by the steps of t/run-all (t/steps/*, run by t/harness): a step
# prints TAP on stdout and keeps the output of what it runs in test-logs/.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
logs=$top/test-logs
mkdir -p "$logs"
# Where tests keep what a person looks at (t/24's screenshots), from any tree.
export HL_TEST_LOGS=$logs
cd "$top"

# one_test DESCRIPTION LOG COMMAND...: one test, ok when COMMAND succeeds.
# Its output goes to LOG; when it fails, the end of LOG to stderr.
one_test() {
    local desc=$1 log=$2
    shift 2
    if "$@" > "$log" 2>&1; then
        echo "ok - $desc"
    else
        tail -n 30 "$log" >&2
        echo "not ok - $desc (see $log)"
        return 1
    fi
}
