package server

// Hand-written matchers for the request formats. They replaced regular expressions that were
// about a tenth of a Start's CPU; match_test.go keeps the expressions as the specification and
// checks that the two agree.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// shaped reports whether s has pattern's shape: 'd' stands for a digit, 'h' for a hex digit,
// any other byte for itself.
func shaped(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch pattern[i] {
		case 'd':
			if !isDigit(s[i]) {
				return false
			}
		case 'h':
			if !isHex(s[i]) {
				return false
			}
		default:
			if s[i] != pattern[i] {
				return false
			}
		}
	}
	return true
}

func isUUID(s string) bool { return shaped(s, "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh") }

func isSSN(s string) bool { return shaped(s, "ddddddddd") || shaped(s, "ddd-dd-dddd") }

// isPhone: groups of digits joined by single dashes.
func isPhone(s string) bool {
	if s == "" || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '-' {
			if s[i-1] == '-' {
				return false
			}
		} else if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isCountryCode: one to three digits.
func isCountryCode(s string) bool { return len(s) >= 1 && len(s) <= 3 && allDigits(s) }

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

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
