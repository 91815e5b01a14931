package server

// Hand-written matchers for the gateway's own request formats (the providers' formats, such as
// UUIDs and phone numbers, are in package providers). They replaced regular expressions;
// match_test.go keeps the expressions as the specification and checks that the two agree.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isVerificationID: vrf_ and 32 characters of lowercase base32.
func isVerificationID(s string) bool {
	if len(s) != 36 || s[:4] != "vrf_" {
		return false
	}
	for i := 4; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z') && !(c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// isSubjectID: 1 to 128 of letters, digits and . _ : -.
func isSubjectID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !(c|0x20 >= 'a' && c|0x20 <= 'z') && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}
