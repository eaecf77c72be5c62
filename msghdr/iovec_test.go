package msghdr

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// checkIovecs compares v with the model of what it should hold: the same
// buffers (the same memory, not equal copies), and a Kernel array that
// describes exactly them.
func checkIovecs(t *testing.T, v *Iovecs, model [][]byte) {
	t.Helper()
	if v.Len() != len(model) {
		t.Fatalf("Len = %d; want %d", v.Len(), len(model))
	}
	size := 0
	for _, b := range model {
		size += len(b)
	}
	if v.Size() != size {
		t.Errorf("Size = %d; want %d", v.Size(), size)
	}
	bufs := v.Buffers()
	if len(bufs) != len(model) {
		t.Fatalf("len(Buffers) = %d; want %d", len(bufs), len(model))
	}
	iov := v.Kernel()
	if len(iov) != len(model) {
		t.Fatalf("len(Kernel) = %d; want %d", len(iov), len(model))
	}
	for i, want := range model {
		if !sameBuf(bufs[i], want) {
			t.Errorf("Buffers[%d] is not the buffer put there", i)
		}
		got, err := v.Fetch(i)
		if err != nil || !sameBuf(got, want) {
			t.Errorf("Fetch(%d) = %p, %v; want the buffer put there", i, got, err)
		}
		if int(iov[i].Len) != len(want) {
			t.Errorf("Kernel()[%d].Len = %d; want %d", i, iov[i].Len, len(want))
		}
		var base *byte
		if len(want) > 0 {
			base = unsafe.SliceData(want)
		}
		if iov[i].Base != base {
			t.Errorf("Kernel()[%d].Base = %p; want %p", i, iov[i].Base, base)
		}
	}
	if got, want := v.Gather(nil), bytes.Join(model, nil); !bytes.Equal(got, want) {
		t.Errorf("Gather = %q; want %q", got, want)
	}
}

func sameBuf(a, b []byte) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

func TestIovecsOps(t *testing.T) {
	a, b, c, empty := []byte("alpha"), []byte("be"), []byte("charlie"), make([]byte, 0, 10)

	v := NewIovecs(a, b)
	checkIovecs(t, v, [][]byte{a, b})
	v.Add(empty)
	v.Add(c)
	checkIovecs(t, v, [][]byte{a, b, empty, c})
	if err := v.Set(1, c); err != nil {
		t.Fatal(err)
	}
	checkIovecs(t, v, [][]byte{a, c, empty, c})
	if err := v.Delete(0); err != nil {
		t.Fatal(err)
	}
	checkIovecs(t, v, [][]byte{c, empty, c})
	if err := v.Delete(2); err != nil {
		t.Fatal(err)
	}
	checkIovecs(t, v, [][]byte{c, empty})
	v.Reset()
	checkIovecs(t, v, nil)
	v.Add(b)
	checkIovecs(t, v, [][]byte{b})
}

func TestIovecsZeroValue(t *testing.T) {
	var v Iovecs
	checkIovecs(t, &v, nil)
	v.Add([]byte("x"))
	checkIovecs(t, &v, [][]byte{v.Buffers()[0]})
}

// NewIovecs keeps the buffers but not the caller's slice of them.
func TestNewIovecsCopiesList(t *testing.T) {
	a, b := []byte("a"), []byte("b")
	list := [][]byte{a}
	v := NewIovecs(list...)
	list[0] = b
	checkIovecs(t, v, [][]byte{a})
}

func TestIovecsBadIndex(t *testing.T) {
	v := NewIovecs([]byte("a"), []byte("b"), []byte("c"))
	tests := []struct {
		name string
		op   func() error
		want string
	}{
		{"Delete -1", func() error { return v.Delete(-1) }, "iovec delete: index -1 out of range [0,3)"},
		{"Delete 3", func() error { return v.Delete(3) }, "iovec delete: index 3 out of range [0,3)"},
		{"Set 3", func() error { return v.Set(3, nil) }, "iovec set: index 3 out of range [0,3)"},
		{"Set -5", func() error { return v.Set(-5, nil) }, "iovec set: index -5"},
		{"Fetch 3", func() error { _, err := v.Fetch(3); return err }, "iovec fetch: index 3 out of range [0,3)"},
		{"Fetch min int", func() error { _, err := v.Fetch(math.MinInt); return err }, "index " + strconv.Itoa(math.MinInt)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v; want it to contain %q", err, tt.want)
			}
			if v.Len() != 3 || v.Size() != 3 {
				t.Errorf("a failed call changed v: Len %d, Size %d", v.Len(), v.Size())
			}
		})
	}
	var empty Iovecs
	if _, err := empty.Fetch(0); err == nil || !strings.Contains(err.Error(), "[0,0)") {
		t.Errorf("Fetch(0) on an empty Iovecs: %v; want an out-of-range error", err)
	}
}

