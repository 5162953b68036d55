#!/usr/bin/env bash
# Runs Jazzer fuzzing campaigns, one target after another (they share the machine's cores badly in parallel).
#   scripts/fuzz.sh [DURATION] [Class#method ...]      e.g.  scripts/fuzz.sh 10m   or   scripts/fuzz.sh 2m ConfigFuzzTest#parse
# DURATION is per target (Jazzer's syntax: 30s, 5m, 1h; default 5m). With no targets it runs all of them. Each log goes
# to target/fuzz/<target>.log; the summary (executions, seconds, result) to stdout. New corpus entries collect in
# .cifuzz-corpus/ (git-ignored); a finding is written as crash-* into the target's Inputs directory under
# src/test/resources, which plain `mvn test` then replays: fix the code, rename the file after what it found, keep it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/jdk.sh
find_jdk
duration=${1:-5m}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(SafetensorsFuzzTest#header SafetensorsFuzzTest#checkpointIndex ConfigFuzzTest#parse
           TokenizerFuzzTest#tokenizerJson TokenizerFuzzTest#encodeDecode ChatTemplateFuzzTest#messages
           ChatTemplateFuzzTest#templateSource CompletionRequestFuzzTest#body)
fi
mvn -B -q -Dstyle.color=never test-compile >/dev/null || { echo "test-compile failed"; exit 1; }
mkdir -p target/fuzz
status=0
printf '%-42s %12s %8s  %s\n' target executions seconds result
for t in "${targets[@]}"; do
  log=target/fuzz/${t//#/.}.log
  extra=()
  # chat templates: let coverage guide through jinjava too, not only nemoh's code
  case $t in ChatTemplateFuzzTest*) extra=(-Djazzer.instrumentation_includes='dev.nemoh.**:com.hubspot.jinjava.**') ;; esac
  JAZZER_FUZZ=1 mvn -B -Dstyle.color=never test -Dtest="$t" -Djazzer.max_duration="$duration" "${extra[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FINDING: $(grep -m1 -oE 'FuzzTestFinding[^ ]* .*|Caused by: .*' "$log" | cut -c1-160)"
    status=1
  fi
  printf '%-42s %12s %8s  %s\n' "$t" "$(echo "$runs" | awk '{print $2}')" "$(echo "$runs" | awk '{print $5}')" "$result"
done
exit $status
