// Package vmtest runs the tests that need the real IPVS kernel inside a qemu VM, and owns that
// VM: the development and CI machines run a kernel without IPVS that cannot load modules, so
// `make test-vm` boots Debian's own cloud kernel under software emulation (TCG) with a small
// initramfs and runs the test binaries in it — all of them in ONE boot.
//
// # Writing a VM test
//
// Put the test in a file that starts with
//
//	//go:build vmtest
//
// in any package, call [Need] first, and add the package to VM_PKGS in the Makefile
// (VM_PKGS ?= ./internal/vmtest ./lvs …; patterns such as ./lvs/... work; main packages the
// tests start go to VM_BINS, e.g. ./cmd/hadirector, and land in /usr/local/bin). The build tag
// keeps the plain `go test ./...` (which CI runs with HADIRECTOR_REQUIRE_PRIV=1, where a skip
// is a failure) from ever compiling it; `make test-vm` builds every listed package with
// `go test -c -tags vmtest` (CGO_ENABLED=0, so no -race), boots once and runs the binaries
// one after another. A package directory may hold only vmtest files. Example:
//
//	//go:build vmtest
//
//	package lvs_test
//
//	func TestKernelApply(t *testing.T) {
//		vmtest.Need(t) // skips outside the VM (fails under HADIRECTOR_REQUIRE_PRIV=1)
//		h, err := ipvs.New("")
//		…
//	}
//
// Run a subset, or pass test flags:
//
//	make test-vm VM_PKGS=./lvs VM_RUN='TestKernel'
//	go run ./internal/vmtest/cmd/vmrun -pkgs ./lvs -run TestKernel -timeout 5m -- -test.count=3
//	go run ./internal/vmtest/cmd/vmrun -pkgs ./e2e/vm -bin ./cmd/hadirector   # daemon in /usr/local/bin
//
// Inside the VM a test binary runs as root (uid 0, all capabilities) in the root network
// namespace, with the working directory /vmtest/pkg/<name> holding a copy of the package's
// testdata (as go test would), TMPDIR=/tmp (tmpfs), HADIRECTOR_IN_VM=1, and
// HADIRECTOR_REQUIRE_PRIV passed on from the host. There is no network interface but lo; build
// test networks from namespaces (`ip netns add`, veth, bridges, macvlan, dummy — all loaded)
// or with internal/lab, which works in the VM (see TestDRDatapath in sanity_vm_test.go). Every
// binary of the run shares the one kernel: delete what you create (IPVS services in the root
// namespace especially), or create it in a namespace you delete. There is no go tool in the
// VM: lab.Build cannot compile there — pass main packages with VM_BINS (vmrun -bin) and find
// them with exec.LookPath. keepalived runs there as it is (a virtual_server with TCP_CHECK
// was seen to program IPVS and withdraw the failed real server).
//
// # What is in the VM
//
//   - Kernel: the current linux-image-*-cloud-amd64 of the host's Debian release (6.1 on
//     bookworm), with ip_vs, every IPVS scheduler module the kernel has (rr wrr lc wlc lblc
//     lblcr dh sh sed nq mh fo ovf; twos appears only from 6.7), nf_conntrack and the
//     other dependencies, veth bridge macvlan ipvlan 8021q dummy tun, sch_ingress sch_netem
//     sch_tbf cls_u32 cls_matchall act_mirred act_gact — all loaded by /init before the tests
//     start. /sbin/modprobe works too (the kernel's own request_module uses it), but only
//     these modules exist.
//   - Real tools, copied from the host with their shared libraries, at their host paths:
//     /usr/sbin/ipvsadm, /usr/sbin/keepalived, /usr/bin/ip and /usr/sbin/tc (iproute2),
//     /usr/bin/tcpdump, /usr/sbin/dnsmasq (dnsmasq-base: a DNS real server). PATH is
//     /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, so exec.LookPath and
//     privtest.Tool find them.
//   - busybox (static) for everything else: sh, modprobe, ping, nc, sleep, cat, … as links in
//     /usr/bin and /usr/sbin. /bin/sh is busybox ash, which runs its OWN applets before PATH:
//     in shell scripts (notify hooks, keepalived scripts) call /usr/bin/ip, /usr/sbin/tc by
//     full path. busybox wget crashes: use a Go client.
//   - /etc/passwd (root, nobody), group, hosts, nsswitch.conf, protocols, services; /run,
//     /tmp, /dev/shm are tmpfs; /proc, /sys, devtmpfs, devpts, cgroup2 are mounted.
//
// # Pitfalls
//
//   - Load ip_vs before the first ipvs.New: moby/ipvs looks the generic netlink family up once
//     per process. /init has loaded it; keep it that way in TestMain-less code too.
//   - moby/ipvs logs through logrus: logrus.SetOutput(io.Discard) in TestMain.
//   - In a fresh namespace bring lo up before adding IPVS destinations: without a local
//     routing table every address looks "not unicast" to ip_vs and the add fails with EINVAL
//     (ipvsadm: "Invalid operation. Possibly wrong module version, address not unicast").
//   - netlink.NewHandleAt(ns) with no families fails: pass unix.NETLINK_ROUTE.
//   - Assert IPVS state through netlink (moby/ipvs) or `ipvsadm -Ln`, not /proc/net/ip_vs
//     (6.1 can drop entries when it is read in large chunks while other namespaces have
//     services). Byte/packet counters refresh about every 2 s.
//   - TCG is slow: CPU-bound work ~5×, syscall-heavy work ~10× native. Benchmarks compare
//     ratios (hadirector vs ipvsadm -R in the same VM), never absolute numbers.
//
// # How it works
//
// The host side is package qemu (internal/vmtest/qemu) and the command vmrun:
//
//  1. scripts/vm/fetch-kernel.sh installs missing host packages (qemu-system-x86,
//     busybox-static, kmod, ipvsadm, keepalived, iproute2, tcpdump, dnsmasq-base), resolves the kernel that
//     linux-image-cloud-amd64 depends on now (never pinned), and unpacks it into
//     ${XDG_CACHE_HOME:-$HOME/.cache}/hadirector/vm/<version>/kernel, once.
//  2. The base initramfs (busybox, /init, modules with depmod, tools and libraries, /etc) is an
//     uncompressed newc archive cached next to it as base-<key>.cpio; the key covers every
//     file's path, mode, size and mtime, so a package upgrade rebuilds it (in about 0.2 s).
//  3. Per run, the test binaries, their testdata and /vmtest/run.sh form a second archive,
//     appended to the base (the kernel unpacks concatenated archives in order).
//  4. qemu-system-x86_64 -nodefaults -accel tcg -cpu max -smp 2 -m 1024 -display none
//     -serial stdio -nic none -no-reboot, with console=ttyS0 quiet panic=-1 no_timer_check. /init prints
//     VMTEST-READY, then VMTEST-START/VMTEST-RESULT <name> <exit status> around each binary
//     and VMTEST-DONE, each carrying a random per-run nonce, and powers off. vmrun streams the
//     console to stdout and bin/vmtest-console.log and fails unless every binary reported exit
//     status 0 (a kernel panic reboots, which ends qemu; -timeout kills qemu). Test binaries get
//     -test.timeout 30 s below the VM's so that a hang prints its goroutines.
//
// Measured on the 2-CPU CI machine kind: a warm `make test-vm` takes about 10 s (boot to
// ready ~3 s); a cold one adds the kernel download (27 MB) and the base build, a few seconds.
// When the VM cannot be provided (no root for apt, offline without a cached kernel), vmrun
// skips with the reason, and fails under HADIRECTOR_REQUIRE_PRIV=1.
package vmtest
