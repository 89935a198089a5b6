# Sourced by the benchmark scripts: how they time a run, the figures they print.

# timed_run LABEL ROUND: the script's `run_cmd LABEL` (output in $work/log; `die`
# if it fails), its wall time added to the script's times[LABEL]
timed_run() {
    local s e t
    s=$(date +%s.%N)
    run_cmd "$1" > "$work/log" 2>&1 || { cat "$work/log" >&2; die "$1 failed (round $2)"; }
    e=$(date +%s.%N)
    t=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
    times[$1]+="$t "
    echo "   round $2 $1: $t s" >&2
}

# min_median LIST...: "MIN MEDIAN" of the numbers (separated by spaces or given apart)
min_median() {
    tr ' ' '\n' <<< "$*" | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END {
        printf "%s %s", a[1], (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
