# llm-sandbox reset of a pooled sandbox between two users, passed as
# `sh -c "<this file>" llm-sandbox MODE PACKAGES_DIR [OCTAL:PATH ...]` and run as the sandbox user,
# after runtime/kill.sh confirmed that none of its processes is left.
# MODE "state": print the sandbox's state (below).
# MODE "clean": on every writable filesystem (the workdir, /tmp, /dev/shm, /dev/mqueue, any tmpfs or
#   emptyDir the container was given; never PACKAGES_DIR, which the pool restores from its base),
#   delete everything this user owns; give each PATH its OCTAL mode back and a fresh time; remove
#   the roots' extended attributes and this user's System V IPC objects. Exit 1 if anything of the
#   user is left, else print the state.
# The state, which the pool compares with the one the container had when it was new:
#   mount <path> <octal mode> <uid> <gid> <ls mode>   the root of each writable filesystem (ls marks ACLs)
#   xattrs <path> <names>                       its extended attributes ("clean" removes the user's)
#   env <checksum>                              the environment an exec gets
#   ipc <count>                                 System V IPC objects
#   packages <with change times> <without>      checksums of PACKAGES_DIR's listing; no one can
#                                               set a change time back, so any write shows
mode=$1 packages=$2
shift 2
uid=$(id -u)

# Extended attributes of the roots (those of a file go with the file) are read and removed with
# perl's syscall (listxattr, removexattr): a minimal image has no other tool for them.
case $(uname -m) in x86_64) xattr_calls="194 197" ;; aarch64) xattr_calls="11 14" ;; *) xattr_calls= ;; esac
XATTRS='my ($list, $remove, $clean, @paths) = @ARGV;
for my $path (@paths) {
    my $buffer = "\0" x 65536;
    my $size = syscall($list + 0, $path, $buffer, 65536);
    my @names = sort grep { length } split(/\0/, $size > 0 ? substr($buffer, 0, $size) : "");
    if ($clean) { syscall($remove + 0, $path, $_) for @names } else { print "xattrs $path @names\n" }
}'
xattrs() { [ -z "$xattr_calls" ] || perl -e "$XATTRS" $xattr_calls "$@" 2>/dev/null; }

writable() {
    while read -r _ _ _ _ point options _; do
        case $point in /proc | /proc/* | /sys | /sys/* | /dev/pts | "$packages" | "$packages"/*) continue ;; esac
        case ,$options, in *,rw,*) echo "$point" ;; esac
    done </proc/self/mountinfo
}

state() {
    for point in $(writable); do
        set -- $(ls -ldn "$point")
        echo "mount $point $(stat -c '%a %u %g' "$point") $1"
    done
    xattrs 0 $(writable)
    echo "env $(env | LC_ALL=C sort | cksum)"
    echo "ipc $(cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg 2>/dev/null | grep -cv '^ *key')"
    listing() { find "$packages" -mindepth 1 -printf "%P %y %m %U %G %s %l$1\n" 2>/dev/null | LC_ALL=C sort | cksum; }
    echo "packages $(listing ' %C@' | tr ' ' -) $(listing '' | tr ' ' -)"
}

if [ "$mode" = clean ]; then
    for point in $(writable); do
        find "$point" -xdev -mindepth 1 -type d -user "$uid" -exec chmod u+rwx {} + 2>/dev/null
        find "$point" -xdev -mindepth 1 -user "$uid" -delete 2>/dev/null
        if [ -n "$(find "$point" -xdev -mindepth 1 -user "$uid" -print -quit 2>/dev/null)" ]; then
            echo "files of the sandbox user are left in $point" >&2
            exit 1
        fi
    done
    for item in "$@"; do
        point=${item#*:}
        chmod "${item%%:*}" "$point" && touch -c "$point" || exit 1
    done
    xattrs 1 $(writable)
    ipcrm --all 2>/dev/null
fi
state
