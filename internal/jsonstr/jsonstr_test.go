package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// testStrings exercise every branch of JSON string escaping.
var testStrings = []string{
	"", "plain", "Привет, как дела?", "emoji 🎉", `quote " back \ slash`, "<b>&amp;</b>",
	"\x00\x1f\n\t\r\b\f", "☃\u2028\u2029", "\xff\xc3(",
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	cases := append([]string(nil), testStrings...)
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, utf8.MaxRune} {
		cases = append(cases, string(r), "x"+string(r)+"y")
	}
	cases = append(cases, "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe2\x80") // surrogate, too big, overlong, truncated
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, s); !bytes.Equal(got, want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzAppend checks that every string comes out as encoding/json writes it.
func FuzzAppend(f *testing.F) {
	for _, s := range testStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("Append(%q) = %s, want %s", s, got, want)
		}
	})
}
