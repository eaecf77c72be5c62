package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClientMemory: clients that send lines without reading the replies
// fill their backlogs, more than the budget could hold; together they hold
// no more than the budget, a client that reads is served meanwhile, and
// once the flooders read, each gets every byte back, in order, and the
// count goes back to zero.
func TestClientMemory(t *testing.T) {
	const budget = 1 << 20
	set := testSettings()
	set.ClientMemory = budget
	set.MaxLine = 256 << 10
	// Unix stream sockets: their kernel buffers are a fixed 208 KiB, where
	// loopback TCP grows them to megabytes that would have to fill first.
	ts := serveTest(t, Echo, set, [2]string{"unix", filepath.Join(t.TempDir(), "s")})

	// Eight backlogs of outLimit would be twice the budget.
	const flooders, perFlooder = 8, 1 << 20
	line := []byte(strings.Repeat("0123456789abcdef", 8))
	line[len(line)-1] = '\n'
	conns := make([]*net.UnixConn, flooders)
	wrote := make(chan error, flooders)
	for i := range conns {
		c := ts.dial(t, 0).(*net.UnixConn)
		conns[i] = c
		go func() {
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			for n := 0; n < perFlooder; n += len(line) { // perFlooder is a multiple of len(line)
				if _, err := c.Write(line); err != nil {
					wrote <- fmt.Errorf("flooder %d after %d bytes: %w", i, n, err)
					return
				}
			}
			wrote <- c.CloseWrite()
		}()
	}

	deadline := time.Now().Add(10 * time.Second)
	for _, peak := ts.Buffered(); peak < budget/2; _, peak = ts.Buffered() {
		if time.Now().After(deadline) {
			t.Fatalf("the flooders made the server hold at most %d bytes; the test wants them to fill the budget of %d", peak, budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.logs.waitFor(t, "client-memory reached")

	// The budget is full of backlogs; a client that reads is still served.
	c := ts.dial(t, 0)
	start := time.Now()
	for i := range 20 {
		echo(t, c, fmt.Sprintf("still served %d\n", i))
	}
	_, peak := ts.Buffered()
	t.Logf("20 round trips beside a full budget (%d bytes held at most) in %v", peak, time.Since(start).Round(time.Millisecond))
	if _, peak := ts.Buffered(); peak > budget {
		t.Fatalf("the server held %d bytes at once; the budget is %d", peak, budget)
	}

	// A long line started now is read in part, then waits: its start is
	// data held, and the holders' three quarters are taken. Nothing
	// else will wake it but the budget's room coming back.
	long := ts.dial(t, 0)
	longLine := strings.Repeat("L", 200<<10) + "\n"
	before, _ := ts.Buffered()
	go func() {
		long.SetWriteDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(long, longLine)
	}()
	deadline = time.Now().Add(5 * time.Second)
	for now, _ := ts.Buffered(); now == before; now, _ = ts.Buffered() {
		if time.Now().After(deadline) {
			t.Fatal("the server took nothing of the long line while the budget had room for clients that hold nothing")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let it stall
	if now, _ := ts.Buffered(); now-before >= int64(len(longLine)) {
		t.Fatalf("the server took all of the long line (%d bytes held, %d before) while the holders' share was full", now, before)
	}

	// The flooders read now: every one of them is read to the end again
	// (none is left stalled) and gets all it sent.
	var wg sync.WaitGroup
	got := make(chan error, flooders)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, err := io.ReadAll(c)
			switch {
			case err != nil:
				got <- fmt.Errorf("flooder %d read %d bytes, then %w", i, len(b), err)
			case len(b) != perFlooder:
				got <- fmt.Errorf("flooder %d got %d bytes back; it sent %d", i, len(b), perFlooder)
			case !bytes.Equal(b, bytes.Repeat(line, len(b)/len(line))):
				got <- fmt.Errorf("flooder %d got its bytes back out of order", i)
			}
		}()
	}
	for range flooders {
		if err := <-wrote; err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	close(got)
	for err := range got {
		t.Error(err)
	}
	long.SetReadDeadline(time.Now().Add(30 * time.Second))
	back := make([]byte, len(longLine))
	if n, err := io.ReadFull(long, back); err != nil || string(back) != longLine {
		t.Errorf("the long line came back as %d bytes, %v; want its %d bytes", n, err, len(longLine))
	}
	if _, peak := ts.Buffered(); peak > budget {
		t.Fatalf("the server held %d bytes at once; the budget is %d", peak, budget)
	}
	long.Close()
	for _, c := range conns {
		c.Close()
	}
	c.Close()
	deadline = time.Now().Add(5 * time.Second)
	for now, _ := ts.Buffered(); now != 0; now, _ = ts.Buffered() {
		if time.Now().After(deadline) {
			t.Fatalf("the server counts %d bytes held after every client left", now)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
