# as-root.sh — sourced by deps.sh and vm/fetch-kernel.sh. as_root CMD... runs CMD as root:
# directly when root, else through password-less sudo; otherwise it fails, naming CMD.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
	else
		echo "$(basename "$0"): need root to run: $*" >&2
		return 1
	fi
}
