package hostmatch_test

import (
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/internal/hostmatch"
)

func ExampleMatch() {
	hosts := []hostmatch.Host{
		{Name: "esx-01.example.com", Path: "/DC0/host/Cluster1/esx-01.example.com", Addresses: []string{"192.0.2.1"}},
		{Name: "esx-02.example.com", Path: "/DC0/host/Cluster1/esx-02.example.com", Addresses: []string{"192.0.2.2"}},
		{Name: "esx-03.example.com", Path: "/DC0/host/esx-03.example.com/esx-03.example.com", Addresses: []string{"192.0.2.3"}},
	}
	for _, patterns := range [][]string{
		{"/DC0/host/Cluster1/*"},
		{"esx-03", "192.0.2.1"},
		{"esx-0[23]*", "/DC0/host/esx-03.example.com"},
		{"esx-9*"},
	} {
		got, err := hostmatch.Match(hosts, patterns)
		if err != nil {
			fmt.Println(err)
			continue
		}
		var names []string
		for _, h := range got {
			names = append(names, h.Name)
		}
		fmt.Println(strings.Join(names, " "))
	}
	// Output:
	// esx-01.example.com esx-02.example.com
	// esx-01.example.com esx-03.example.com
	// esx-02.example.com esx-03.example.com
	// host pattern "esx-9*" matches no host (3 hosts; matched against names, short names and management addresses, in any case)
}
