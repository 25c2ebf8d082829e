package bench

import "golang.org/x/sys/unix"

// watcherPriority is the SCHED_FIFO priority of the bench's own time-stamping threads (the
// notify FIFO readers and the client's neighbour watcher): above the daemons', because a
// daemon busy at its realtime priority on both cores right after a takeover (keepalived
// is, for some 10 ms) would otherwise delay the stamps by as much. They only wake for
// events at the end of a daemon's takeover path or after the GARP has left, and run for
// microseconds, so they never delay what is measured on the wire.
const watcherPriority = RealtimePriority + 10

// setFIFOScheduling moves the calling thread to SCHED_FIFO at prio.
func setFIFOScheduling(prio int) error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}, 0)
}
