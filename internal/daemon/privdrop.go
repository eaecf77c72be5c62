package daemon

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// Identity is the user and group the daemon runs as after binding.
type Identity struct {
	UID, GID    int
	User, Group string // names, or the numbers when there is no entry
}

// ResolveIdentity looks up the target of --user and --group. Either may be
// a name or a number; a number needs no entry in the user database. With
// only userName the user's primary group is used; with only groupName the
// user stays the current one (and only the group changes).
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
		}
	}
	if groupName != "" {
		gid, name, err := lookupGroup(groupName)
		if err != nil {
			return Identity{}, fmt.Errorf("--group %s: %w", groupName, err)
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
// result, including that root cannot be regained, and fails rather than
// run with more rights than asked for.
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
	if u, eu := syscall.Getuid(), syscall.Geteuid(); u != id.UID || eu != id.UID {
		return fmt.Errorf("after dropping privileges uid %d euid %d, want %d", u, eu, id.UID)
	}
	if g, eg := syscall.Getgid(), syscall.Getegid(); g != id.GID || eg != id.GID {
		return fmt.Errorf("after dropping privileges gid %d egid %d, want %d", g, eg, id.GID)
	}
	if gs, err := syscall.Getgroups(); err != nil || len(gs) != 0 {
		return fmt.Errorf("after dropping privileges supplementary groups %v (%v), want none", gs, err)
	}
	if id.UID != 0 {
		if err := syscall.Setuid(0); err == nil {
			return errors.New("after dropping privileges setuid(0) succeeded: root can be regained")
		}
	}
	return nil
}
