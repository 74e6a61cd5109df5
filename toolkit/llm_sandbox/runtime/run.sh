# llm-sandbox run wrapper: runs one piece of code or one shell command inside the sandbox.
# It is passed as `sh -c "<this file>" llm-sandbox RUN_DIR FILE COMMAND [OUTPUTS_DIR ARTIFACTS_SH]`,
# so it needs nothing installed in the image but a POSIX shell and head (and, for artifact runs,
# what runtime/artifacts.sh needs).
#
# stdin:  "<nonce> <size>\n" then <size> bytes, written to RUN_DIR/FILE (nothing when size is 0).
#         The program itself gets /dev/null as stdin.
# stdout: the program's own stdout, untouched; then "<nonce> <exit code> <size>\n" and <size> bytes:
#         for artifact runs (OUTPUTS_DIR given) the tar stream of artifacts.sh, else nothing.
run_dir=$1 file=$2 command=$3 outputs=${4-} artifacts_sh=${5-}
IFS=' ' read -r nonce size || exit 125
umask 077
mkdir -p "$run_dir/plots" || exit 125
echo $$ >"$run_dir/pid"
if [ "$size" -gt 0 ]; then head -c "$size" >"$run_dir/$file" || exit 125; fi
collect() { sh -c "$artifacts_sh" llm-sandbox "$1" "$run_dir" "$outputs" "${LLM_SANDBOX_MAX_FILE_BYTES:-10485760}"; }
if [ -n "$outputs" ]; then collect before; fi
LLM_SANDBOX_FILE="$run_dir/$file" LLM_SANDBOX_RUN_DIR="$run_dir" LLM_SANDBOX_PLOTS_DIR="$run_dir/plots" \
    sh -c "$command" </dev/null
rc=$?
size=0
if [ -n "$outputs" ]; then
    collect after
    size=$(wc -c <"$run_dir/artifacts.tar")
fi
printf '%s %s %s\n' "$nonce" "$rc" "$size"
if [ "$size" -gt 0 ]; then cat "$run_dir/artifacts.tar"; fi
rm -rf "$run_dir"
exit "$rc"
