package gss

import (
	"encoding/asn1"
	"testing"
	"time"
)

func TestAPRepRoundTrip(t *testing.T) {
	sk, err := NewRandomKey(18)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewRandomKey(18)
	sub, _ := NewRandomKey(17)
	ctime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep, err := MarshalAPRep(sk, ctime, 123456, &sub, 42)
	if err != nil {
		t.Fatal(err)
	}
	part, err := VerifyAPRep(rep, sk, ctime, 123456)
	if err != nil {
		t.Fatal(err)
	}
	if part.SequenceNumber != 42 || part.Subkey.KeyType != 17 || string(part.Subkey.KeyValue) != string(sub.KeyValue) {
		t.Fatalf("decoded %+v", part)
	}
	cases := map[string]func() error{
		"wrong-key":   func() error { _, err := VerifyAPRep(rep, other, ctime, 123456); return err },
		"wrong-ctime": func() error { _, err := VerifyAPRep(rep, sk, ctime.Add(time.Second), 123456); return err },
		"wrong-cusec": func() error { _, err := VerifyAPRep(rep, sk, ctime, 123457); return err },
		"truncated":   func() error { _, err := VerifyAPRep(rep[:len(rep)-4], sk, ctime, 123456); return err },
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestTokenFraming(t *testing.T) {
	tok, err := WrapKRB5(TokAPRep, []byte{0x6f, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	id, msg, err := UnwrapKRB5(tok)
	if err != nil || id != TokAPRep || len(msg) != 2 {
		t.Fatalf("unwrap: %v %v %v", id, msg, err)
	}
	mechs, _ := MarshalMechTypes([]asn1.ObjectIdentifier{OIDMSKRB5, OIDKRB5})
	init, err := MarshalSPNEGOInit(mechs, tok)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseSPNEGOInit(init)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.MechTypes) != 2 || !n.MechTypes[0].Equal(OIDMSKRB5) || string(n.MechTypesDER) != string(mechs) || string(n.MechToken) != string(tok) {
		t.Fatalf("parsed %+v", n)
	}
	if _, err := ParseSPNEGOInit(tok); err == nil {
		t.Fatal("a Kerberos token parsed as SPNEGO")
	}
	resp, err := MarshalNegTokenResp(NegTokenResp{NegState: AcceptIncomplete, SupportedMech: OIDKRB5, ResponseToken: tok, MechListMIC: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseNegTokenResp(resp)
	if err != nil || r.NegState != AcceptIncomplete || !r.SupportedMech.Equal(OIDKRB5) || string(r.MechListMIC) != "\x01\x02" {
		t.Fatalf("resp %+v %v", r, err)
	}
	// negState absent decodes as -1.
	resp, _ = MarshalNegTokenResp(NegTokenResp{NegState: -1, MechListMIC: []byte{3}})
	if r, err := ParseNegTokenResp(resp); err != nil || r.NegState != -1 {
		t.Fatalf("absent negState: %+v %v", r, err)
	}
}
