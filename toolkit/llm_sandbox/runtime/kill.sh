# llm-sandbox killer, passed as `sh -c "<this file>" llm-sandbox MODE RUN_DIR`. Exits 0 only when
# the kill is finished: nothing it was asked to kill is left, and the keeper is idle.
# MODE "all": kill every process this user may signal, which also catches processes that left the
#   run's process tree (setsid daemons, pid-hopping fork chains). `kill -1` spares the caller and
#   PID 1 (the keeper); the keeper's own `sleep` child is spared when it belongs to this user.
# MODE "tree": kill the process tree rooted at the pid in RUN_DIR/pid (containers we attached to,
#   where other processes are not ours to kill).
# Only shell builtins are used in the loops: no fork per check.
mode=$1 run_dir=$2
while read -r key uid rest; do [ "$key" = Uid: ] && break; done </proc/self/status

# True when this user still has a process other than this script, the keeper and its `sleep`.
leftover() {
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [ "$pid" = $$ ] || [ "$pid" = 1 ] && continue
        owner= ppid= name=
        while read -r key value rest; do
            case $key in
                Name:) name=$value ;;
                PPid:) ppid=$value ;;
                Uid:) owner=$value; break ;;
            esac
        done 2>/dev/null <"$dir/status"
        [ "$owner" = "$uid" ] || continue
        [ "$ppid" = 1 ] && [ "$name" = sleep ] && continue
        return 0
    done
    return 1
}

keeper_idle() {
    read -r stat 2>/dev/null </proc/1/stat || return 0
    state=${stat##*) }
    [ "${state%% *}" = S ]
}

if [ "$mode" = all ]; then
    n=0
    while [ $n -lt 50 ]; do
        kill -9 -1 2>/dev/null
        if keeper_idle && ! leftover; then
            rm -rf "$run_dir"
            exit 0
        fi
        n=$((n + 1))
    done
    exit 1
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