func TestIovecsKernelNoAlloc(t *testing.T) {
	v := NewIovecs(make([]byte, 8), nil, make([]byte, 3))
	first := v.Kernel()
	allocs := testing.AllocsPerRun(100, func() { _ = v.Kernel() })
	if allocs != 0 {
		t.Errorf("Kernel when unchanged: %v allocations; want 0", allocs)
	}
	if again := v.Kernel(); &again[0] != &first[0] {
		t.Error("Kernel returned a new array although nothing changed")
	}
	// A change is seen, and rebuilding into the kept array costs nothing.
	other := make([]byte, 5)
	allocs = testing.AllocsPerRun(100, func() {
		_ = v.Set(1, other)
		_ = v.Kernel()
		_ = v.Set(1, nil)
		_ = v.Kernel()
	})
	if allocs != 0 {
		t.Errorf("Set and Kernel with the array already grown: %v allocations; want 0", allocs)
	}
	_ = v.Set(1, other)
	if k := v.Kernel(); k[1].Base != &other[0] || k[1].Len != 5 {
		t.Errorf("Kernel()[1] = %+v after Set; want the new buffer", k[1])
	}
}

func TestIovecsResetKeepsCapacity(t *testing.T) {
	v := NewIovecs(make([]byte, 1), make([]byte, 2), make([]byte, 3))
	_ = v.Kernel()
	bufCap, iovCap := cap(v.bufs), cap(v.iov)
	v.Reset()
	if cap(v.bufs) != bufCap || cap(v.iov) != iovCap {
		t.Errorf("capacity after Reset = %d, %d; want %d, %d", cap(v.bufs), cap(v.iov), bufCap, iovCap)
	}
	for i, b := range v.bufs[:bufCap] {
		if b != nil {
			t.Errorf("Reset kept a reference to buffer %d", i)
		}
	}
	for i, e := range v.iov[:iovCap] {
		if e.Base != nil {
			t.Errorf("Reset kept a pointer in iovec %d", i)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Add(nil)
		v.Add(nil)
		v.Add(nil)
		_ = v.Kernel()
	})
	if allocs != 0 {
		t.Errorf("refilling after Reset: %v allocations; want 0", allocs)
	}
}

func TestIovecsSpread(t *testing.T) {
	v := NewIovecs([]byte("abc"), nil, []byte("de"), []byte("fghi"))
	tests := []struct {
		n    int
		want string
	}{
		{-1, `["" "" "" ""]`},
		{0, `["" "" "" ""]`},
		{2, `["ab" "" "" ""]`},
		{3, `["abc" "" "" ""]`},
		{4, `["abc" "" "d" ""]`},
		{6, `["abc" "" "de" "f"]`},
		{9, `["abc" "" "de" "fghi"]`},
		{math.MaxInt, `["abc" "" "de" "fghi"]`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			got := v.Spread(tt.n, [][]byte{[]byte("kept")})
			if string(got[0]) != "kept" {
				t.Fatalf("Spread overwrote dst[0] = %q", got[0])
			}
			if s := fmt.Sprintf("%q", got[1:]); s != tt.want {
				t.Errorf("Spread(%d) = %s; want %s", tt.n, s, tt.want)
			}
		})
	}
	dst := make([][]byte, 0, 4)
	if allocs := testing.AllocsPerRun(100, func() { dst = v.Spread(5, dst[:0]) }); allocs != 0 {
		t.Errorf("Spread with room in dst: %v allocations; want 0", allocs)
	}
	out := make([]byte, 0, 16)
	if allocs := testing.AllocsPerRun(100, func() { out = v.Gather(out[:0]) }); allocs != 0 {
		t.Errorf("Gather with room in dst: %v allocations; want 0", allocs)
	}
}

// FuzzIovecs runs a random program of index operations against Iovecs and
// against a plain slice of buffers, and checks after every step that they
// agree, including the kernel array and the errors for bad indexes.
func FuzzIovecs(f *testing.F) {
	f.Add([]byte{0, 3, 0, 0, 1, 0, 4, 0})
	f.Add([]byte{0, 5, 2, 1, 0, 2, 3, 9, 1, 200, 5, 0, 0, 1})
	f.Add([]byte{1, 0, 2, 0, 3, 0, 4, 0, 5, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 512 {
			prog = prog[:512] // bound the work per input
		}
		var v Iovecs
		var model [][]byte
		for pc := 0; pc+1 < len(prog); pc += 2 {
			op, arg := prog[pc]%6, prog[pc+1]
			// Indexes from -2 to len+1 cover both sides of the range.
			i := int(arg)%(len(model)+4) - 2
			valid := i >= 0 && i < len(model)
			buf := bytes.Repeat([]byte{arg}, int(arg)%13) // lengths 0 to 12
			var err error
			switch op {
			case 0:
				v.Add(buf)
				model = append(model, buf)
			case 1:
				err = v.Delete(i)
				if valid {
					model = append(model[:i:i], model[i+1:]...)
				}
			case 2:
				err = v.Set(i, buf)
				if valid {
					model[i] = buf
				}
			case 3:
				var got []byte
				got, err = v.Fetch(i)
				if valid && !sameBuf(got, model[i]) {
					t.Fatalf("Fetch(%d) returned another buffer", i)
				}
			case 4:
				v.Reset()
				model = nil
			case 5:
				n := int(arg) - 10
				got := v.Spread(n, nil)
				left := max(n, 0)
				for j, b := range model {
					k := min(left, len(b))
					if !sameBuf(got[j], b[:k]) {
						t.Fatalf("Spread(%d)[%d] has length %d; want %d", n, j, len(got[j]), k)
					}
					left -= k
				}
			}
			if op >= 1 && op <= 3 && (err == nil) != valid {
				t.Fatalf("op %d at index %d with %d buffers: error %v; valid index %v", op, i, len(model), err, valid)
			}
			checkIovecs(t, &v, model)
		}
	})
}
