package config

import (
	"errors"
	"path/filepath"
)

// SplitCommand splits a hook's command line into argv the way a POSIX shell
// splits words, and does nothing else: no variables, globs, pipes or
// redirections, because hooks are executed directly. Words are separated by
// blanks; 'single quotes' keep everything literally; "double quotes" keep
// everything except that a backslash escapes ", \, $, ` and newline; outside
// quotes a backslash escapes any character. A blank line yields nil argv.
func SplitCommand(s string) ([]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	var argv []string
	for _, w := range words {
		argv = append(argv, w.text)
	}
	return argv, nil
}

type word struct {
	text   string
	quoted bool // some part of it was quoted or escaped
}

var (
	errUnterminatedSingle = errors.New("unterminated single quote")
	errUnterminatedDouble = errors.New("unterminated double quote")
	errTrailingBackslash  = errors.New("backslash at end of command")
)

func splitWords(s string) ([]word, error) {
	var (
		words  []word
		cur    []byte
		inWord bool
		quoted bool
	)
	end := func() {
		if inWord {
			words = append(words, word{text: string(cur), quoted: quoted})
		}
		cur, inWord, quoted = nil, false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			end()
		case '\'':
			inWord, quoted = true, true
			j := i + 1
			for j < len(s) && s[j] != '\'' {
				j++
			}
			if j == len(s) {
				return nil, errUnterminatedSingle
			}
			cur = append(cur, s[i+1:j]...)
			i = j
		case '"':
			inWord, quoted = true, true
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] != '\\' || j+1 == len(s) {
					cur = append(cur, s[j])
					continue
				}
				switch n := s[j+1]; n {
				case '"', '\\', '$', '`':
					cur = append(cur, n)
					j++
				case '\n':
					j++
				default:
					cur = append(cur, '\\')
				}
			}
			if j >= len(s) {
				return nil, errUnterminatedDouble
			}
			i = j
		case '\\':
			if i+1 == len(s) {
				return nil, errTrailingBackslash
			}
			i++
			if s[i] == '\n' { // line continuation
				continue
			}
			inWord, quoted = true, true
			cur = append(cur, s[i])
		default:
			inWord = true
			cur = append(cur, c)
		}
	}
	end()
	return words, nil
}

// shellOperators are words that only mean something to a shell; finding one
// unquoted in a hook means the author expected a shell that is not there.
var shellOperators = map[string]bool{
	"|": true, "||": true, "&&": true, "&": true, ";": true,
	">": true, ">>": true, "<": true, "2>": true, "2>&1": true, ">/dev/null": true,
}

// checkCommand is the validation of every hook: empty is fine (no hook),
// otherwise it must split, name an absolute program and not rely on a shell.
func checkCommand(s string) (string, bool) {
	words, err := splitWords(s)
	if err != nil {
		return err.Error(), false
	}
	if len(words) == 0 {
		return "", true
	}
	if !filepath.IsAbs(words[0].text) {
		return "program " + quote(words[0].text) + " must be an absolute path (hooks are run directly, without a shell or $PATH)", false
	}
	for _, w := range words[1:] {
		if !w.quoted && shellOperators[w.text] {
			return quote(w.text) + " would be passed as an argument: hooks run without a shell; use /bin/sh -c '...' if one is needed", false
		}
	}
	return "", true
}
