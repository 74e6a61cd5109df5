# llm-sandbox library installer for the languages whose packages are not pip/npm:
# passed as `sh -c "<this file>" llm-sandbox-install MODE NAME...` to the short-lived installer
# container (network on, the sandbox user, no capabilities, read-only root, /tmp writable). It writes
# only into $LLM_SANDBOX_PACKAGES, the session's packages volume, which the sandbox mounts at the same
# path. Debian packages are unpacked with dpkg-deb: no maintainer script (no package code) runs.
#
#   deb  NAME...  Debian packages (C++ headers and libraries), plus the dependencies the image lacks,
#                 unpacked under $LLM_SANDBOX_PACKAGES/deb/root; NAME may also be `fmt` for `libfmt-dev`.
#                 deb/lib points at the unpacked multiarch library directory, deb/include-arch at the
#                 multiarch headers, and deb/ldflags lists `-l` flags of the unpacked shared libraries.
#   r    NAME...  R packages from Debian's r-cran-<name> packages, linked into $LLM_SANDBOX_PACKAGES/r.
#   gem  NAME...  Ruby gems with `gem install` into $LLM_SANDBOX_PACKAGES/ruby (GEM_HOME); when the gem
#                 source cannot be reached, Debian's ruby-<name> packages, linked into GEM_HOME.
#   go   NAME...  Go modules with `go get` into the module $LLM_SANDBOX_PACKAGES/go/src, through GOPROXY
#                 (the host's, else proxy.golang.org); says plainly when no proxy answers.
set -u
set -f # names are validated, but never let one expand as a glob; globs below switch it back on
mode=${1-}
[ $# -gt 0 ] && shift
pk=${LLM_SANDBOX_PACKAGES:?LLM_SANDBOX_PACKAGES is not set}

say() { printf '%s\n' "$*" >&2; }

lower() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }

# the name without a version constraint (numpy==1.0 -> numpy)
bare() { printf '%s' "$1" | sed 's/[=<>~!@].*//'; }

