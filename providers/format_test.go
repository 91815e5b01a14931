package providers_test

import (
	"regexp"
	"testing"

	"github.com/kycgw/kycgw/providers"
)

// The formats as the providers' documents state them: the matchers must agree with these.
var formats = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"uuid", regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`), providers.IsUUID},
	{"ssn", regexp.MustCompile(`^(?:[0-9]{9}|[0-9]{3}-[0-9]{2}-[0-9]{4})$`), providers.IsSSN},
	{"phone", regexp.MustCompile(`^[0-9]+(?:-[0-9]+)*$`), providers.IsPhone},
	{"country code", regexp.MustCompile(`^[0-9]{1,3}$`), providers.IsCountryCode},
}

var formatSeeds = []string{
	"", "0", "-", "1-", "-1", "1--2", "555-111-2222", "5551112222", "123-45-6789", "123456789",
	"12-345-6789", "1234567890", "123-45-678a", "1234", "12", "123", "١٢٣", "12\n",
	"72585109-8222-4221-b15b-48e87ffed790", "72585109-8222-4221-B15B-48E87FFED790",
	"72585109-8222-4221-b15b-48e87ffed79g", "72585109x8222-4221-b15b-48e87ffed790",
	"72585109-8222-4221-b15b-48e87ffed7901", "{72585109-8222-4221-b15b-48e87ffed790}",
}

func TestFormatsAgreeWithTheDocuments(t *testing.T) {
	for _, f := range formats {
		for _, s := range formatSeeds {
			if got, want := f.match(s), f.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the documented format says %v", f.name, s, got, want)
			}
		}
	}
}

func FuzzFormats(f *testing.F) {
	for _, s := range formatSeeds {
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
