package notify

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hadirector/hadirector/internal/privtest"
)

const (
	secureParent = "/var/lib/hadirector-test"
	nobody       = 65534
)

// secureDir makes a root-owned 0755 directory outside /tmp (which the security check
// rightly refuses) and removes it when the test ends.
func secureDir(t *testing.T) string {
	t.Helper()
	privtest.Root(t)
	var dir string
	var err error
	for range 3 { // another test's cleanup may remove an empty parent meanwhile
		if err = os.MkdirAll(secureParent, 0o755); err != nil {
			continue
		}
		if dir, err = os.MkdirTemp(secureParent, "notify-"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(secureParent) // only when empty
	})
	for _, d := range []string{secureParent, dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tmpDir is a directory under the world-writable /tmp itself (t.TempDir follows $TMPDIR).
func tmpDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "notify-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func mkdir(t *testing.T, p string, mode os.FileMode, uid int) string {
	t.Helper()
	if err := os.Mkdir(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckProgramAccepts(t *testing.T) {
	dir := secureDir(t)
	ok := script(t, dir, "ok.sh", "exit 0\n")
	link := filepath.Join(dir, "link.sh")
	if err := os.Symlink("ok.sh", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ok, link, "/bin/true"} {
		if err := CheckProgram(p); err != nil {
			t.Errorf("CheckProgram(%s) = %v, want nil", p, err)
		}
	}
	for _, h := range []string{"", ok, ok + ` 'two words' "VI_1"`, link + " x"} {
		if err := CheckHook(h, true); err != nil {
			t.Errorf("CheckHook(%q, true) = %v, want nil", h, err)
		}
	}
}

func TestCheckProgramRefuses(t *testing.T) {
	dir := secureDir(t)
	tmp := tmpDir(t)
	tmpOK := script(t, tmp, "ok.sh", "exit 0\n")
	ok := script(t, dir, "ok.sh", "exit 0\n")

	mode := func(name string, m os.FileMode) string {
		p := script(t, dir, name, "exit 0\n")
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userFile := script(t, dir, "user.sh", "exit 0\n")
	if err := os.Chown(userFile, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	userDir := mkdir(t, filepath.Join(dir, "userdir"), 0o755, nobody)
	inUserDir := script(t, userDir, "ok.sh", "exit 0\n")
	gwDir := mkdir(t, filepath.Join(dir, "gwdir"), 0o775, 0)
	inGWDir := script(t, gwDir, "ok.sh", "exit 0\n")
	linkInUserDir := filepath.Join(userDir, "link.sh")
	if err := os.Symlink(ok, linkInUserDir); err != nil {
		t.Fatal(err)
	}
	linkToTmp := filepath.Join(dir, "tmp-link.sh")
	if err := os.Symlink(tmpOK, linkToTmp); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		unsafe     bool // ErrUnsafe; otherwise just an error
		notExist   bool
	}{
		{"under /tmp", tmpOK, true, false},
		{"group-writable file", mode("gw.sh", 0o775), true, false},
		{"other-writable file", mode("ow.sh", 0o757), true, false},
		{"file owned by a user", userFile, true, false},
		{"dir owned by a user", inUserDir, true, false},
		{"group-writable dir", inGWDir, true, false},
		{"symlink in a user's dir", linkInUserDir, true, false},
		{"symlink to /tmp", linkToTmp, true, false},
		{"relative path", "bin/true", true, false},
		{"not executable", mode("noexec.sh", 0o644), false, false},
		{"directory", dir, false, false},
		{"missing", filepath.Join(dir, "missing.sh"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckProgram(tc.path)
			if err == nil {
				t.Fatalf("CheckProgram(%s) = nil, want refusal", tc.path)
			}
			if errors.Is(err, ErrUnsafe) != tc.unsafe || errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("CheckProgram(%s) = %v", tc.path, err)
			}
			if err := CheckHook(tc.path+" arg", true); err == nil {
				t.Errorf("CheckHook(%s, true) = nil", tc.path)
			}
			t.Log(err)
		})
	}
}

// TestCheckHook covers what needs no root: the shape of the command line and, without
// script security, only existence and the execute bit.
func TestCheckHook(t *testing.T) {
	tmp := tmpDir(t)
	ok := script(t, tmp, "ok.sh", "exit 0\n")
	noexec := filepath.Join(tmp, "noexec.sh")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd      string
		security bool
		ok       bool
	}{
		{"", true, true},
		{"   ", true, true},
		{ok + " 'a b'", false, true},
		{ok + " 'a b'", true, false}, // /tmp
		{"ok.sh", false, false},      // relative
		{"'" + ok, false, false},     // unterminated quote
		{noexec, false, false},
		{filepath.Join(tmp, "missing"), false, false},
		{tmp, false, false},
	} {
		err := CheckHook(tc.cmd, tc.security)
		if (err == nil) != tc.ok {
			t.Errorf("CheckHook(%q, %v) = %v, want ok=%v", tc.cmd, tc.security, err, tc.ok)
		}
	}
	if err := CheckProgram("relative/x"); !errors.Is(err, ErrUnsafe) {
		t.Errorf("CheckProgram(relative) = %v", err)
	}
	if err := CheckProgram(filepath.Join(tmp, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckProgram(missing) = %v", err)
	}
	if err := CheckProgram(ok); !errors.Is(err, ErrUnsafe) {
		t.Errorf("CheckProgram(/tmp/...) = %v", err)
	}
}

func TestCheckUser(t *testing.T) {
	if err := CheckUser("root"); err != nil {
		t.Error(err)
	}
	if err := CheckUser("hadirector-no-such-user"); err == nil {
		t.Error("CheckUser accepted a missing user")
	}
	// The runner looks the user up on first need, not when it is made.
	r, err := NewRunner(Options{User: "hadirector-no-such-user"})
	if err != nil {
		t.Fatalf("NewRunner looked script_user up: %v", err)
	}
	if err := r.ResolveUser(); err == nil || !strings.Contains(err.Error(), `script_user "hadirector-no-such-user"`) {
		t.Errorf("ResolveUser of a missing user = %v", err)
	}
}

// noPasswd makes every user lookup fail as on a host without /etc/passwd, and counts
// the lookups, until the test ends.
func noPasswd(t *testing.T) *int {
	t.Helper()
	n := 0
	lookupUser = func(string) (*user.User, error) {
		n++
		return nil, &fs.PathError{Op: "open", Path: "/etc/passwd", Err: syscall.ENOENT}
	}
	t.Cleanup(func() { lookupUser = user.Lookup })
	return &n
}

// TestUserWithoutPasswd: on a host without /etc/passwd, a runner for any script_user is
// made; "root" and numeric ids resolve without a lookup; a name fails only when it is
// resolved, naming the user and the lookup's error; a hook then fails and is counted,
// and nothing runs.
func TestUserWithoutPasswd(t *testing.T) {
	lookups := noPasswd(t)
	for _, tc := range []struct {
		user string
		euid int
		want *syscall.Credential // nil: no switch
		err  string
	}{
		{"root", 0, nil, ""},
		{"0", 0, nil, ""},
		{"65534", 0, &syscall.Credential{Uid: 65534, Gid: 65534}, ""},
		{"1000:100", 0, &syscall.Credential{Uid: 1000, Gid: 100}, ""},
		{"1000", 1000, nil, ""}, // already that user
		{"root", 1000, nil, "switching user needs root"},
		{"1000:x", 0, nil, `"x" is not a numeric gid`},
		{"a:1", 0, nil, `"a" is not a numeric uid`},
		{"nobody", 0, nil, `script_user "nobody": open /etc/passwd: no such file or directory`},
	} {
		before := *lookups
		got, err := credential(tc.user, tc.euid)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("credential(%q, euid %d) = %v, want error %q", tc.user, tc.euid, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("credential(%q, euid %d): %v", tc.user, tc.euid, err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("credential(%q, euid %d) = %+v, want %+v", tc.user, tc.euid, got, tc.want)
		}
		if numeric := tc.user != "nobody"; numeric && *lookups != before {
			t.Errorf("credential(%q) looked the user up", tc.user)
		}
	}
	if err := CheckUser("root"); err != nil {
		t.Errorf("CheckUser(root) without /etc/passwd: %v", err)
	}
	if err := CheckUser("nobody"); err == nil {
		t.Error("CheckUser(nobody) without /etc/passwd passed")
	}

	for _, u := range []string{"root", "65534:65534", "nobody"} {
		if _, err := NewRunner(Options{User: u}); err != nil {
			t.Errorf("NewRunner(User %q) without /etc/passwd: %v", u, err)
		}
	}
	n := *lookups
	if r, _ := NewRunner(Options{User: "nobody"}); *lookups != n || r.ResolveUser() == nil {
		t.Errorf("NewRunner looked up (%d lookups), or ResolveUser succeeded without /etc/passwd", *lookups-n)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "ran")
	h := start(t, Options{User: "nobody"})
	h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: "/usr/bin/touch " + out}})
	h.drain(t)
	if _, err := os.Stat(out); err == nil {
		t.Error("the hook ran although its user could not be resolved")
	}
	if s := h.Stats(); s.Ran != 0 || s.Failed != 1 {
		t.Errorf("stats %+v, want 1 failed and none run", s)
	}
	if !strings.Contains(h.log.b.String(), "open /etc/passwd") {
		t.Errorf("the failure does not say why: %s", h.log.b.String())
	}
}

// TestScriptUser: as root with script_user nobody, hooks run as nobody, and script
// security passes for a root-owned directory.
func TestScriptUser(t *testing.T) {
	dir := secureDir(t)
	if err := CheckUser("nobody"); err != nil {
		privtest.Need(t, false, "no user nobody: "+err.Error())
	}
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(out, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	id := script(t, dir, "id.sh", "id -u >> \"$1\"\nid -g >> \"$1\"\n")
	if err := CheckHook(id+" "+out, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, uid, gid string }{
		{"nobody", "65534", "65534"},
		// Numeric ids, with every lookup failing as without /etc/passwd.
		{"65534", "65534", "65534"},
		{"65534:100", "65534", "100"},
	} {
		if tc.user != "nobody" {
			noPasswd(t)
		}
		if err := os.WriteFile(out, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(out, 0o666); err != nil {
			t.Fatal(err)
		}
		h := start(t, Options{User: tc.user, Security: true})
		h.Submit(Event{Kind: Instance, Name: "VI_1", State: Master, Hooks: Hooks{Specific: id + " " + out}})
		h.drain(t)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(b)); len(got) != 2 || got[0] != tc.uid || got[1] != tc.gid {
			t.Errorf("script_user %q: hook ran as uid/gid %q, want %s/%s", tc.user, got, tc.uid, tc.gid)
		}
		if s := h.Stats(); s.Ran != 1 || s.Failed != 0 {
			t.Errorf("script_user %q: stats %+v; log %v", tc.user, s, h.log.records(t))
		}
	}
}

// TestCheckConfigFile: the file and the directories above it must be changeable by root
// (or the current user) alone; a sticky directory such as /tmp is fine above the file.
func TestCheckConfigFile(t *testing.T) {
	base := t.TempDir()
	mk := func(dir string, dirMode, fileMode os.FileMode) string {
		t.Helper()
		d := filepath.Join(base, dir)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, dirMode); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(d, "h.toml")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, fileMode); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := mk("good", 0o755, 0o644)
	mk("open", 0o777, 0o644)
	if err := os.Symlink(good, filepath.Join(base, "open", "link.toml")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string // "" = accepted
	}{
		{good, ""},
		{mk("ro", 0o555, 0o400), ""},
		{mk("sticky", 0o777|os.ModeSticky, 0o644), ""},
		{mk("gw", 0o755, 0o664), "h.toml is writable by group or others"},
		{mk("ow", 0o755, 0o646), "h.toml is writable by group or others"},
		{mk("stickyfile", 0o755, 0o666|os.ModeSticky), "h.toml is writable by group or others"},
		{filepath.Join(base, "open", "h.toml"), "open is writable by group or others"},
		// The symlink's target is fine, but anybody can replace the link.
		{filepath.Join(base, "open", "link.toml"), "open is writable by group or others"},
		{filepath.Join(base, "missing.toml"), "no such file"},
	} {
		err := CheckConfigFile(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		case tc.want != "" && tc.want != "no such file" && !errors.Is(err, ErrUnsafeConfig):
			t.Errorf("%s: %v is not ErrUnsafeConfig", tc.path, err)
		}
	}

	t.Run("owner", func(t *testing.T) {
		privtest.Root(t)
		f := mk("nobody", 0o755, 0o644)
		if err := os.Chown(f, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := CheckConfigFile(f); !errors.Is(err, ErrUnsafeConfig) || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("a file owned by nobody: %v", err)
		}
	})
}
