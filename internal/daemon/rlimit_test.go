package daemon

import (
	"os"
	"testing"
)

func TestDefaultMaxClients(t *testing.T) {
	tests := []struct {
		name         string
		nofile       uint64
		inUse        int
		clientMemory int64
		want         ClientLimit
	}{
		{"a login shell's 1024", 1024, 10, DefaultClientMemory,
			ClientLimit{Max: 1024 - 10 - FileHeadroom, By: "open-file limit", FileRoom: 982, MemoryRoom: 131072}},
		{"systemd's 524288", 524288, 12, DefaultClientMemory,
			ClientLimit{Max: 131072, By: "client-memory", FileRoom: 524288 - 12 - FileHeadroom, MemoryRoom: 131072}},
		{"a bigger budget", 524288, 12, 2 << 30,
			ClientLimit{Max: 524288 - 12 - FileHeadroom, By: "open-file limit", FileRoom: 524244, MemoryRoom: 1 << 20}},
		{"no limit at all", 1<<64 - 1, 12, 4 << 30,
			ClientLimit{Max: MaxMaxClients, By: "maximum", FileRoom: 2*MaxMaxClients - 12 - FileHeadroom, MemoryRoom: MaxMaxClients}},
		{"limit unknown", 0, 12, 64 << 20,
			ClientLimit{Max: 32768, By: "client-memory", FileRoom: 0, MemoryRoom: 32768}},
		{"fewer descriptors than the daemon needs", 40, 20, DefaultClientMemory,
			ClientLimit{Max: 1, By: "open-file limit", FileRoom: 1, MemoryRoom: 131072}},
		{"the smallest budget", 1 << 20, 12, MinClientMemory,
			ClientLimit{Max: 32, By: "client-memory", FileRoom: 1<<20 - 12 - FileHeadroom, MemoryRoom: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DefaultMaxClients(FileRoom(tt.nofile, tt.inUse), tt.clientMemory)
			if got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
			if err := (Tunables{Settings: Settings{MaxClients: got.Max, MaxLine: 1, ClientMemory: tt.clientMemory}}).Validate(); err != nil {
				t.Errorf("the default does not validate: %v", err)
			}
		})
	}
}

func TestOpenFiles(t *testing.T) {
	before, err := OpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after, err := OpenFiles(); err != nil || after != before+1 {
		t.Fatalf("OpenFiles: %d before opening a file, %d (%v) after", before, after, err)
	}
}
