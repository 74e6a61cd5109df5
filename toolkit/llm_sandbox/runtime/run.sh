# llm-sandbox run wrapper: runs one piece of code or one shell command inside the sandbox.
# It is passed as `sh -c "<this file>" llm-sandbox RUN_DIR FILE COMMAND [OUTPUTS_DIR]`, so it needs
# nothing installed in the image but a POSIX shell, head and (for artifacts) find and tar.
#
# stdin:  "<nonce> <size>\n" then <size> bytes, written to RUN_DIR/FILE (nothing when size is 0).
#         The program itself gets /dev/null as stdin.
# stdout: the program's own stdout, untouched; then "<nonce> <exit code>\n"; then, when
#         LLM_SANDBOX_ARTIFACTS=1, a tar stream of RUN_DIR/plots, of the files written under
#         OUTPUTS_DIR during this run, and of RUN_DIR/large-files: "<size> <path>" lines naming the
#         new files larger than LLM_SANDBOX_MAX_FILE_BYTES, which are listed but not sent.
#         "Written during this run" compares listings (mtime, size, path) taken before and after the
#         program, so that no marker file's timestamp has to be compared.
run_dir=$1 file=$2 command=$3 outputs=${4-}
IFS=' ' read -r nonce size || exit 125
umask 077
mkdir -p "$run_dir/plots" || exit 125
echo $$ >"$run_dir/pid"
if [ "$size" -gt 0 ]; then head -c "$size" >"$run_dir/$file" || exit 125; fi
listing() { find "$outputs" -type f -printf '%T@ %s %p\n' 2>/dev/null; }
if [ -n "$outputs" ]; then mkdir -p "$outputs" 2>/dev/null; listing >"$run_dir/before"; fi
LLM_SANDBOX_FILE="$run_dir/$file" LLM_SANDBOX_RUN_DIR="$run_dir" LLM_SANDBOX_PLOTS_DIR="$run_dir/plots" \
    sh -c "$command" </dev/null
rc=$?
printf '%s %s\n' "$nonce" "$rc"
if [ "${LLM_SANDBOX_ARTIFACTS-}" = 1 ]; then
    limit=${LLM_SANDBOX_MAX_FILE_BYTES:-10485760}
    : >"$run_dir/large-files"
    : >"$run_dir/send"
    if [ -n "$outputs" ] && [ -d "$outputs" ]; then
        listing | grep -vxF -f "$run_dir/before" >"$run_dir/changed"
        awk -v limit="$limit" '$2 > limit { sub(/^[^ ]+ /, ""); print }' "$run_dir/changed" >"$run_dir/large-files"
        awk -v limit="$limit" '$2 <= limit { sub(/^[^ ]+ [^ ]+ /, ""); print }' "$run_dir/changed" >"$run_dir/send"
    fi
    # Every list is complete before tar starts (tar reads large-files first).
    tar -cf - --verbatim-files-from -C "$run_dir" plots large-files -C / -T "$run_dir/send" 2>/dev/null
fi
rm -rf "$run_dir"
exit "$rc"
