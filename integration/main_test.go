package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

// binDir holds the commands under test, built once per run of the package.
var binDir string

// commands are the programs the suite builds from this module, by the name
// tests ask for.
var commands = map[string]string{
	"bcast":  "github.com/bcastdev/bcast/cmd/bcast",
	"listen": "github.com/bcastdev/bcast/cmd/listen",
}

// builds holds one build per command, run the first time a test asks for
// it, so that a run in which every test skips (not root, not CI) compiles
// nothing and a command that does not build fails only the tests that need
// it.
var builds = map[string]func() (string, error){}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bcast-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temporary directory for the commands:", err)
		os.Exit(1)
	}
	binDir = dir
	for name, pkg := range commands {
		builds[name] = sync.OnceValues(func() (string, error) { return build(name, pkg) })
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles pkg into binDir/name with the race detector when the
// tests themselves run with it, so a data race in a command fails the
// test that ran it (the race runtime exits with status 66).
func build(name, pkg string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not on PATH: %w", err)
	}
	out := filepath.Join(binDir, name)
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	cmd := exec.Command(goTool, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("$ go %s\n%s%w", joinArgs(args), output.Bytes(), err)
	}
	if d := time.Since(start); d > 10*time.Second {
		fmt.Fprintf(os.Stderr, "integration: building %s took %v\n", name, d.Round(time.Second))
	}
	return out, nil
}

// bin returns the path of the built command name, or fails the test: a
// command that is missing or does not compile is a failure of every test
// that exercises it, never a skip.
func bin(t *testing.T, name string) string {
	t.Helper()
	b, ok := builds[name]
	if !ok {
		t.Fatalf("integration: no command %q in the suite's build list", name)
	}
	path, err := b()
	if err != nil {
		t.Fatalf("cmd/%s does not build, so this test cannot run it:\n%v", name, err)
	}
	return path
}

func joinArgs(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}
