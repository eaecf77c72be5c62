package cmdline

import (
	"fmt"
	"net"
	"strings"
)

// CheckInterface returns nil when an interface called name exists in this
// network namespace, and otherwise an error that starts with ref (the flag,
// or the environment variable, the name came from) and lists the
// interfaces there are: a typo is the common case, and the list shows it.
func CheckInterface(ref, name string) error {
	if name == "" {
		return fmt.Errorf("%s: empty interface name; %s", ref, InterfaceList())
	}
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	return fmt.Errorf("%s: no interface %s; %s", ref, Quote(name), InterfaceList())
}

// InterfaceList names the interfaces of this network namespace, for an
// error message: "the interfaces here are lo, eth0".
func InterfaceList() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Sprintf("the interfaces cannot be listed (%v)", err)
	}
	if len(ifs) == 0 {
		return "this host has no interfaces"
	}
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	return "the interfaces here are " + strings.Join(names, ", ")
}
