package cmdline

import "strings"

// ShellQuote writes argv as a person pastes it into a POSIX shell to run
// the same command: each argument that holds anything but letters, digits
// and _-.,/:=+@% goes in single quotes, a quote inside it closing the
// quotes, escaped, and opening them again.
func ShellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, unsafeShellRune) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

func unsafeShellRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("_-.,/:=+@%", r)
}
