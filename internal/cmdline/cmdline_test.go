package cmdline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  \t ", want: nil},
		{in: "/usr/bin/pgrep -x haproxy", want: []string{"/usr/bin/pgrep", "-x", "haproxy"}},
		{in: "  /bin/echo   a\tb  ", want: []string{"/bin/echo", "a", "b"}},
		{in: `/bin/echo 'a b' "c d"`, want: []string{"/bin/echo", "a b", "c d"}},
		{in: `/bin/echo '' ""`, want: []string{"/bin/echo", "", ""}},
		{in: `/bin/echo 'it''s' x"y"z`, want: []string{"/bin/echo", "its", "xyz"}},
		{in: `/bin/echo '\n $HOME "'`, want: []string{"/bin/echo", `\n $HOME "`}},
		{in: `/bin/echo "a \"b\" \\ \$ \x"`, want: []string{"/bin/echo", `a "b" \ $ \x`}},
		{in: `/bin/echo a\ b \'q\' \\`, want: []string{"/bin/echo", "a b", "'q'", `\`}},
		{in: "/bin/echo a\\\nb", want: []string{"/bin/echo", "ab"}},
		{in: `/bin/sh -c 'exec foo | bar'`, want: []string{"/bin/sh", "-c", "exec foo | bar"}},
		{in: `/bin/echo a|b ; $(x)`, want: []string{"/bin/echo", "a|b", ";", "$(x)"}},
		{in: `/bin/echo 'a`, wantErr: "unterminated single quote"},
		{in: `/bin/echo "a`, wantErr: "unterminated double quote"},
		{in: `/bin/echo "a\"`, wantErr: "unterminated double quote"},
		{in: `/bin/echo a\`, wantErr: "backslash at end of command"},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Split(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestWordsQuoted(t *testing.T) {
	got, err := Words(`/bin/echo | '|' \| x"" ""`)
	want := []Word{{"/bin/echo", false}, {"|", false}, {"|", true}, {"|", true}, {"x", true}, {"", true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Words = %+v, %v; want %+v", got, err, want)
	}
	if _, err := Words(`/bin/echo 'a`); !errors.Is(err, ErrUnterminatedSingle) {
		t.Fatalf("error %v, want ErrUnterminatedSingle", err)
	}
}

// singleQuote writes w so that Split gives it back: inside single quotes everything is
// literal, and a quote itself is closed, escaped and reopened.
func singleQuote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// FuzzSplit: any input splits or fails without panicking; Words and Split agree; and a
// split command line written back word by word in single quotes splits to the same argv.
func FuzzSplit(f *testing.F) {
	f.Add(`/usr/bin/pgrep -x haproxy`)
	f.Add(`/bin/sh -c 'exec foo | bar' "a \"b\" \$" c\ d`)
	f.Add("/bin/echo a\\\nb 'it''s' \t\r")
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := Split(s)
		words, werr := Words(s)
		if (err == nil) != (werr == nil) || len(argv) != len(words) {
			t.Fatalf("%q: Split %q %v, Words %+v %v", s, argv, err, words, werr)
		}
		if err != nil {
			return
		}
		quoted := make([]string, len(argv))
		for i, w := range argv {
			if w != words[i].Text {
				t.Fatalf("%q: word %d: Split %q, Words %q", s, i, w, words[i].Text)
			}
			quoted[i] = singleQuote(w)
		}
		again, err := Split(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, argv) {
			t.Fatalf("%q -> %q -> %q %v", s, argv, again, err)
		}
	})
}
