package bondemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// obj is a JSON object with a fixed member order. Webhook payloads are built from it because
// the v1 signature covers a second serialisation of the same payload (Python's json.dumps),
// and both must list members in the same order.
type obj []member

type member struct {
	k string
	v any // string, bool, nil, []string, obj, []obj, int
}

// encodeJSON serialises v compactly, or, with python set, exactly as Python's json.dumps does
// by default: ", " and ": " separators, ensure_ascii (non-ASCII as lowercase \uXXXX, with
// surrogate pairs), and no HTML escaping. Both forms use the same escaping, so they differ only
// in separators.
func encodeJSON(v any, python bool) []byte {
	comma, colon := ",", ":"
	if python {
		comma, colon = ", ", ": "
	}
	var b []byte
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case nil:
			b = append(b, "null"...)
		case bool:
			b = strconv.AppendBool(b, x)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case string:
			b = appendPyString(b, x)
		case []string:
			b = append(b, '[')
			for i, s := range x {
				if i > 0 {
					b = append(b, comma...)
				}
				b = appendPyString(b, s)
			}
			b = append(b, ']')
		case []obj:
			b = append(b, '[')
			for i, o := range x {
				if i > 0 {
					b = append(b, comma...)
				}
				enc(o)
			}
			b = append(b, ']')
		case obj:
			b = append(b, '{')
			for i, m := range x {
				if i > 0 {
					b = append(b, comma...)
				}
				b = appendPyString(b, m.k)
				b = append(b, colon...)
				enc(m.v)
			}
			b = append(b, '}')
		default:
			panic(fmt.Sprintf("bondemu: cannot encode %T", v))
		}
	}
	enc(v)
	return b
}

// appendPyString follows CPython's py_encode_basestring_ascii.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			switch {
			case r > 0xffff:
				r -= 0x10000
				b = fmt.Appendf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			case r < 0x20 || r >= 0x7f: // Python escapes everything outside ' '..'~'
				b = fmt.Appendf(b, `\u%04x`, r)
			default:
				b = append(b, byte(r))
			}
		}
	}
	return append(b, '"')
}

// sign is Bond's documented webhook signature: lowercase hex HMAC-SHA256 keyed with the
// secret string's UTF-8 bytes (prefix and all) over "{t}.{payload}".
func sign(secret, t string, payload []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "."))
	m.Write(payload)
	return hex.EncodeToString(m.Sum(nil))
}

// signatureHeader builds the Bond-Signature value for one delivery attempt.
func signatureHeader(secret string, t int64, body, pythonBody []byte) string {
	ts := strconv.FormatInt(t, 10)
	return "t=" + ts + ",v1=" + sign(secret, ts, pythonBody) + ",v2=" + sign(secret, ts, body)
}
