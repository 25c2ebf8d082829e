#!/bin/sh
# deps.sh — the one list of Debian packages `make test` and `make demo` need on the host, and
# their installation when some are missing (root or password-less sudo; `apt-get update` first).
# scripts/vm/fetch-kernel.sh calls it too, so the list cannot drift between the two commands.
#
# What each is for: iproute2 (ip, the namespace tests and the VM's network), keepalived and
# ipvsadm (interop peers and baselines, inside the VM too), tcpdump (wire captures), qemu-system-x86,
# busybox-static and kmod (the IPVS test VM: emulator, initramfs tools, depmod); dnsmasq-base and
# socat (real DNS and UDP servers for the health-check tests); for the Debian
# package (make test-deb) and its pages: lintian, systemd (systemd-analyze verify the unit),
# groff and man-db (the man pages render without warnings), prometheus (promtool checks and
# unit-tests the alert rules), bird2 (the upstream BGP router of the BGP e2e tests).
#
# Options: --check  install nothing; exit 1 naming what is missing
set -eu

pkgs="iproute2 keepalived ipvsadm tcpdump qemu-system-x86 busybox-static kmod lintian systemd groff man-db prometheus dnsmasq-base socat bird2"

check=0
for a in "$@"; do
	case "$a" in
	--check) check=1 ;;
	*)
		echo "deps.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

# shellcheck disable=SC2086
have=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null | sed -n 's/ install ok installed$//p')
missing=""
for p in $pkgs; do
	echo "$have" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$check" = 1 ]; then
	echo "deps.sh: missing host packages:$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
. "$(dirname "$0")/as-root.sh"
echo "deps.sh: apt-get update; installing$missing" >&2
as_root apt-get -o DPkg::Lock::Timeout=120 update -qq >&2
# shellcheck disable=SC2086 # word splitting is the point
as_root apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $missing >&2
