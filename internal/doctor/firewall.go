package doctor

import (
	"strconv"
	"strings"
)

// Firewall is what a read-only look at the packet filter found.
type Firewall struct {
	Tool  string // "nft" or "iptables"
	Rules int    // rules seen
	// DropChains are input chains whose default policy drops (nft
	// "hook input ... policy drop", iptables "-P INPUT DROP").
	DropChains []string
	// DropRules counts rules with a drop or reject verdict.
	DropRules int
	// PortAccepted is set when a rule accepts UDP to the port asked about
	// (a literal port, a range or an anonymous set holding it).
	PortAccepted bool
}

// AnalyzeNft reads the output of `nft list ruleset`.
func AnalyzeNft(ruleset string, port uint16) Firewall {
	fw := Firewall{Tool: "nft"}
	var table, chain string
	for _, raw := range strings.Split(ruleset, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line == "}" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "table "):
			table = strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "table ")), "{")
			table = strings.TrimSpace(table)
			continue
		case strings.HasPrefix(line, "chain "):
			chain = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "chain "), "{"))
			continue
		case strings.HasPrefix(line, "type ") && strings.Contains(line, "hook input"):
			if strings.Contains(line, "policy drop") {
				fw.DropChains = append(fw.DropChains, table+" "+chain)
			}
			continue
		case strings.HasPrefix(line, "type "), strings.HasPrefix(line, "policy "),
			strings.HasPrefix(line, "set "), strings.HasPrefix(line, "map "),
			strings.HasPrefix(line, "elements "), strings.HasPrefix(line, "flags "),
			strings.HasPrefix(line, "comment "):
			continue
		}
		fw.Rules++
		fields := strings.Fields(line)
		if hasVerdict(fields, "drop") || hasVerdict(fields, "reject") {
			fw.DropRules++
		}
		if hasVerdict(fields, "accept") && nftMatchesUDPPort(fields, port) {
			fw.PortAccepted = true
		}
	}
	return fw
}

func hasVerdict(fields []string, v string) bool {
	for _, f := range fields {
		if f == v {
			return true
		}
	}
	return false
}

// nftMatchesUDPPort looks for "udp dport P", "udp dport A-B" or
// "udp dport { P, A-B }".
func nftMatchesUDPPort(fields []string, port uint16) bool {
	for i := 0; i+2 < len(fields); i++ {
		if fields[i] != "udp" || fields[i+1] != "dport" {
			continue
		}
		rest := fields[i+2:]
		if rest[0] != "{" {
			return portSpecMatches(rest[0], port)
		}
		for _, f := range rest[1:] {
			if f == "}" {
				break
			}
			if portSpecMatches(strings.TrimSuffix(f, ","), port) {
				return true
			}
		}
	}
	return false
}

// portSpecMatches reads "53", "9000-9999" or "9000:9999".
func portSpecMatches(spec string, port uint16) bool {
	lo, hi, isRange := strings.Cut(spec, "-")
	if !isRange {
		lo, hi, isRange = strings.Cut(spec, ":")
	}
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return false
	}
	if !isRange {
		return uint16(a) == port
	}
	b, err := strconv.ParseUint(hi, 10, 16)
	if err != nil {
		return false
	}
	return uint64(port) >= a && uint64(port) <= b
}

// AnalyzeIptables reads the output of `iptables -S` (or ip6tables -S).
func AnalyzeIptables(rules string, port uint16) Firewall {
	fw := Firewall{Tool: "iptables"}
	for _, raw := range strings.Split(rules, "\n") {
		f := strings.Fields(raw)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "-P":
			if f[1] == "INPUT" && len(f) > 2 && f[2] == "DROP" {
				fw.DropChains = append(fw.DropChains, "filter INPUT")
			}
		case "-A":
			fw.Rules++
			target := flagValue(f, "-j")
			if target == "DROP" || target == "REJECT" {
				fw.DropRules++
			}
			if target == "ACCEPT" && flagValue(f, "-p") == "udp" {
				if d := flagValue(f, "--dport"); d != "" && portSpecMatches(d, port) {
					fw.PortAccepted = true
				}
				if d := flagValue(f, "--dports"); d != "" {
					for _, spec := range strings.Split(d, ",") {
						if portSpecMatches(spec, port) {
							fw.PortAccepted = true
						}
					}
				}
			}
		}
	}
	return fw
}

func flagValue(f []string, name string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == name {
			return f[i+1]
		}
	}
	return ""
}
