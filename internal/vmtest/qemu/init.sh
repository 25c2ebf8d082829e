#!/bin/sh
# /init of the hadirector test VM: busybox sh as PID 1 (internal/vmtest/qemu/init.sh).
#
# It mounts the usual file systems, loads the modules listed in /etc/vmtest/modules.load,
# sources /vmtest/run.sh (written per run by the host: environment, the nonce that marks the
# result lines, and vmtest_main), runs it, and powers the VM off. The host reads the result
# markers from the serial console; a missing VMTEST-DONE line means the run did not finish.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp HADIRECTOR_IN_VM=1
unset TERM

# The kernel unpacks the initramfs into a rootfs whose / is 0777: hadirector's security
# checks (hooks, the configuration file) rightly refuse anything below a directory others
# can write, as a real root file system's / is not.
chmod 755 /
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
exec </dev/null >/dev/console 2>&1

hostname vmtest
ip link set lo up

VMTEST_NONCE=none
if [ -f /vmtest/run.sh ]; then
	# shellcheck source=/dev/null # written per run by the host
	. /vmtest/run.sh
fi

# The kernel's own request_module (a scheduler named by a service, a link type) also
# finds busybox modprobe through /sbin/modprobe, but loading everything up front makes the
# set of loaded modules the same in every run and shows missing ones at once.
# shellcheck disable=SC2046 # one module name per word
if ! modprobe -a $(cat /etc/vmtest/modules.load); then
	echo "vmtest: modprobe failed for some of: $(cat /etc/vmtest/modules.load)"
fi
[ -e /proc/net/ip_vs ] || echo "vmtest: ip_vs is not loaded"

printf '\nVMTEST-READY %s uptime=%s kernel=%s modules=%s\n' "$VMTEST_NONCE" \
	"$(cut -d' ' -f1 /proc/uptime)" "$(uname -r)" \
	"$(cut -d' ' -f1 /proc/modules | sort | tr '\n' ',' | sed 's/,$//')"

# vmtest_run NAME DIR PROGRAM [ARG...] runs one program in DIR and prints its exit status.
vmtest_run() {
	name=$1
	dir=$2
	shift 2
	printf '\nVMTEST-START %s %s\n' "$VMTEST_NONCE" "$name"
	(cd "$dir" && exec "$@")
	rc=$?
	printf '\nVMTEST-RESULT %s %s %s\n' "$VMTEST_NONCE" "$name" "$rc"
}

if command -v vmtest_main >/dev/null 2>&1; then
	vmtest_main
else
	echo "vmtest: no /vmtest/run.sh: nothing to run"
fi

printf '\nVMTEST-DONE %s\n' "$VMTEST_NONCE"
# The console is a tty: give the UART a moment to drain before the power goes.
sleep 0.2
poweroff -f
# Not reached; if it were, PID 1 exiting panics the kernel and panic=-1 with -no-reboot
# ends qemu all the same.
echo o >/proc/sysrq-trigger
