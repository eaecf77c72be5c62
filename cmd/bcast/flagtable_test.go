package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
)

var update = flag.Bool("update", false, "rewrite the generated parts of README.md and the golden files in testdata")

const (
	tableStart = "<!-- flag table: generated from internal/cmdline/names.go by TestFlagTable; go test ./cmd/bcast -run TestFlagTable -update -->"
	tableEnd   = "<!-- end of flag table -->"
)

// visibleFlags are a command's flags but the hidden old spellings.
func visibleFlags(cmd *cli.Command) []cli.Flag {
	var out []cli.Flag
	for _, f := range cmd.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		out = append(out, f)
	}
	return out
}

// flagTable renders the table of flag names: each name once, its one
// meaning, and the commands that take it.
func flagTable(t *testing.T) string {
	t.Helper()
	app := newApp(nil, nil)
	users := map[string][]string{}
	for _, f := range app.Flags {
		users[f.Names()[0]] = append(users[f.Names()[0]], "bcast")
	}
	for _, cmd := range app.Commands {
		for _, f := range visibleFlags(cmd) {
			names := f.Names()
			n, ok := cmdline.NameOf(names[0])
			if !ok {
				t.Errorf("bcast %s --%s is not in internal/cmdline/names.go: give it its one meaning there", cmd.Name, names[0])
				continue
			}
			short := ""
			if len(names) > 1 {
				short = names[1]
			}
			if len(names) > 2 || short != n.Short {
				t.Errorf("bcast %s --%s has aliases %q; names.go says -%s", cmd.Name, names[0], names[1:], n.Short)
			}
			if names[0] != "help" {
				users[names[0]] = append(users[names[0]], cmd.Name)
			}
		}
	}
	var b strings.Builder
	b.WriteString("| flag | short | meaning | bcast commands | listen daemon |\n|---|---|---|---|---|\n")
	for _, n := range cmdline.Names {
		cmds := strings.Join(users[n.Long], ", ")
		if n.Long == "help" {
			cmds = "all"
		}
		if cmds == "" && !n.Daemon {
			t.Errorf("--%s is in names.go but no command takes it", n.Long)
		}
		short, daemon := "", ""
		if n.Short != "" {
			short = "`-" + n.Short + "`"
		}
		if n.Daemon {
			daemon = "yes"
		}
		meaning := strings.ReplaceAll(n.Meaning, "|", "\\|")
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s | %s |\n", n.Long, short, meaning, cmds, daemon)
	}
	return b.String()
}

// TestFlagTable holds cmd/bcast/README.md's table of flag names to the
// code: every flag of every command has its one meaning in
// internal/cmdline/names.go, and the README shows exactly that table.
func TestFlagTable(t *testing.T) {
	table := flagTable(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no flag table between %q and %q", tableStart, tableEnd)
	}
	want := text[:i+len(tableStart)] + "\n\n" + table + "\n" + text[j:]
	if want == text {
		return
	}
	if *update {
		if err := os.WriteFile("README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's flag table differs from the code; run go test ./cmd/bcast -run TestFlagTable -update and review the diff")
}
