package manpage

import (
	"bytes"
	"os/exec"

	"github.com/hadirector/hadirector/internal/privtest"
)

// CheckRenders fails t unless groff (-ww: every warning) and man -l render the page at path
// without a word on stderr. Without groff or man it skips, or fails under
// HADIRECTOR_REQUIRE_PRIV=1 (scripts/deps.sh installs both).
func CheckRenders(t privtest.TB, path string) {
	t.Helper()
	groff := privtest.Tool(t, "groff")
	man := privtest.Tool(t, "man")
	for _, argv := range [][]string{
		{groff, "-ww", "-z", "-man", "-Tutf8", path},
		{man, "--warnings=w", "-l", path},
	} {
		var out, errOut bytes.Buffer
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Env = append(cmd.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80")
		if err := cmd.Run(); err != nil || errOut.Len() > 0 {
			t.Fatalf("%v: %v\n%s", argv, err, errOut.String())
		}
		if argv[0] == man && out.Len() == 0 {
			t.Fatalf("%v rendered nothing", argv)
		}
	}
}
