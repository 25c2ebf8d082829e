package main

import (
	"os/exec"
	"testing"
)

// TestGitVersion: before a tag, after it, and on it; each later build sorts after the one
// before it (dpkg --compare-versions), so each upgrades the last.
func TestGitVersion(t *testing.T) {
	dir := t.TempDir()
	g := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	g("init", "-q")
	commit := func() string {
		g("commit", "-q", "--allow-empty", "-m", "c")
		h, err := git(dir, "rev-parse", "--short=7", "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	var versions []string
	step := func(want string) {
		t.Helper()
		got, err := gitVersion(dir)
		if err != nil || got != want {
			t.Fatalf("gitVersion = %q, %v; want %q", got, err, want)
		}
		versions = append(versions, got)
	}
	commit()
	commit()
	h := commit()
	step("0.0.0+git3.g" + h)
	g("tag", "v1.2.0")
	step("1.2.0")
	h = commit()
	step("1.2.0+git1.g" + h)
	g("tag", "v1.3.0-rc1")
	step("1.3.0~rc1")
	g("tag", "v1.3.0")
	step("1.3.0")
	for i := 1; i < len(versions); i++ {
		if versions[i] == versions[i-1] {
			continue // two tags on one commit
		}
		if err := exec.Command("dpkg", "--compare-versions", versions[i], "gt", versions[i-1]).Run(); err != nil {
			t.Errorf("%s does not sort after %s", versions[i], versions[i-1])
		}
	}
}
