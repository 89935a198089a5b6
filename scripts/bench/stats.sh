# Sourced by the benchmark scripts: the figures they print.
# min_median LIST...: "MIN MEDIAN" of the numbers (separated by spaces or given apart)
min_median() {
    tr ' ' '\n' <<< "$*" | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END {
        printf "%s %s", a[1], (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
