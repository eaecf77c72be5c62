package ssdp

import (
	"fmt"
	"strconv"
	"strings"
)

// A Device is a UPnP device as an Advertiser announces it: a root device,
// or one embedded in another.
type Device struct {
	// UUID identifies the device: "uuid:" and a UUID, or the UUID alone.
	UUID string
	// Type is the device type, "urn:schemas-upnp-org:device:Basic:1" or
	// "urn:DOMAIN:device:TYPE:VERSION".
	Type string
	// FriendlyName is the name a person sees, used in the description
	// document; the device type's name when empty.
	FriendlyName string
	// Services are the types of the device's services,
	// "urn:DOMAIN:service:TYPE:VERSION", each once.
	Services []string
	// Devices are the embedded devices.
	Devices []Device
}

// udn is the device's unique device name, "uuid:...".
func (d *Device) udn() string {
	if strings.HasPrefix(strings.ToLower(d.UUID), "uuid:") {
		return "uuid:" + d.UUID[5:]
	}
	return "uuid:" + d.UUID
}

// A target is one thing an Advertiser advertises: a NOTIFY's NT and USN,
// a response's ST and USN.
type target struct {
	nt, usn string
}

// targets lists the advertisements of a root device in UDA 1.1 §1.1.2's
// order: three for the root device, two for each embedded device, one for
// each distinct service type of each device.
func (d *Device) targets() []target {
	udn := d.udn()
	ts := []target{
		{RootDevice, udn + "::" + RootDevice},
		{udn, udn},
		{d.Type, udn + "::" + d.Type},
	}
	var add func(dev *Device, root bool)
	add = func(dev *Device, root bool) {
		u := dev.udn()
		if !root {
			ts = append(ts, target{u, u}, target{dev.Type, u + "::" + dev.Type})
		}
		for _, s := range dev.Services {
			ts = append(ts, target{s, u + "::" + s})
		}
		for i := range dev.Devices {
			add(&dev.Devices[i], false)
		}
	}
	add(d, true)
	return ts
}

// check validates a device tree: UUIDs unique and well formed, types
// URNs of the right kind, no header-breaking characters.
func (d *Device) check() error {
	seen := map[string]bool{}
	var walk func(dev *Device, where string) error
	walk = func(dev *Device, where string) error {
		u := dev.udn()
		if len(u) <= len("uuid:") || strings.ContainsFunc(u, badTargetRune) || strings.Contains(u[5:], ":") {
			return fmt.Errorf("ssdp: %s UUID %q: want uuid:UUID without spaces, ':' or control characters", where, dev.UUID)
		}
		if seen[strings.ToLower(u)] {
			return fmt.Errorf("ssdp: %s UUID %q is used twice", where, dev.UUID)
		}
		seen[strings.ToLower(u)] = true
		if _, _, ok := parseURN(dev.Type, "device"); !ok {
			return fmt.Errorf("ssdp: %s type %q: want urn:DOMAIN:device:TYPE:VERSION", where, dev.Type)
		}
		if strings.ContainsFunc(dev.FriendlyName, isCtl) {
			return fmt.Errorf("ssdp: %s friendly name %q has a control character", where, dev.FriendlyName)
		}
		svc := map[string]bool{}
		for _, s := range dev.Services {
			if _, _, ok := parseURN(s, "service"); !ok {
				return fmt.Errorf("ssdp: %s service %q: want urn:DOMAIN:service:TYPE:VERSION", where, s)
			}
			if svc[s] {
				return fmt.Errorf("ssdp: %s lists service %q twice", where, s)
			}
			svc[s] = true
		}
		for i := range dev.Devices {
			if err := walk(&dev.Devices[i], fmt.Sprintf("%s's embedded device %d", where, i+1)); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(d, "root device")
}

func badTargetRune(r rune) bool { return r <= ' ' || r == 0x7f }

// parseURN splits "urn:DOMAIN:KIND:TYPE:VERSION" into what precedes the
// version and the version, if kind matches.
func parseURN(s, kind string) (prefix string, version int, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 5 || !strings.EqualFold(parts[0], "urn") || parts[2] != kind {
		return "", 0, false
	}
	for _, p := range parts[1:4] {
		if p == "" || strings.ContainsFunc(p, badTargetRune) {
			return "", 0, false
		}
	}
	v, err := strconv.Atoi(parts[4])
	if err != nil || v < 1 || parts[4][0] == '+' {
		return "", 0, false
	}
	return strings.Join(parts[:4], ":"), v, true
}

// parseAnyURN is parseURN for either kind.
func parseAnyURN(s string) (string, int, bool) {
	if p, v, ok := parseURN(s, "device"); ok {
		return p, v, true
	}
	return parseURN(s, "service")
}

// matches reports whether a search for st finds an advertisement of nt,
// and with which ST the answer goes: a search for a type finds the same
// type in its version or a later one, answered in the version asked for
// (UDA 1.1 §1.3.2: a device answers in the version the search names).
func matches(st, nt string) (answerST string, ok bool) {
	switch {
	case st == All:
		return nt, true
	case st == nt:
		return st, true
	case strings.HasPrefix(st, "uuid:") && strings.EqualFold(st, nt):
		return nt, true
	}
	sp, sv, ok1 := parseAnyURN(st)
	np, nv, ok2 := parseAnyURN(nt)
	if ok1 && ok2 && sp == np && nv >= sv {
		return st, true
	}
	return "", false
}

// usnFor is the USN of an answer with ST st for the advertisement t.
func usnFor(t target, st string) string {
	if st == t.nt {
		return t.usn
	}
	uuid, _, _ := strings.Cut(t.usn, "::")
	return uuid + "::" + st
}
