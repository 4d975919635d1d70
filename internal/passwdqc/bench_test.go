package passwdqc

import "testing"

// benchPasswords is a realistic mix: accepted and rejected, short and
// long, words, sequences, personal information, passphrases.
var benchPasswords = []string{
	"xQaTEhb!", "xQaT3#A", "Xqat3hi", "P@ssw0rd!", "Password1!", "VMware1!", "Secret#42",
	"Kx9!jklm", "alice123!", "Xk8#aliceTr2%v", "correct horse battery staple",
	"Tr0ub4dor&3", "q7#Vm2!pLx9$Rt4", "Summer2024!", "vpxuser-9f8e7d6c5b4a3928170615243f",
	"admin", "Welcome@123", "the cat sat on the mat", "Zyx€rv9", "N0t-a-Dictionary-W0rd!",
}

func benchmarkPolicy(b *testing.B, opts string) {
	p, err := ParseESXi(opts)
	if err != nil {
		b.Fatal(err)
	}
	acct := &Account{User: "alice", Gecos: "Alice Liddell", Home: "/"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = p.Check(benchPasswords[i%len(benchPasswords)], acct)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "passwords/s")
}

// BenchmarkCheck measures passwords checked per second under the ESXi
// default and a hardened (CIS) policy.
func BenchmarkCheck(b *testing.B) {
	b.Run("ESXiDefault", func(b *testing.B) { benchmarkPolicy(b, ESXiDefault) })
	b.Run("CIS", func(b *testing.B) {
		benchmarkPolicy(b, "retry=3 min=disabled,15,15,15,15 max=64 similar=deny passphrase=3")
	})
}
