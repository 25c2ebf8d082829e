#!/bin/sh
# fetch-kernel.sh — make sure the host can boot the IPVS test VM, and fetch Debian's cloud kernel.
#
# Installs the host packages the VM harness uses when they are missing (scripts/deps.sh; root or
# password-less sudo), resolves the kernel that linux-image-cloud-amd64 currently depends on
# (the ABI number changes over time: never pin it), downloads and unpacks it into
# ${XDG_CACHE_HOME:-$HOME/.cache}/hadirector/vm/<version>/kernel, and reuses that cache when it
# is already there. When the package index cannot name a kernel or the download fails
# (offline), the newest cached one is used.
#
# stdout is machine-readable, one key=value per line (internal/vmtest/qemu parses it):
#   version=6.1.0-NN-cloud-amd64
#   dir=<cache>/<version>
#   vmlinuz=<cache>/<version>/kernel/boot/vmlinuz-<version>
#   modules=<cache>/<version>/kernel/lib/modules/<version>
# Everything else (apt's chatter, errors) goes to stderr.
#
# Options: --no-install  do not install host packages (fail if one is missing)
set -eu

install=1
for a in "$@"; do
	case "$a" in
	--no-install) install=0 ;;
	-h | --help)
		sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;/^set -eu/d'
		exit 0
		;;
	*)
		echo "fetch-kernel.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

cache="${XDG_CACHE_HOME:-$HOME/.cache}/hadirector/vm"
meta=linux-image-cloud-amd64
export DEBIAN_FRONTEND=noninteractive

. "$(dirname "$0")/../as-root.sh"

updated=0
apt_update() {
	[ "$updated" = 1 ] && return 0
	updated=1
	echo "fetch-kernel.sh: apt-get update" >&2
	as_root apt-get -o DPkg::Lock::Timeout=120 update -qq >&2
}

# The host packages (qemu, busybox, kmod and the tools the tests call inside the VM): the one
# list of scripts/deps.sh, shared with `make test` and `make demo`.
deps="$(dirname "$0")/../deps.sh"
if [ "$install" = 0 ]; then
	"$deps" --check >&2
else
	"$deps" >&2
fi

# apt-cache takes 0.6 s where the binary package cache is disabled (Docker-style images), so
# the answer is remembered until the package lists change.
lists=/var/lib/apt/lists
resolved="$cache/resolved"
resolve() {
	stamp=$(stat -c %Y "$lists" 2>/dev/null || echo none)
	if [ -f "$resolved" ] && [ "$(sed -n 1p "$resolved")" = "$stamp" ]; then
		sed -n 2p "$resolved"
		return
	fi
	v=$(apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([^ ]*-cloud-amd64\)$/\1/p' | head -n 1)
	if [ -n "$v" ] && mkdir -p "$cache" 2>/dev/null; then
		printf '%s\n%s\n' "$stamp" "$v" >"$resolved.$$" && mv -f "$resolved.$$" "$resolved"
	fi
	echo "$v"
}

newest_cached() {
	for d in "$cache"/*-cloud-amd64; do
		[ -f "$d/kernel/.complete" ] && basename "$d"
	done | sort -V | tail -n 1
}

# download_kernel VERSION unpacks the package into $cache/VERSION/kernel. Every step checks
# its status itself: set -e does not apply inside a function called from an if.
download_kernel() {
	v=$1
	mkdir -p "$cache" || return 1
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX") || return 1
	# As root apt drops to the _apt user, which cannot write into a private cache dir.
	sandbox=""
	[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
	echo "fetch-kernel.sh: downloading linux-image-$v" >&2
	# shellcheck disable=SC2086
	if ! (cd "$tmp" && apt-get $sandbox download "linux-image-$v" >&2); then
		# shellcheck disable=SC2086
		if ! apt_update || ! (cd "$tmp" && apt-get $sandbox download "linux-image-$v" >&2); then
			rm -rf "$tmp"
			return 1
		fi
	fi
	if ! dpkg-deb -x "$tmp"/linux-image-"$v"_*.deb "$tmp/kernel"; then
		rm -rf "$tmp"
		return 1
	fi
	: >"$tmp/kernel/.complete"
	mkdir -p "$cache/$v"
	# Another run may have won the race; its copy is as good as ours.
	mv -T "$tmp/kernel" "$cache/$v/kernel" 2>/dev/null || [ -f "$cache/$v/kernel/.complete" ] || {
		rm -rf "$tmp"
		return 1
	}
	rm -rf "$tmp"
	# Debian replaced the kernel: keep this one and the previous one, drop older ones.
	# shellcheck disable=SC2012 # the names are ours: <version>-cloud-amd64
	ls -1td -- "$cache"/*-cloud-amd64 | tail -n +3 | while read -r old; do
		[ "$old" = "$cache/$v" ] && continue
		echo "fetch-kernel.sh: removing old kernel cache $old" >&2
		rm -rf -- "$old"
	done
}

version=$(resolve)
if [ -z "$version" ] && command -v apt-get >/dev/null 2>&1; then
	apt_update || true
	version=$(resolve)
fi
if [ -n "$version" ] && [ ! -f "$cache/$version/kernel/.complete" ] && ! download_kernel "$version"; then
	echo "fetch-kernel.sh: cannot download linux-image-$version" >&2
	version=""
fi
if [ -z "$version" ]; then
	# Offline: fall back to the newest kernel fetched before.
	version=$(newest_cached)
	if [ -z "$version" ]; then
		echo "fetch-kernel.sh: no kernel: cannot resolve or download $meta, and nothing is cached in $cache" >&2
		exit 1
	fi
	echo "fetch-kernel.sh: using the cached $version" >&2
fi
dir="$cache/$version"

modules="$dir/kernel/lib/modules/$version"
[ -d "$modules" ] || modules="$dir/kernel/usr/lib/modules/$version"
vmlinuz="$dir/kernel/boot/vmlinuz-$version"
if [ ! -f "$vmlinuz" ] || [ ! -d "$modules" ]; then
	echo "fetch-kernel.sh: $dir/kernel lacks vmlinuz or modules; remove it and retry" >&2
	exit 1
fi

echo "version=$version"
echo "dir=$dir"
echo "vmlinuz=$vmlinuz"
echo "modules=$modules"
