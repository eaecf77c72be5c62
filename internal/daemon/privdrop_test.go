package daemon

import (
	"os/user"
	"strconv"
	"strings"
	"testing"
)

func TestCheckTaskStatus(t *testing.T) {
	const dropped = "Name:\tlisten\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nFDSize:\t64\nGroups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
	id := Identity{UID: 65534, GID: 65534}
	tests := []struct {
		name, status string
		want         string // in the error; "" for none
	}{
		{"dropped", dropped, ""},
		{"saved uid root", strings.Replace(dropped, "Uid:\t65534\t65534\t65534", "Uid:\t65534\t65534\t0", 1), "Uid: 65534 65534 0 65534; want 65534 65534 65534 65534"},
		{"effective gid root", strings.Replace(dropped, "Gid:\t65534\t65534", "Gid:\t65534\t0", 1), "Gid: 65534 0 65534 65534"},
		{"supplementary root group", strings.Replace(dropped, "Groups:\t", "Groups:\t0 27", 1), "Groups: 0 27; want none"},
		{"capabilities left", strings.Replace(dropped, "CapPrm:\t0000000000000000", "CapPrm:\t000001ffffffffff", 1), "CapPrm: 000001ffffffffff"},
		{"line missing", strings.Replace(dropped, "Groups:\t\n", "", 1), "4 of the 5 lines"},
		{"empty", "", "0 of the 5 lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTaskStatus([]byte(tt.status), id)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want an error with %q", err, tt.want)
			}
		})
	}
	// Root keeps its capabilities: they are not checked for uid 0.
	root := strings.NewReplacer("65534", "0", "CapPrm:\t0000000000000000", "CapPrm:\t000001ffffffffff").Replace(dropped)
	if err := checkTaskStatus([]byte(root), Identity{}); err != nil {
		t.Fatalf("root: got %v; want no error", err)
	}
}

// unusedUID is a uid with no entry in the user database.
func unusedUID(t *testing.T) string {
	t.Helper()
	for uid := 99999; uid < 99999+1000; uid++ {
		if _, err := user.LookupId(strconv.Itoa(uid)); err != nil {
			return strconv.Itoa(uid)
		}
	}
	t.Fatal("no free uid between 99999 and 100998")
	return ""
}

func TestResolveIdentityUIDWithoutEntry(t *testing.T) {
	uid := unusedUID(t)
	_, err := ResolveIdentity(uid, "")
	if err == nil || !strings.Contains(err.Error(), "--user "+uid) || !strings.Contains(err.Error(), "--run-group") {
		t.Fatalf("got %v; want an error naming --user %s and asking for --run-group", err, uid)
	}
	id, err := ResolveIdentity(uid, "65534")
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(id.UID) != uid || id.GID != 65534 || id.User != uid {
		t.Fatalf("got %+v; want uid %s gid 65534", id, uid)
	}
	if _, err := ResolveIdentity("no-such-user-bcast", ""); err == nil || !strings.Contains(err.Error(), "--user no-such-user-bcast") {
		t.Fatalf("unknown name: got %v", err)
	}
}