multiarch() {
    set +f
    for dir in /usr/lib/*-linux-gnu*; do
        [ -e "$dir/libc.so.6" ] && { set -f; basename "$dir"; return; }
    done
    set -f
    echo "$(uname -m)-linux-gnu"
}

deb_install() {
    deb=$pk/deb root=$pk/deb/root state=/tmp/llm-sandbox-apt
    mkdir -p "$root" "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$state/unpack" || return 1
    # The dpkg database of the image plus what earlier installs of this session unpacked.
    [ -f "$deb/status" ] || cp /var/lib/dpkg/status "$deb/status" || return 1
    opts="-o Dir::State::Lists=$state/lists -o Dir::Cache=$state/cache -o Dir::State::status=$deb/status"
    opts="$opts -o Debug::NoLocking=1 -o APT::Install-Recommends=false -o APT::Install-Suggests=false"
    # shellcheck disable=SC2086
    if ! apt-get $opts -qq update >"$state/update.log" 2>&1; then
        cat "$state/update.log" >&2
        say "apt-get update failed: no Debian mirror is reachable from the installer"
        return 1
    fi
    names=
    for name; do
        name=$(bare "$name")
        # shellcheck disable=SC2086
        if ! apt-cache $opts show "$name" >/dev/null 2>&1 && apt-cache $opts show "lib$name-dev" >/dev/null 2>&1; then
            say "$name: using the Debian package lib$name-dev"
            name=lib$name-dev
        fi
        names="$names $name"
    done
    # shellcheck disable=SC2086
    plan=$(apt-get $opts -s install -- $names 2>&1) || {
        printf '%s\n' "$plan" | grep -E '^(E|W):' >&2
        say "no installable Debian package for:$names"
        return 1
    }
    wanted=$(printf '%s\n' "$plan" | sed -n 's/^Inst \([^ ]*\) .*/\1/p')
    if [ -z "$wanted" ]; then
        say "already in the image:$names"
        return 0
    fi
    say "unpacking:" $wanted
    # shellcheck disable=SC2086
    (cd "$state/debs" && apt-get $opts -q download $wanted) >&2 || return 1
    arch=$(multiarch)
    set +f
    files=$(printf '%s\n' "$state"/debs/*.deb)
    set -f
    for file in $files; do
        rm -rf "$state/unpack" && mkdir "$state/unpack" || return 1
        dpkg-deb -x "$file" "$state/unpack" || return 1
        # merged /usr, as in the image: /lib/<arch>/libz.so.1 belongs in /usr/lib/<arch>
        for top in lib bin sbin; do
            if [ -d "$state/unpack/$top" ] && [ ! -L "$state/unpack/$top" ]; then
                mkdir -p "$state/unpack/usr/$top" && cp -a "$state/unpack/$top/." "$state/unpack/usr/$top/" &&
                    rm -rf "${state:?}/unpack/$top" || return 1
            fi
        done
        cp -a "$state/unpack/." "$root/" || return 1
        { dpkg-deb -f "$file" | sed '1a Status: install ok installed'; echo; } >>"$deb/status" || return 1
        rm -f "$file"
    done
    # absolute symlinks (libfoo.so -> /usr/lib/<arch>/libfoo.so.1) point into the unpacked tree
    find "$root" -type l | while IFS= read -r link; do
        target=$(readlink "$link")
        case $target in
        /*) for candidate in "$root$target" "$root/usr$target"; do
                if [ -e "$candidate" ]; then ln -sfn "$candidate" "$link"; break; fi
            done ;;
        esac
    done
    mkdir -p "$root/usr/lib/$arch" "$root/usr/include/$arch"
    ln -sfn "root/usr/lib/$arch" "$deb/lib"
    ln -sfn "root/usr/include/$arch" "$deb/include-arch"
    find "$root/usr/lib/$arch" "$root/usr/lib" -maxdepth 1 -name 'lib*.so' 2>/dev/null |
        sed 's|.*/lib\(.*\)\.so$|-l\1|' | sort -u >"$deb/ldflags"
    say "installed:" $wanted
}

r_install() {
    debs=
    for name; do
        name=$(bare "$name")
        case $name in r-*) debs="$debs $name" ;; *) debs="$debs r-cran-$(lower "$name")" ;; esac
    done
    # shellcheck disable=SC2086
    deb_install $debs || return 1
    mkdir -p "$pk/r" || return 1
    set +f
    for dir in "$pk/deb/root/usr/lib/R/site-library"/*; do
        [ -d "$dir" ] && ln -sfn "$dir" "$pk/r/"
    done
    set -f
    return 0
}

gem_install() {
    gems=
    for name; do gems="$gems $(printf '%s' "$name" | sed 's/==/:/')"; done
    # shellcheck disable=SC2086
    out=$(timeout 300 gem install --install-dir "$pk/ruby" --no-document --no-user-install $gems 2>&1)
    rc=$?
    printf '%s\n' "$out"
    [ "$rc" -eq 0 ] && return 0
    case $out in
    *"Unable to download data"* | *SocketError* | *"Errno::"* | *"getaddrinfo"* | *"execution expired"*) ;;
    *) return "$rc" ;;
    esac
    say "the gem source cannot be reached from the installer; trying Debian's ruby-<name> packages"
    debs=
    for name; do debs="$debs ruby-$(lower "$(bare "$name")" | tr _ -)"; done
    # shellcheck disable=SC2086
    deb_install $debs || return 1
    # Debian's gem trees (rubygems-integration) are linked into GEM_HOME, where RubyGems looks;
    # older packages that use vendor_ruby are found through RUBYLIB.
    version=$(ruby -e 'print RbConfig::CONFIG["ruby_version"]') || return 1
    for tree in "$pk/deb/root/usr/share/rubygems-integration/all" \
        "$pk/deb/root/usr/lib/$(multiarch)/rubygems-integration/$version"; do
        [ -d "$tree" ] || continue
        (cd "$tree" && find gems specifications extensions -mindepth 1 -maxdepth 3 2>/dev/null) |
            while IFS= read -r entry; do
                case $entry in
                gems/*/* | specifications/*/* | extensions/*/*/*/*) continue ;;
                extensions/*/*/*) ;;
                extensions/*) continue ;;
                esac
                mkdir -p "$pk/ruby/$(dirname "$entry")" && ln -sfn "$tree/$entry" "$pk/ruby/$entry"
            done
    done
}

go_install() {
    case ${GOPROXY:-off} in off | "") GOPROXY=https://proxy.golang.org ;; esac
    export GOPROXY GOFLAGS=-mod=mod GOMODCACHE="$pk/go/pkg/mod"
    mkdir -p "$pk/go/src" && cd "$pk/go/src" || return 1
    [ -f go.mod ] || go mod init sandbox >/dev/null 2>&1 || return 1
    modules=
    for name; do modules="$modules $(printf '%s' "$name" | sed 's/==/@/')"; done
    # shellcheck disable=SC2086
    out=$(timeout 300 go get $modules 2>&1)
    rc=$?
    printf '%s\n' "$out" >&2
    [ "$rc" -eq 0 ] && return 0
    [ "$rc" -eq 124 ] && out="$out i/o timeout: no answer within 300 s"
    case $out in
    *"dial tcp"* | *"no such host"* | *"connection refused"* | *"i/o timeout"* | *"proxyconnect"* | *"TLS handshake"*)
        say "no Go module proxy is reachable from the installer (GOPROXY=$GOPROXY), so Go modules cannot be"
        say "installed here; set GOPROXY (and GONOSUMDB or GOSUMDB=off for a private proxy) in the environment"
        say "of the program that opens the session" ;;
    esac
    return "$rc"
}

case $mode in
deb) deb_install "$@" ;;
r) r_install "$@" ;;
gem) gem_install "$@" ;;
go) go_install "$@" ;;
*) say "usage: llm-sandbox-install deb|r|gem|go NAME..."; exit 2 ;;
esac
