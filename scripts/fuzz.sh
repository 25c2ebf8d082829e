#!/bin/bash
# Runs fuzz targets one after another for FUZZTIME each and prints a table: executions,
# rate, corpus growth, outcome. Exits 1 if any target found a crash (the failing input is
# written under the package's testdata/fuzz/<target>/ by go test; commit it with the fix).
#   scripts/fuzz.sh [-parallel N] [pkg:Target ...]     (default: every target below)
#   FUZZTIME=10m scripts/fuzz.sh
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
PARALLEL=""
if [ "${1:-}" = -parallel ]; then PARALLEL="-parallel $2"; shift 2; fi
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
	targets=(
		./vrrp:FuzzAdvertUnmarshal ./vrrp:FuzzValidate
		./config:FuzzParse ./internal/cmdline:FuzzSplit ./kaimport:FuzzImport ./kaimport:FuzzJoinCommand
		./vip:FuzzStateFile ./lvs:FuzzParseAnswer ./lvs:FuzzParseRules
	)
fi
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
rows=()
fail=0
for t in "${targets[@]}"; do
	pkg=${t%%:*}
	name=${t##*:}
	echo "fuzz: $pkg $name for $FUZZTIME" >&2
	start=$(date +%s)
	# shellcheck disable=SC2086 # PARALLEL is two words or none
	go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" $PARALLEL >"$log/$name" 2>&1
	rc=$?
	secs=$(($(date +%s) - start)) # including the build and the corpus's baseline run
	last=$(grep -E '^fuzz: elapsed' "$log/$name" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$last")
	rate=?
	[ -n "$execs" ] && [ "$secs" -gt 0 ] && rate=$((execs / secs))
	newi=$(sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 (total \2)/p' <<<"$last")
	outcome=ok
	if [ $rc != 0 ]; then
		outcome=CRASH
		fail=1
		tail -30 "$log/$name" >&2
	fi
	rows+=("$(printf '| %-10s | %-20s | %6ss | %12s | %9s | %-16s | %s |' "$pkg" "$name" "$secs" "${execs:-?}" "$rate" "${newi:-?}" "$outcome")")
done
echo
echo "FUZZTIME=$FUZZTIME per target, go $(go env GOVERSION), $(nproc) CPUs, ${PARALLEL:-all CPUs}, $(date -u +%FT%TZ)"
printf '| %-10s | %-20s | %7s | %12s | %9s | %-16s | %s |\n' package target "run" execs "execs/s" "new interesting" outcome
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $fail
