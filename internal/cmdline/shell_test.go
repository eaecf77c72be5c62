package cmdline

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"bcast", "send", "--to", "127.0.0.1:9"}, "bcast send --to 127.0.0.1:9"},
		{[]string{"--message", "hello from bcast demo"}, "--message 'hello from bcast demo'"},
		{[]string{"--to", "[ff02::1%eth0]:9"}, "--to '[ff02::1%eth0]:9'"},
		{[]string{"it's", ""}, `'it'\''s' ''`},
		{[]string{"*:5000", "$HOME", "a;b"}, `'*:5000' '$HOME' 'a;b'`},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.argv); got != tt.want {
			t.Errorf("ShellQuote(%q) = %s; want %s", tt.argv, got, tt.want)
		}
	}
}

// TestShellQuoteRoundTrip has a real shell read the quoted words back.
func TestShellQuoteRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	argv := []string{"plain", "two words", "it's", "", "[::1]:7", "*", "$x", "`id`", "a\nb", `back\slash`, "~", "#c"}
	out, err := exec.Command(sh, "-c", "set -- "+ShellQuote(argv)+`; for a in "$@"; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, argv) {
		t.Errorf("the shell read %q; want %q", got, argv)
	}
}
