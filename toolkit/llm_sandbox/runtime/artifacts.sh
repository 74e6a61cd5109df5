# llm-sandbox artifact collector, passed as `sh -c "<this file>" llm-sandbox MODE RUN_DIR OUTPUTS MAX_FILE_BYTES`
# by the run wrapper (run.sh) and the warm runner. Needs find, sort, comm, sed and tar (Debian minbase).
#
# MODE before: note what OUTPUTS holds now (RUN_DIR/before).
# MODE after:  write RUN_DIR/artifacts.tar holding RUN_DIR/plots, the regular files under OUTPUTS that
#              are new or changed since "before" and at most MAX_FILE_BYTES large, and
#              RUN_DIR/large-files: "<size> <path>" records of the larger ones (listed, not sent).
# Every list is NUL-separated end to end: a file name may hold any byte but NUL, newlines included,
# and cannot smuggle a path into another list. "New or changed" compares listings (mtime, size,
# path), so no marker file's timestamp has to be trusted. The host checks every path it receives.
mode=$1 run_dir=$2 outputs=$3 limit=${4:-10485760}
export LC_ALL=C
listing() { find "$outputs" -type f "$@" -printf '%T@ %s %p\0' 2>/dev/null | sort -z; }
if [ "$mode" = before ]; then
    mkdir -p "$outputs" 2>/dev/null
    listing >"$run_dir/before"
    exit 0
fi
: >"$run_dir/send"
: >"$run_dir/large-files"
[ -f "$run_dir/before" ] || : >"$run_dir/before"
if [ -n "$outputs" ] && [ -d "$outputs" ]; then
    listing -size -$((limit + 1))c | comm -z -13 "$run_dir/before" - | sed -z 's/^[^ ]* [^ ]* //' >"$run_dir/send"
    listing -size +"$limit"c | comm -z -13 "$run_dir/before" - | sed -z 's/^[^ ]* //' >"$run_dir/large-files"
fi
tar -cf "$run_dir/artifacts.tar" -C "$run_dir" plots large-files -C / --null --no-recursion -T "$run_dir/send" 2>/dev/null
exit 0
