package passwdqc

import "strconv"

// sequences are passwdqc 2.0.2's common keyboard and alphabet sequences
// (seq[] in passwdqc_check.c). They are listed forward only: the password is
// tested both forward and reversed. They are compared unified.
var sequences = []string{
	"0123456789",
	"`1234567890-=",
	"~!@#$%^&*()_+",
	"abcdefghijklmnopqrstuvwxyz",
	"a1b2c3d4e5f6g7h8i9j0",
	"1a2b3c4d5e6f7g8h9i0j",
	"abc123",
	"qwertyuiop[]\\asdfghjkl;'zxcvbnm,./",
	"qwertyuiop{}|asdfghjkl:\"zxcvbnm<>?",
	"qwertyuiopasdfghjklzxcvbnm",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]\\",
	"!qaz@wsx#edc$rfv%tgb^yhn&ujm*ik<(ol>)p:?_{\"+}|",
	"qazwsxedcrfvtgbyhnujmikolp",
	"1q2w3e4r5t6y7u8i9o0p-[=]",
	"q1w2e3r4t5y6u7i8o9p0[-]=\\",
	"1qaz1qaz",
	"1qaz!qaz", // passwdqc: '1' and '!' cannot both be unified
	"1qazzaq1",
	"zaq!1qaz",
	"zaq!2wsx",
}

// unifiedSequences holds sequences, unified.
var unifiedSequences = func() [][]byte {
	u := make([][]byte, len(sequences))
	for i, s := range sequences {
		u[i] = unify([]byte(s))
	}
	return u
}()

// Years 1900..2039 are treated as sequences when 1 <= Match <= 4
// (is_word_based in passwdqc_check.c).
const (
	firstYear = 1900
	lastYear  = 2039
)

var years = func() [][]byte {
	y := make([][]byte, 0, lastYear-firstYear+1)
	for n := firstYear; n <= lastYear; n++ {
		y = append(y, []byte(strconv.Itoa(n)))
	}
	return y
}()
