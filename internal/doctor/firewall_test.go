package doctor

import (
	"slices"
	"strings"
	"testing"
)

const nftDropInput = `table inet filter {
	set allowed {
		type inet_service
		elements = { 22, 80 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
		udp dport { 53, 9000-9100 } accept
		counter packets 0 bytes 0 reject
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
`

func TestAnalyzeNft(t *testing.T) {
	tests := []struct {
		name     string
		ruleset  string
		port     uint16
		accepted bool
		drops    []string
		rules    int
	}{
		{"set with range holds port", nftDropInput, 9050, true, []string{"inet filter input"}, 5},
		{"set literal", nftDropInput, 53, true, []string{"inet filter input"}, 5},
		{"port not accepted", nftDropInput, 5353, false, []string{"inet filter input"}, 5},
		{"empty", "", 9, false, nil, 0},
		{"single port", "table ip t {\n chain c {\n  udp dport 5353 accept\n }\n}\n", 5353, true, nil, 1},
		{"drop rule is not accept", "table ip t {\n chain c {\n  udp dport 5353 drop\n }\n}\n", 5353, false, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := AnalyzeNft(tt.ruleset, tt.port)
			if fw.PortAccepted != tt.accepted || !slices.Equal(fw.DropChains, tt.drops) || fw.Rules != tt.rules {
				t.Errorf("AnalyzeNft = %+v; want accepted %v drops %v rules %d", fw, tt.accepted, tt.drops, tt.rules)
			}
		})
	}
}

func TestAnalyzeIptables(t *testing.T) {
	rules := `-P INPUT DROP
-P FORWARD DROP
-P OUTPUT ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp -m udp --dport 5353 -j ACCEPT
-A INPUT -p udp -m multiport --dports 7000,8000:8100 -j ACCEPT
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
`
	for _, tt := range []struct {
		port     uint16
		accepted bool
	}{{5353, true}, {7000, true}, {8050, true}, {9999, false}} {
		fw := AnalyzeIptables(rules, tt.port)
		if fw.PortAccepted != tt.accepted || len(fw.DropChains) != 1 || fw.Rules != 4 || fw.DropRules != 1 {
			t.Errorf("port %d: %+v; want accepted %v, 1 drop chain, 4 rules, 1 drop rule", tt.port, fw, tt.accepted)
		}
	}
}

func FuzzAnalyzeFirewall(f *testing.F) {
	f.Add(nftDropInput, uint16(53))
	f.Add("-P INPUT DROP\n-A INPUT -p udp --dport 1:2 -j ACCEPT\n", uint16(2))
	f.Fuzz(func(t *testing.T, s string, port uint16) {
		for _, fw := range []Firewall{AnalyzeNft(s, port), AnalyzeIptables(s, port)} {
			if fw.PortAccepted && fw.Rules == 0 {
				t.Fatalf("%s: port accepted without a rule", fw.Tool)
			}
			if fw.DropRules > fw.Rules {
				t.Fatalf("%s: %d drop rules of %d", fw.Tool, fw.DropRules, fw.Rules)
			}
			if n := strings.Count(s, "\n") + 1; fw.Rules > n {
				t.Fatalf("%s: %d rules from %d lines", fw.Tool, fw.Rules, n)
			}
		}
	})
}
