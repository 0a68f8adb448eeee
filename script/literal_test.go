package script

import (
	"testing"
	"unicode/utf8"
)

func TestDecodeEscapes(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`plain`, "plain", true},
		{`s\x33`, "s3", true},
		{`\u004cist`, "List", true},
		{`\U0001F600`, "\U0001F600", true},
		{`\163\163m`, "ssm", true},
		{`\0`, "\x00", true},
		{`a\` + "\n" + `b`, "ab", true},
		{`a\` + "\r\n" + `b`, "ab", true},
		{`\\ \' \" \a \b \f \n \r \t \v`, "\\ ' \" \a \b \f \n \r \t \v", true},
		{`\q\d`, `\q\d`, true}, // unknown escapes stay, as in CPython
		{`\N{DIGIT THREE}`, "", false},
		{`\x3`, "", false},
		{`\x+3`, "", false},
		{`\ud800`, "", false},
		{`\U00110000`, "", false},
		// Above MaxInt32: must not wrap to a negative rune (written as U+FFFD).
		{`\UFFFFFFFF`, "", false},
		{`\U80000041`, "", false},
		{`trailing\`, "", false},
	} {
		got, ok := decodeEscapes(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("decodeEscapes(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 10, true}, {"0x1F", 31, true}, {"0o17", 15, true}, {"0b101", 5, true},
		{"1_000", 1000, true}, {"000", 0, true}, {"017", 0, false}, {"1__0", 0, false},
		{"_1", 0, false}, {"1_", 0, false}, {"10L", 0, false}, {"99999999999999999999", 0, false},
	} {
		got, ok := parseInt(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"2.5", 2.5, true}, {"1e3", 1000, true}, {".5", 0.5, true}, {"1_0.5", 10.5, true},
		{"1.5j", 0, false}, {"1e999", 0, false}, {"0x1p3", 0, false},
	} {
		got, ok := parseFloat(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseFloat(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzDecodeEscapes: never panics, and what it accepts is valid UTF-8 when
// its input is (a Python str has no invalid sequences; surrogates are
// refused).
func FuzzDecodeEscapes(f *testing.F) {
	for _, s := range []string{`s\x33`, `\u004c`, `\163`, `a\` + "\n", `\N{X}`, `\U0001F600`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodeEscapes(s)
		if ok && utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("decodeEscapes(%q) = %q, not UTF-8", s, got)
		}
	})
}
