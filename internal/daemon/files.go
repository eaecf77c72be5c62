package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// The daemon starts as root and creates files (the pid file, the log file,
// unix socket files) in directories that another account may be able to
// write: /tmp, or a directory owned by the --user account so that the
// unprivileged daemon can remove and rotate its files. Whoever can write a
// directory can put a symbolic link or a hard link where the daemon expects
// its file, and root must then not write through it.
//
// What is protected, and how:
//   - The last path element is opened with O_NOFOLLOW through a descriptor
//     of its directory (openat), after an lstat (fstatat without following)
//     refused anything but a regular file; the opened file must be the one
//     that lstat saw, a regular file with one link, owned by one of the
//     accounts the caller names. So a symbolic link, a fifo, a device, a
//     directory, a hard link to someone else's file or a file swapped in
//     between the checks is refused, and nothing is written to it.
//   - The directory itself must not be writable by group or others unless
//     it is sticky (as /tmp is): in such a directory anyone could delete or
//     rename the daemon's file and put theirs in its place while it runs.
//   - The components above the last directory are resolved normally,
//     symbolic links included (/var/run -> /run is common). They are
//     trusted as the administrator wrote them: an account that can rename
//     an ancestor directory controls the path anyway, and the checks on the
//     file itself still keep root from writing to a file it did not create
//     or own.

// splitPath cleans path and splits it into its directory and last element.
func splitPath(path string) (dir, base string, err error) {
	clean := filepath.Clean(path)
	dir, base = filepath.Dir(clean), filepath.Base(clean)
	if base == "." || base == ".." || base == "/" {
		return "", "", fmt.Errorf("%s does not name a file", path)
	}
	return dir, base, nil
}

// openDir opens dir for the *at calls and refuses one that others can write
// without the sticky bit.
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open directory", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: dir, Err: err}
	}
	if st.Mode&(unix.S_IWGRP|unix.S_IWOTH) != 0 && st.Mode&unix.S_ISVTX == 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("directory %s is writable by %s and not sticky (mode %#o): anyone who can write it could replace the daemon's file; use a directory that only its owner can write, such as /run/listen owned by the --user account",
			dir, writers(st.Mode), st.Mode&0o7777)
	}
	return fd, nil
}

func writers(mode uint32) string {
	switch {
	case mode&unix.S_IWGRP != 0 && mode&unix.S_IWOTH != 0:
		return "group and others"
	case mode&unix.S_IWGRP != 0:
		return "group"
	}
	return "others"
}

// fileKind names what a non-regular file is, for error messages.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a fifo"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	case unix.S_IFREG:
		return "a regular file"
	}
	return "not a regular file"
}

// openAt opens (creating it with perm if it does not exist) the regular
// file base in the directory dirfd, for flags (O_RDWR, O_WRONLY|O_APPEND,
// ...), without following a symbolic link, and checks it as the comment at
// the top of this file says. path is for messages. owners are the uids the
// file may belong to. Errors never quote the file's content.
func openAt(dirfd int, path, base string, flags int, perm uint32, owners []int) (*os.File, error) {
	// Three tries: a file that appears or disappears between the lstat and
	// the open is a race with another process, not a reason to give up at
	// once; one that keeps changing is.
	for range 3 {
		var before unix.Stat_t
		create := false
		if err := unix.Fstatat(dirfd, base, &before, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
			create = true
		} else if err != nil {
			return nil, &os.PathError{Op: "lstat", Path: path, Err: err}
		} else if before.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, fmt.Errorf("%s is %s, not a regular file: refusing to use it (remove it, or give another path)", path, fileKind(before.Mode))
		}
		// O_NONBLOCK: a fifo swapped in after the lstat must not block
		// the open; it is refused by the fstat below.
		fl := flags | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
		if create {
			fl |= unix.O_CREAT | unix.O_EXCL
		}
		fd, err := unix.Openat(dirfd, base, fl, perm)
		switch {
		case create && errors.Is(err, unix.EEXIST), !create && errors.Is(err, unix.ENOENT):
			continue
		case errors.Is(err, unix.ELOOP):
			return nil, fmt.Errorf("%s is a symbolic link: refusing to follow it (remove it, or give another path)", path)
		case err != nil:
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
		}
		if err := checkOpened(path, &st, &before, create, owners); err != nil {
			unix.Close(fd)
			return nil, err
		}
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	return nil, fmt.Errorf("%s keeps changing while it is being opened: is another process replacing it?", path)
}

func checkOpened(path string, st, before *unix.Stat_t, created bool, owners []int) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s is %s, not a regular file: refusing to use it", path, fileKind(st.Mode))
	case !created && (st.Dev != before.Dev || st.Ino != before.Ino):
		return fmt.Errorf("%s was replaced while it was being opened: refusing to use it", path)
	case st.Nlink != 1:
		return fmt.Errorf("%s has %d hard links: refusing to write to a file that is also elsewhere", path, st.Nlink)
	case !slices.Contains(owners, int(st.Uid)):
		return fmt.Errorf("%s belongs to uid %d, not to the daemon's account: refusing to write to it (remove it, or give another path)", path, st.Uid)
	}
	return nil
}

// sameFile reports whether the name base in dirfd is still the file f.
func sameFile(dirfd int, base string, f *os.File) (bool, error) {
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return false, err
	}
	if err := unix.Fstatat(dirfd, base, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return held.Dev == now.Dev && held.Ino == now.Ino, nil
}
