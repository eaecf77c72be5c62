package cmdline

import (
	"runtime/debug"
	"strings"
)

// Version is the line --version prints: the program, the module version
// and the VCS revision the binary was built from, as the Go toolchain
// recorded them.
func Version(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information)"
	}
	return program + " " + versionText(bi)
}

func versionText(bi *debug.BuildInfo) string {
	parts := []string{bi.Main.Version}
	if bi.Main.Version == "" {
		parts[0] = "(unknown version)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		r := "revision " + rev
		if when != "" {
			r += " (" + when + ")"
		}
		if modified {
			r += " with local changes"
		}
		parts = append(parts, r)
	}
	parts = append(parts, bi.GoVersion)
	return strings.Join(parts, ", ")
}
