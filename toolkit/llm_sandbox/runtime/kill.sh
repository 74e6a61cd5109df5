# llm-sandbox timeout killer, passed as `sh -c "<this file>" llm-sandbox MODE RUN_DIR`.
# MODE "all": kill every process this user may signal except PID 1 (the keeper of a container the
#   library created), which also catches processes that left the run's process tree.
# MODE "tree": kill the process tree rooted at the pid in RUN_DIR/pid (containers we attached to,
#   where other processes are not ours to kill).
mode=$1 run_dir=$2
if [ "$mode" = all ]; then
    kill -9 -1 2>/dev/null
    rm -rf "$run_dir"
    exit 0
fi
root=$(cat "$run_dir/pid" 2>/dev/null) || exit 0
victims=$root frontier=$root
while [ -n "$frontier" ]; do
    next=
    for status in /proc/[0-9]*/status; do
        ppid=$(sed -n 's/^PPid:[[:space:]]*//p' "$status" 2>/dev/null)
        for parent in $frontier; do
            if [ "$ppid" = "$parent" ]; then
                pid=${status#/proc/}; next="$next ${pid%/status}"
            fi
        done
    done
    victims="$victims $next" frontier=$next
done
kill -9 $victims 2>/dev/null
rm -rf "$run_dir"
exit 0
