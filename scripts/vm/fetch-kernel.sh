#!/bin/sh
# fetch-kernel.sh — make sure the host can boot the IPVS test VM, and fetch Debian's cloud kernel.
#
# Installs the host packages the VM harness uses when they are missing (needs root or
# password-less sudo), resolves the kernel that linux-image-cloud-amd64 currently depends on
# (the ABI number changes over time: never pin it), downloads and unpacks it into
# ${XDG_CACHE_HOME:-$HOME/.cache}/hadirector/vm/<version>/kernel, and reuses that cache when it
# is already there. When the package index cannot name a kernel (offline), the newest cached one
# is used.
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
# What the harness copies into the VM or runs on the host: qemu, a static busybox for the
# initramfs, kmod's depmod, and the real tools the tests and benchmarks call inside the VM.
pkgs="qemu-system-x86 busybox-static kmod ipvsadm keepalived iproute2 tcpdump"

export DEBIAN_FRONTEND=noninteractive

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
	else
		echo "fetch-kernel.sh: need root to run: $*" >&2
		return 1
	fi
}

updated=0
apt_update() {
	[ "$updated" = 1 ] && return 0
	updated=1
	echo "fetch-kernel.sh: apt-get update" >&2
	as_root apt-get -o DPkg::Lock::Timeout=120 update -qq >&2
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

missing=""
for p in $pkgs; do
	installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$install" = 0 ]; then
		echo "fetch-kernel.sh: missing host packages:$missing" >&2
		exit 1
	fi
	apt_update
	echo "fetch-kernel.sh: installing$missing" >&2
	# shellcheck disable=SC2086 # word splitting is the point
	as_root apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $missing >&2
fi

resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}

version=$(resolve)
if [ -z "$version" ] && command -v apt-get >/dev/null 2>&1; then
	apt_update || true
	version=$(resolve)
fi
if [ -z "$version" ]; then
	# Offline and no package index: fall back to the newest kernel fetched before.
	version=$(ls -1 "$cache" 2>/dev/null | grep -- '-cloud-amd64$' | sort -V | while read -r v; do
		[ -f "$cache/$v/kernel/.complete" ] && echo "$v"
	done | tail -n 1)
	if [ -z "$version" ]; then
		echo "fetch-kernel.sh: cannot resolve $meta (apt-cache depends) and nothing is cached in $cache" >&2
		exit 1
	fi
	echo "fetch-kernel.sh: cannot resolve $meta; using cached $version" >&2
fi

dir="$cache/$version"
if [ ! -f "$dir/kernel/.complete" ]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	download() {
		# As root apt drops to the _apt user, which cannot write into a private cache dir.
		sandbox=""
		[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
		# shellcheck disable=SC2086
		(cd "$tmp" && apt-get $sandbox download "linux-image-$version" >&2)
	}
	echo "fetch-kernel.sh: downloading linux-image-$version" >&2
	if ! download; then
		apt_update
		download
	fi
	dpkg-deb -x "$tmp"/linux-image-"$version"_*.deb "$tmp/kernel"
	rm -f "$tmp"/*.deb
	: >"$tmp/kernel/.complete"
	mkdir -p "$dir"
	# Another run may have won the race; its copy is as good as ours.
	mv -T "$tmp/kernel" "$dir/kernel" 2>/dev/null || [ -f "$dir/kernel/.complete" ]
fi

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
