package register

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A small reader of JSON with comments (VS Code's launch.json,
// devcontainer.json) that finds the offsets of values, so an edit can insert
// text between them and leave every comment and space where it was.

// skipSpace returns the offset of the first byte at or after i that is not
// white space or inside a comment.
func skipSpace(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
		case strings.HasPrefix(s[i:], "//"):
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case strings.HasPrefix(s[i:], "/*"):
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(s)
			}
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the offset just past the value that starts at i.
func valueEnd(s string, i int) (int, error) {
	if i >= len(s) {
		return 0, errors.New("unexpected end")
	}
	switch c := s[i]; c {
	case '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errors.New("unterminated string")
	case '{', '[':
		j := skipSpace(s, i+1)
		for j < len(s) && s[j] != '}' && s[j] != ']' {
			if c == '{' {
				end, err := valueEnd(s, j) // the key
				if err != nil {
					return 0, err
				}
				j = skipSpace(s, end)
				if j >= len(s) || s[j] != ':' {
					return 0, fmt.Errorf("offset %d: want ':'", j)
				}
				j = skipSpace(s, j+1)
			}
			end, err := valueEnd(s, j)
			if err != nil {
				return 0, err
			}
			j = skipSpace(s, end)
			if j < len(s) && s[j] == ',' {
				j = skipSpace(s, j+1)
			}
		}
		if j >= len(s) {
			return 0, errors.New("unterminated " + string(c))
		}
		return j + 1, nil
	default:
		j := i
		for j < len(s) && !strings.ContainsRune(" \t\r\n,]}/", rune(s[j])) {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("offset %d: want a value", i)
		}
		return j, nil
	}
}

// span is a value's text: s[start:end].
type span struct{ start, end int }

// member is one key and value of an object.
type member struct {
	key      string
	keyStart int
	value    span
}

// members returns the members of the object that starts at open.
func members(s string, open int) ([]member, error) {
	if open >= len(s) || s[open] != '{' {
		return nil, fmt.Errorf("offset %d: want an object", open)
	}
	var out []member
	j := skipSpace(s, open+1)
	for j < len(s) && s[j] != '}' {
		kend, err := valueEnd(s, j)
		if err != nil {
			return nil, err
		}
		key, err := strconv.Unquote(s[j:kend])
		if err != nil {
			return nil, fmt.Errorf("offset %d: key: %w", j, err)
		}
		m := member{key: key, keyStart: j}
		j = skipSpace(s, kend)
		if j >= len(s) || s[j] != ':' {
			return nil, fmt.Errorf("offset %d: want ':'", j)
		}
		j = skipSpace(s, j+1)
		vend, err := valueEnd(s, j)
		if err != nil {
			return nil, err
		}
		m.value = span{j, vend}
		out = append(out, m)
		j = skipSpace(s, vend)
		if j < len(s) && s[j] == ',' {
			j = skipSpace(s, j+1)
		}
	}
	return out, nil
}

// elements returns the values of the array that starts at open.
func elements(s string, open int) ([]span, error) {
	if open >= len(s) || s[open] != '[' {
		return nil, fmt.Errorf("offset %d: want an array", open)
	}
	var out []span
	j := skipSpace(s, open+1)
	for j < len(s) && s[j] != ']' {
		end, err := valueEnd(s, j)
		if err != nil {
			return nil, err
		}
		out = append(out, span{j, end})
		j = skipSpace(s, end)
		if j < len(s) && s[j] == ',' {
			j = skipSpace(s, j+1)
		}
	}
	return out, nil
}

// field returns the value of key in the object at open, or ok false.
func field(s string, open int, key string) (span, bool) {
	ms, err := members(s, open)
	if err != nil {
		return span{}, false
	}
	i := slices.IndexFunc(ms, func(m member) bool { return m.key == key })
	if i < 0 {
		return span{}, false
	}
	return ms[i].value, true
}

// stringField returns the string value of key in the object at open.
func stringField(s string, open int, key string) string {
	v, ok := field(s, open, key)
	if !ok {
		return ""
	}
	str, err := strconv.Unquote(s[v.start:v.end])
	if err != nil {
		return ""
	}
	return str
}

// lineIndent is the white space that starts the line holding offset i.
func lineIndent(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	line := s[start:]
	return line[:len(line)-len(strings.TrimLeft(line, " \t"))]
}

// standardize turns JSON with comments and trailing commas into JSON, as
// VS Code reads it: comments become spaces, a comma before ] or } goes.
func standardize(s string) []byte {
	out := []byte(s)
	lastComma := -1
	for i := 0; i < len(s); {
		switch j := skipSpace(s, i); {
		case j > i:
			for k := i; k < j; k++ {
				if out[k] != '\n' {
					out[k] = ' '
				}
			}
			i = j
		case s[i] == '"':
			end, err := valueEnd(s, i)
			if err != nil {
				return out // json.Unmarshal reports it
			}
			lastComma, i = -1, end
		case s[i] == ',':
			lastComma, i = i, i+1
		case s[i] == ']' || s[i] == '}':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma, i = -1, i+1
		default:
			lastComma, i = -1, i+1
		}
	}
	return out
}

// checkJSONC makes sure text still parses as JSON with comments.
func checkJSONC(file, text string) error {
	var v any
	if err := json.Unmarshal(standardize(text), &v); err != nil {
		return fmt.Errorf("%s would no longer parse: %w", file, err)
	}
	return nil
}
