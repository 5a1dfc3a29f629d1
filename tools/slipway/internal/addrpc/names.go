package addrpc

import (
	"fmt"
	"strings"
	"unicode"
)

// ValidateMethod reports whether method can name a new RPC: an UpperCamelCase
// identifier, valid in proto and in Go, and exported from the Go package
// (buf lint's RPC_PASCAL_CASE wants the same).
func ValidateMethod(method string) error {
	if method == "" {
		return fmt.Errorf("the method name is empty: name it in UpperCamelCase, e.g. ArchiveProduct")
	}
	valid := method[0] >= 'A' && method[0] <= 'Z'
	for _, r := range method {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			valid = false
		}
	}
	if valid {
		return nil
	}
	msg := fmt.Sprintf("method name %q is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits", method)
	if fix := upperCamel(method); fix != "" && fix != method {
		msg += fmt.Sprintf(" (did you mean %s?)", fix)
	}
	return fmt.Errorf("%s", msg)
}

// upperCamel is s with its words capitalised and its separators dropped
// ("archive_product" is "ArchiveProduct"), or "" when s cannot become an
// identifier that way.
func upperCamel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r > unicode.MaxASCII:
			return ""
		case unicode.IsLetter(r) || unicode.IsDigit(r) && b.Len() > 0:
			if up {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			up = false
		case unicode.IsDigit(r):
			return ""
		default:
			up = true
		}
	}
	return b.String()
}

// words splits an UpperCamelCase identifier into its words, keeping an
// acronym whole: "GetHTTPStatus" is Get, HTTP, Status.
func words(ident string) []string {
	var out []string
	rs := []rune(ident)
	start := 0
	for i := 1; i < len(rs); i++ {
		prev, cur := rs[i-1], rs[i]
		nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
		if unicode.IsUpper(cur) && (!unicode.IsUpper(prev) || nextLower) {
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	return append(out, string(rs[start:]))
}

// snake is ident in snake_case: the file name of its handler.
func snake(ident string) string {
	return strings.ToLower(strings.Join(words(ident), "_"))
}

// kebab is ident in kebab-case, for a URL path segment.
func kebab(ident string) string {
	return strings.ToLower(strings.Join(words(ident), "-"))
}

// lowerCamel is ident with its first word in lower case, as AIP-136 writes
// a custom method's verb (":adjustStock").
func lowerCamel(ident string) string {
	w := words(ident)
	w[0] = strings.ToLower(w[0])
	return strings.Join(w, "")
}
