package gss

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/spnego"
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
	if part.SequenceNumber != 42 || part.Subkey.KeyType != 17 || !bytes.Equal(part.Subkey.KeyValue, sub.KeyValue) {
		t.Fatalf("decoded %+v", part)
	}
	// Without a subkey the field is omitted, not sent empty.
	rep2, err := MarshalAPRep(sk, ctime, 1, nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := VerifyAPRep(rep2, sk, ctime, 1); err != nil || len(p2.Subkey.KeyValue) != 0 {
		t.Fatalf("no subkey: %+v %v", p2, err)
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

func TestKerberosFraming(t *testing.T) {
	tok, err := WrapKRB5(TokAPRep, []byte{0x6f, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 2743 3.1: 0x60, length, 0x06 0x09 <KRB5 OID>, then the token id.
	want, _ := hex.DecodeString("600f06092a864886f71201020202006f00")
	if !bytes.Equal(tok, want) {
		t.Fatalf("framing %x, want %x", tok, want)
	}
	id, msg, err := UnwrapKRB5(tok)
	if err != nil || id != TokAPRep || len(msg) != 2 {
		t.Fatalf("unwrap: %v %v %v", id, msg, err)
	}
	// Microsoft's Kerberos OID is accepted as Kerberos too.
	ms, _ := WrapInitial(OIDMSKRB5, append(TokAPReq[:], 0x6e))
	if id, _, err := UnwrapKRB5(ms); err != nil || id != TokAPReq {
		t.Fatalf("MS OID: %v %v", id, err)
	}
	spn, _ := WrapInitial(OIDSPNEGO, []byte{0xa0, 0x00})
	for name, bad := range map[string][]byte{"spnego": spn, "short": {0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}, "garbage": []byte("hello"), "trailing": append(append([]byte(nil), tok...), 0)} {
		if _, _, err := UnwrapKRB5(bad); err == nil {
			t.Errorf("%s: unwrapped", name)
		}
	}
	if !LooksInitial(tok) || LooksNegTokenResp(tok) {
		t.Fatal("Looks*")
	}
}

func TestSPNEGO(t *testing.T) {
	inner, _ := WrapKRB5(TokAPReq, []byte{0x6e, 0x00})
	mechs := []asn1.ObjectIdentifier{OIDMSKRB5, OIDKRB5}
	init, err := MarshalSPNEGOInit(mechs, inner)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseSPNEGOInit(init)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.MechTypes) != 2 || !n.MechTypes[0].Equal(OIDMSKRB5) || !bytes.Equal(n.MechTokenBytes, inner) {
		t.Fatalf("parsed %+v", n)
	}
	// gokrb5 reads what we write.
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(init); err != nil || !st.Init || !bytes.Equal(st.NegTokenInit.MechTokenBytes, inner) {
		t.Fatalf("gokrb5: %+v %v", st, err)
	}
	der, _ := MechListMICPayload(mechs)
	if want, _ := hex.DecodeString("301606092a864882f71201020206092a864886f712010202"); !bytes.Equal(der, want) {
		t.Fatalf("mech list DER %x", der)
	}
	if _, err := ParseSPNEGOInit(inner); err == nil {
		t.Fatal("a Kerberos token parsed as SPNEGO")
	}

	resp, err := MarshalNegTokenResp(spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptIncomplete), SupportedMech: OIDKRB5, ResponseToken: inner, MechListMIC: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseNegTokenResp(resp)
	if err != nil || spnego.NegState(r.NegState) != spnego.NegStateAcceptIncomplete || !r.SupportedMech.Equal(OIDKRB5) || !bytes.Equal(r.MechListMIC, []byte{1, 2}) || !bytes.Equal(r.ResponseToken, inner) {
		t.Fatalf("resp %+v %v", r, err)
	}
	// MIT's initiator's final token (python3-gssapi, krb5 1.20): negState
	// accept-completed and a mechListMIC.
	mit, _ := hex.DecodeString("a1273025a0030a0100a31e041c040404ffffffffff000000002ec7cfb00855bbc7c7a2cf82d7a04aff")
	if r, err := ParseNegTokenResp(mit); err != nil || spnego.NegState(r.NegState) != spnego.NegStateAcceptCompleted || len(r.MechListMIC) != 28 {
		t.Fatalf("MIT token: %+v %v", r, err)
	}
	// Our initiator's final token has the same layout as MIT's.
	ours, err := MarshalNegTokenResp(spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted), MechListMIC: mit[len(mit)-28:]})
	if err != nil || !bytes.Equal(ours, mit) {
		t.Fatalf("our final token %x, MIT's %x (%v)", ours, mit, err)
	}
	// negState is optional after the first reply: absent decodes as NegStateAbsent.
	absent, _ := hex.DecodeString("a1073005a303040103")
	if r, err := ParseNegTokenResp(absent); err != nil || r.NegState != NegStateAbsent || !bytes.Equal(r.MechListMIC, []byte{3}) {
		t.Fatalf("absent negState: %+v %v", r, err)
	}
	for name, bad := range map[string][]byte{"init": init, "trailing": append(append([]byte(nil), resp...), 0), "garbage": []byte("hello")} {
		if _, err := ParseNegTokenResp(bad); err == nil {
			t.Errorf("%s parsed as NegTokenResp", name)
		}
	}
}

func TestMICRoundTrip(t *testing.T) {
	key, err := NewRandomKey(18)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("mech list")
	mic, err := NewMIC(key, payload, 7, true, gssapi.MICTokenFlagAcceptorSubkey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewRandomKey(18)
	cases := []struct {
		name    string
		key     bool
		payload []byte
		seq     uint64
		acc     bool
		flags   byte
		ok      bool
	}{
		{"good", true, payload, 7, true, gssapi.MICTokenFlagAcceptorSubkey, true},
		{"wrong-key", false, payload, 7, true, gssapi.MICTokenFlagAcceptorSubkey, false},
		{"wrong-seq", true, payload, 8, true, gssapi.MICTokenFlagAcceptorSubkey, false},
		{"wrong-direction", true, payload, 7, false, gssapi.MICTokenFlagAcceptorSubkey, false},
		{"wrong-flags", true, payload, 7, true, 0, false},
		{"wrong-payload", true, []byte("mech lisT"), 7, true, gssapi.MICTokenFlagAcceptorSubkey, false},
	}
	for _, c := range cases {
		k := key
		if !c.key {
			k = other
		}
		err := VerifyMIC(mic, k, c.payload, c.seq, c.acc, c.flags)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	rc4 := key
	rc4.KeyType = 23
	if _, err := NewMIC(rc4, payload, 1, false, 0); err == nil {
		t.Error("RC4 key: MIC made in the RFC 4121 format")
	}
}

func TestChecksumFlags(t *testing.T) {
	c := NewChecksum(gssapi.ContextFlagMutual | gssapi.ContextFlagInteg)
	f, err := ChecksumFlags(c)
	if err != nil || f != gssapi.ContextFlagMutual|gssapi.ContextFlagInteg || c.CksumType != 0x8003 {
		t.Fatalf("flags %#x %v", f, err)
	}
	c.Checksum = c.Checksum[:10]
	if _, err := ChecksumFlags(c); err == nil {
		t.Fatal("short checksum accepted")
	}
}
