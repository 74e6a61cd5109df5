# PID 1 of every container the library creates (run as `sh -c "<this file>"`).
# It keeps a `sleep` child and, being a shell that `wait`s, reaps orphaned processes.
#
# On Docker and Podman it runs as root with no capability but CAP_KILL (Capabilities.root_keeper),
# so the sandbox user can neither signal, trace nor stop it; on Kubernetes it runs as the sandbox
# user (pods run as non-root), where the kernel still never delivers to PID 1 a signal it has no
# handler for. SIGUSR1, sent by the engine's kill API, is the fallback of a timeout: it kills every
# other process with the shell's builtin `kill`, which needs no fork, so it works even when a fork
# bomb has used up the pids limit and no exec can start. The loop ends as soon as nothing is left
# to kill (its own `sleep` included), so the host can tell it is done: PID 1 is back in `wait`
# (state S), which `kill.sh` checks before a kill counts as finished.
trap 'n=0; while kill -9 -1 2>/dev/null && [ $n -lt 1000 ]; do n=$((n + 1)); done' USR1
while :; do
    sleep 86400 &
    wait
done
