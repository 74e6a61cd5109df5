# PID 1 of every container the library creates (run as `sh -c "<this file>"`, as the sandbox user).
# It keeps a `sleep` child and, being a shell that `wait`s, reaps orphaned processes.
# SIGUSR1 (sent by the engine's kill API on a timeout) kills every other process of the sandbox
# user. The shell's builtin `kill` needs no fork, so this works even when a fork bomb has used up
# the pids limit and no new process (not even an exec) can start. The kernel never delivers to
# PID 1 a signal it has no handler for, so code in the sandbox cannot kill the keeper.
trap 'n=0; while [ $n -lt 300 ]; do kill -9 -1 2>/dev/null; n=$((n + 1)); done' USR1
while :; do
    sleep 86400 &
    wait
done
