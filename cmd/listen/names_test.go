package main

import (
	"testing"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
)

// TestFlagNames holds the daemon to the one table of flag names that
// cmd/bcast/README.md shows: each of its flags has its meaning there,
// marked as the daemon's, and nothing else is marked so.
func TestFlagNames(t *testing.T) {
	has := map[string]bool{"help": true} // cli adds --help itself
	for _, f := range newApp(nil, nil).Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			if _, renamed := oldNames[f.Names()[0]]; !renamed {
				t.Errorf("hidden --%s is not an old name in oldNames", f.Names()[0])
			}
			continue
		}
		names := f.Names()
		has[names[0]] = true
		n, ok := cmdline.NameOf(names[0])
		switch {
		case !ok:
			t.Errorf("--%s is not in internal/cmdline/names.go: give it its one meaning there", names[0])
		case !n.Daemon:
			t.Errorf("--%s: names.go does not mark it as the daemon's", names[0])
		case len(names) > 1 && names[1] != n.Short, len(names) == 1 && n.Short != "":
			t.Errorf("--%s has aliases %q; names.go says -%s", names[0], names[1:], n.Short)
		}
	}
	for _, n := range cmdline.Names {
		if n.Daemon && !has[n.Long] {
			t.Errorf("names.go marks --%s as the daemon's, but the daemon has no such flag", n.Long)
		}
	}
	for old, now := range oldNames {
		if !has[now] {
			t.Errorf("old name --%s stands for --%s, which the daemon does not have", old, now)
		}
	}
}
