// Package notify owns the hook scripts: it runs notify_master, notify_backup,
// notify_fault, notify_stop, notify, notify_up and notify_down with keepalived's
// arguments (so existing scripts work unchanged), writes notify_fifo lines in keepalived's
// format, and checks that hooks are safe to run as root (enable_script_security).
//
// The protocol hands state changes to a Runner with Submit, which never blocks. Hooks of
// one instance, sync group or real server run one at a time in submission order; hooks of
// different ones run concurrently. Each hook runs in its own process group with a timeout,
// after which the whole group is terminated.
package notify
