// Package cmdline splits a hook's command line into argv. Hooks (notify scripts,
// vrrp_script, exec health checks) are executed directly, never through a shell, so
// the splitting is all that is done to them: the configuration validates with it, and
// whatever runs a hook splits with it, so the two agree by construction.
package cmdline

import "errors"

// Split splits a command line into argv the way a POSIX shell splits words, and does
// nothing else: no variables, globs, pipes or redirections. Words are separated by
// blanks; 'single quotes' keep everything literally; "double quotes" keep everything
// except that a backslash escapes ", \, $, ` and newline; outside quotes a backslash
// escapes any character. A blank line yields nil argv.
func Split(s string) ([]string, error) {
	words, err := Words(s)
	if err != nil {
		return nil, err
	}
	var argv []string
	for _, w := range words {
		argv = append(argv, w.Text)
	}
	return argv, nil
}

// Word is one word of a command line.
type Word struct {
	Text string
	// Quoted says that some part of it was quoted or escaped: a quoted "|" is an
	// argument that means to be one, an unquoted one expected a shell.
	Quoted bool
}

// The errors of a command line that does not split; their text is what the
// configuration reports.
var (
	ErrUnterminatedSingle = errors.New("unterminated single quote")
	ErrUnterminatedDouble = errors.New("unterminated double quote")
	ErrTrailingBackslash  = errors.New("backslash at end of command")
)

// Words splits s as Split does and says which words were quoted.
func Words(s string) ([]Word, error) {
	var (
		words  []Word
		cur    []byte
		inWord bool
		quoted bool
	)
	end := func() {
		if inWord {
			words = append(words, Word{Text: string(cur), Quoted: quoted})
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
				return nil, ErrUnterminatedSingle
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
				return nil, ErrUnterminatedDouble
			}
			i = j
		case '\\':
			if i+1 == len(s) {
				return nil, ErrTrailingBackslash
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
