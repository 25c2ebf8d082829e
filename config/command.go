package config

import (
	"path/filepath"

	"github.com/hadirector/hadirector/internal/cmdline"
)

// shellOperators are words that only mean something to a shell; finding one
// unquoted in a hook means the author expected a shell that is not there.
var shellOperators = map[string]bool{
	"|": true, "||": true, "&&": true, "&": true, ";": true,
	">": true, ">>": true, "<": true, "2>": true, "2>&1": true, ">/dev/null": true,
}

// checkCommand is the validation of every hook: empty is fine (no hook),
// otherwise it must split, name an absolute program and not rely on a shell.
func checkCommand(s string) (string, bool) {
	words, err := cmdline.Words(s)
	if err != nil {
		return err.Error(), false
	}
	if len(words) == 0 {
		return "", true
	}
	if !filepath.IsAbs(words[0].Text) {
		return "program " + quote(words[0].Text) + " must be an absolute path (hooks are run directly, without a shell or $PATH)", false
	}
	for _, w := range words[1:] {
		if !w.Quoted && shellOperators[w.Text] {
			return quote(w.Text) + " would be passed as an argument: hooks run without a shell; use /bin/sh -c '...' if one is needed", false
		}
	}
	return "", true
}
