package server

import (
	"regexp"
	"testing"
)

// The gateway's own formats: the matchers must agree with these.
var formats = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"verification id", regexp.MustCompile(`^vrf_[a-z2-7]{32}$`), isVerificationID},
	{"subject id", regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`), isSubjectID},
}

var matchSeeds = []string{
	"", "0", "-", "1-", "-1", "1--2", "555-111-2222", "5551112222", "123-45-6789", "123456789",
	"12-345-6789", "1234567890", "123-45-678a", "1234", "12", "123",
	"72585109-8222-4221-b15b-48e87ffed790", "72585109-8222-4221-B15B-48E87FFED790",
	"72585109-8222-4221-b15b-48e87ffed79g", "72585109x8222-4221-b15b-48e87ffed790",
	"vrf_sux76nqm5jm4rf2dxeakxatdoqes5qaz", "vrf_sux76nqm5jm4rf2dxeakxatdoqes5qa1",
	"vrf_SUX76NQM5JM4RF2DXEAKXATDOQES5QAZ", "vrf_sux76nqm5jm4rf2dxeakxatdoqes5qa",
	"cust.ok_1:2-3", "with space", "ünï", "a/b", "[x]", "{}", "@",
	string(make([]byte, 128)), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
}

func TestMatchersAgreeWithFormats(t *testing.T) {
	for _, f := range formats {
		for _, s := range matchSeeds {
			if got, want := f.match(s), f.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the documented format says %v", f.name, s, got, want)
			}
		}
	}
}

func FuzzMatchers(f *testing.F) {
	for _, s := range matchSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fm := range formats {
			if got, want := fm.match(s), fm.re.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, the documented format says %v", fm.name, s, got, want)
			}
		}
	})
}
