package redact

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// urlPattern finds URLs written out in free text: a scheme, "://" and
// everything up to a space, a quote or an angle bracket.
var urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// Error returns err with every URL in its message masked (see URLsIn), so
// that it may go to a log line, a span's status and events, a stored
// reason or a message header. Webhook and callback URLs carry their
// credential in the user info, the path or the query, and *url.Error, which
// every failed net/http call returns, quotes the whole URL.
//
// errors.Is and errors.As still see err's chain through Unwrap, so callers
// can tell a timeout from a refusal; what they find there is not redacted,
// so print only the returned error. Error returns nil for nil, and err
// itself when its message holds no URL.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	// A *url.Error quotes its URL with %q, and a URL that failed to parse may
	// hold spaces or quotes that cut the free-text scan short: replace those
	// first, whole.
	for _, raw := range urlErrorURLs(err) {
		masked := maskURL(raw)
		red = strings.ReplaceAll(red, strconv.Quote(raw), strconv.Quote(masked))
		red = strings.ReplaceAll(red, raw, masked)
	}
	red = URLsIn(red)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// URLsIn masks every URL written in s: its user info, path, query and
// fragment become Mask, and its scheme, host and port stay, which is what
// tells an operator which endpoint failed. "https://user:pw@hooks.example.com/T0/B0/tok?sig=s"
// becomes "https://xxxxx@hooks.example.com/xxxxx?xxxxx". A URL with none of
// those parts is left as written.
func URLsIn(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, maskURL)
}

// maskURL masks the parts of one URL that may carry a credential. One that
// does not parse keeps only its scheme.
func maskURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Mask
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && rest != "" {
		return scheme + "://" + Mask
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if u.User != nil {
		b.WriteString(Mask + "@")
	}
	b.WriteString(u.Host)
	if u.Path != "" && u.Path != "/" || u.RawPath != "" || u.Opaque != "" {
		b.WriteString("/" + Mask)
	} else {
		b.WriteString(u.Path)
	}
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?" + Mask)
	}
	if u.Fragment != "" {
		b.WriteString("#" + Mask)
	}
	return b.String()
}

// urlErrorURLs returns the URL of every *url.Error in err's tree. It walks
// the tree by hand because errors.As stops at the first match, and every
// *url.Error (nested or in a joined branch) carries a URL to redact.
func urlErrorURLs(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		for err != nil {
			if ue, ok := err.(*url.Error); ok && ue.URL != "" { //nolint:errorlint // this node only; the loop visits the rest
				out = append(out, ue.URL)
			}
			switch e := err.(type) { //nolint:errorlint // one unwrap step of the walk
			case interface{ Unwrap() []error }:
				for _, inner := range e.Unwrap() {
					walk(inner)
				}
				return
			case interface{ Unwrap() error }:
				err = e.Unwrap()
			default:
				return
			}
		}
	}
	walk(err)
	return out
}

// redactedError is an error whose message was redacted; it unwraps to the
// original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
