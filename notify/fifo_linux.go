package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ensureFIFO creates the notify_fifo when it is missing, as keepalived does, and refuses a
// path that is something else.
func ensureFIFO(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			return fmt.Errorf("notify: notify_fifo %s: mkfifo: %w", path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: notify_fifo %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeNamedPipe {
		return fmt.Errorf("notify: notify_fifo %s: exists and is not a FIFO", path)
	}
	return nil
}

// writeFIFO writes the queued FIFO lines until ctx is cancelled, then the ones still
// queued (the STOP lines of a shutdown), and returns. Writes never block: see fifoWriter.
func (r *Runner) writeFIFO(ctx context.Context) {
	defer r.wg.Done()
	w := fifoWriter{path: r.opts.FIFO, fd: -1}
	defer w.close()
	for {
		select {
		case line := <-r.fifo:
			r.writeLine(&w, line)
		case <-ctx.Done():
			for {
				select {
				case line := <-r.fifo:
					r.writeLine(&w, line)
				default:
					return
				}
			}
		}
	}
}

func (r *Runner) writeLine(w *fifoWriter, line []byte) {
	if err := w.write(line); err != nil {
		r.fifoDropped.Add(1)
		if !w.failing {
			r.log.Warn("notify_fifo: dropping lines", "fifo", w.path, "err", err)
			w.failing = true
		}
	} else {
		r.fifoWritten.Add(1)
		if w.failing {
			r.log.Info("notify_fifo: writing again", "fifo", w.path)
			w.failing = false
		}
	}
	r.mu.Lock()
	r.addPending(-1)
	r.mu.Unlock()
}

// fifoWriter writes whole lines to a named pipe without ever blocking. It opens the FIFO
// O_WRONLY|O_NONBLOCK, which fails with ENXIO while nobody reads it (the open is retried
// with the next line), and uses raw write(2) rather than os.File: an os.File would park
// in the poller on EAGAIN instead of failing, and a slow reader would then hold us.
// Lines shorter than PIPE_BUF are written whole or not at all.
type fifoWriter struct {
	path    string
	fd      int
	failing bool // a drop was logged; log again only after a success
}

var (
	errNoReader   = errors.New("no reader")
	errSlow       = errors.New("reader too slow, pipe full")
	errReaderGone = errors.New("reader went away")
)

func (w *fifoWriter) write(line []byte) error {
	if w.fd < 0 {
		fd, err := syscall.Open(w.path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.ENXIO) {
			return errNoReader
		}
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
			_ = syscall.Close(fd)
			return errors.New("not a FIFO")
		}
		w.fd = fd
	}
	for {
		_, err := syscall.Write(w.fd, line)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return errSlow
		case errors.Is(err, syscall.EPIPE):
			w.close()
			return errReaderGone
		default:
			w.close()
			return fmt.Errorf("write: %w", err)
		}
	}
}

func (w *fifoWriter) close() {
	if w.fd >= 0 {
		_ = syscall.Close(w.fd)
		w.fd = -1
	}
}
