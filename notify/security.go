package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hadirector/hadirector/internal/cmdline"
)

// ErrUnsafe marks a hook that enable_script_security refuses.
var ErrUnsafe = errors.New("unsafe hook")

// ErrUnsafeConfig marks a configuration file that others than root can change.
var ErrUnsafeConfig = errors.New("unsafe configuration file")

// CheckHook validates a hook command line for `hadirector check --host` and for `run`,
// which refuses to start on an error: it must split without a shell, name an absolute
// program that exists and is executable, and, with security (enable_script_security),
// pass CheckProgram. An empty command line is no hook and is fine.
func CheckHook(line string, security bool) error {
	argv, err := cmdline.Split(line)
	if err != nil {
		return fmt.Errorf("notify: hook %q: %w", line, err)
	}
	if len(argv) == 0 {
		return nil
	}
	return checkProgram(argv[0], security)
}

// checkProgram is the check of a hook's program at start-up and before every run.
func checkProgram(prog string, security bool) error {
	if security {
		return CheckProgram(prog)
	}
	if !filepath.IsAbs(prog) {
		return fmt.Errorf("notify: %s: %w: program path must be absolute", prog, ErrUnsafe)
	}
	_, err := executable(prog)
	return err
}

// CheckUser verifies that script_user exists; "root" and numeric ids always do (see
// Options.User).
func CheckUser(name string) error {
	_, _, numeric, err := numericUser(name)
	if err == nil && !numeric {
		_, err = lookupUser(name)
	}
	if err != nil {
		return fmt.Errorf("notify: script_user %q: %w", name, err)
	}
	return nil
}

// CheckProgram verifies that the program of a hook can be run safely as root, as
// keepalived's script_security does: it exists, is a regular executable file, and neither
// it nor any directory above it can be changed by anybody but root — otherwise a user who
// can write there can run code as root. Both the path as written and the path its
// symlinks resolve to are checked: whoever can write a directory on the written path can
// swap a symlink there for one of their own.
func CheckProgram(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("notify: %s: %w: program path must be absolute", path, ErrUnsafe)
	}
	path = filepath.Clean(path)
	real, err := executable(path)
	if err != nil {
		return err
	}
	if err := rootOnly(path, real); err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != filepath.Dir(real) {
		return rootOnly(path, dir)
	}
	return nil
}

// executable resolves path's symlinks and checks that it names a regular file with an
// execute bit.
func executable(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("notify: %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("notify: %s: not executable", path)
	}
	return real, nil
}

// rootOnly checks p and every directory above it: owned by root, not writable by group
// or others. hook names the program in errors.
func rootOnly(hook, p string) error {
	for ; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("notify: %s: %w", hook, err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return fmt.Errorf("notify: %s: %w: %s is owned by uid %d, not root", hook, ErrUnsafe, p, st.Uid)
		}
		// A sticky directory (like /tmp) still lets anybody create files in it: refused too,
		// since the hook could be replaced between the check and the run.
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("notify: %s: %w: %s is writable by group or others", hook, ErrUnsafe, p)
		}
		if p == "/" {
			return nil
		}
	}
}

// CheckConfigFile verifies that nobody but root (or the user running hadirector) can
// change the configuration file: it names the hooks that run as root and their arguments,
// so whoever can write it runs any command as root — the check of a hook's program alone
// does not help, "/bin/sh -c …" passes it. The file and every directory above it (as
// written and as its symlinks resolve) must be owned by root or the current user and not
// be writable by group or others; a directory with the sticky bit (like /tmp) is fine for
// the directories, since nobody can rename or remove a file there that they do not own.
func CheckConfigFile(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("notify: %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if err := ownerOnly(path, real, true); err != nil {
		return err
	}
	if dir := filepath.Dir(abs); dir != filepath.Dir(real) {
		return ownerOnly(path, dir, false)
	}
	return nil
}

// ownerOnly checks p (the file itself if leaf) and every directory above it for
// CheckConfigFile.
func ownerOnly(file, p string, leaf bool) error {
	me := uint32(os.Geteuid())
	for ; ; leaf, p = false, filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("notify: %s: %w", file, err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && st.Uid != me {
			return fmt.Errorf("notify: %s: %w: %s is owned by uid %d, not root", file, ErrUnsafeConfig, p, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && (leaf || fi.Mode()&os.ModeSticky == 0) {
			return fmt.Errorf("notify: %s: %w: %s is writable by group or others", file, ErrUnsafeConfig, p)
		}
		if p == "/" {
			return nil
		}
	}
}
