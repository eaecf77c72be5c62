package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// Identity is the user and group the daemon runs as after binding.
type Identity struct {
	UID, GID    int
	User, Group string // names, or the numbers when there is no entry
}

// ResolveIdentity looks up the target of --user and --run-group. Either may be
// a name or a number; a number needs no entry in the user database. With
// only userName the user's primary group is used; with only groupName the
// user stays the current one (and only the group changes). A uid without
// an entry in the user database needs groupName.
func ResolveIdentity(userName, groupName string) (Identity, error) {
	id := Identity{UID: syscall.Getuid(), GID: syscall.Getgid()}
	id.User, id.Group = strconv.Itoa(id.UID), strconv.Itoa(id.GID)
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return Identity{}, fmt.Errorf("--user %s: %w", userName, err)
		}
		id.UID, id.User = u.uid, u.name
		if u.gid >= 0 {
			id.GID, id.Group = u.gid, strconv.Itoa(u.gid)
			if g, err := user.LookupGroupId(id.Group); err == nil {
				id.Group = g.Name
			}
		} else if groupName == "" {
			// Keeping the current group would leave a daemon started
			// as root running with gid 0.
			return Identity{}, fmt.Errorf("--user %s: uid %d has no entry in the user database, so it has no group: give --run-group as well", userName, u.uid)
		}
	}
	if groupName != "" {
		gid, name, err := lookupGroup(groupName)
		if err != nil {
			return Identity{}, fmt.Errorf("--run-group %s: %w", groupName, err)
		}
		id.GID, id.Group = gid, name
	}
	return id, nil
}

type userEntry struct {
	uid, gid int
	name     string
}

func lookupUser(s string) (userEntry, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return userEntry{}, errors.New("negative uid")
		}
		e := userEntry{uid: n, gid: -1, name: s}
		if u, err := user.LookupId(s); err == nil {
			e.name = u.Username
			e.gid, _ = strconv.Atoi(u.Gid)
		}
		return e, nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return userEntry{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return userEntry{}, fmt.Errorf("user database gives uid %q gid %q", u.Uid, u.Gid)
	}
	return userEntry{uid: uid, gid: gid, name: u.Username}, nil
}

func lookupGroup(s string) (int, string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, "", errors.New("negative gid")
		}
		if g, err := user.LookupGroupId(s); err == nil {
			return n, g.Name, nil
		}
		return n, s, nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, "", err
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, "", fmt.Errorf("group database gives gid %q", g.Gid)
	}
	return gid, g.Name, nil
}

// DropPrivileges makes the whole process (every thread: Go applies these
// calls to all threads on Linux) run as id: supplementary groups cleared
// first, then real, effective and saved gid, then uid. It then checks the
// result in every thread, including that root cannot be regained, and
// fails rather than run with more rights than asked for.
func DropPrivileges(id Identity) error {
	if verifyIdentity(id) == nil {
		return nil // already there: nothing to give up, and no root needed
	}
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("setgroups: %w (changing user or group needs root)", err)
	}
	if err := syscall.Setresgid(id.GID, id.GID, id.GID); err != nil {
		return fmt.Errorf("setresgid %d: %w", id.GID, err)
	}
	if err := syscall.Setresuid(id.UID, id.UID, id.UID); err != nil {
		return fmt.Errorf("setresuid %d: %w", id.UID, err)
	}
	return verifyIdentity(id)
}

func verifyIdentity(id Identity) error {
	if err := verifyThreads(id); err != nil {
		return err
	}
	if id.UID != 0 {
		if err := syscall.Setuid(0); err == nil {
			return errors.New("after dropping privileges setuid(0) succeeded: root can be regained")
		}
		if err := syscall.Setgid(0); err == nil && id.GID != 0 {
			return errors.New("after dropping privileges setgid(0) succeeded: group root can be regained")
		}
	}
	return nil
}

// verifyThreads reads the credentials of every thread of the process from
// /proc/self/task/*/status: a thread the kernel did not switch would keep
// root.
func verifyThreads(id Identity) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("checking the privilege drop: %w", err)
	}
	for _, t := range tasks {
		status, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return fmt.Errorf("checking the privilege drop: %w", err)
		}
		if err := checkTaskStatus(status, id); err != nil {
			return fmt.Errorf("after dropping privileges thread %s: %w", t.Name(), err)
		}
	}
	return nil
}

// checkTaskStatus checks the Uid, Gid and Groups lines of a
// /proc/PID/task/TID/status file (real, effective, saved and filesystem
// ids) against id, and, for a uid other than 0, that no capability is left
// (CapPrm, CapEff).
func checkTaskStatus(status []byte, id Identity) error {
	want := map[string]string{
		"Uid":    strings.Repeat(strconv.Itoa(id.UID)+" ", 4),
		"Gid":    strings.Repeat(strconv.Itoa(id.GID)+" ", 4),
		"Groups": "",
	}
	if id.UID != 0 {
		want["CapPrm"] = "0000000000000000 "
		want["CapEff"] = "0000000000000000 "
	}
	seen := 0
	for line := range strings.SplitSeq(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		w, checked := want[key]
		if !ok || !checked {
			continue
		}
		seen++
		var got strings.Builder
		for _, f := range strings.Fields(value) {
			got.WriteString(f + " ")
		}
		if got.String() != w {
			return fmt.Errorf("%s: %s; want %s", key, orNone(got.String()), orNone(w))
		}
	}
	if seen != len(want) {
		return fmt.Errorf("status has %d of the %d lines checked", seen, len(want))
	}
	return nil
}

func orNone(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return "none"
	}
	return s
}
