// Package redact turns secrets into forms fit to print: a hash that tells
// two values apart without showing them, and URLs with their passwords
// masked. It is the one definition that config.Redacted, config errors and
// the slipway drift audit share, and it depends on the standard library only.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Mask replaces a URL password; the same mask net/url uses.
const Mask = "xxxxx"

// Secret is "sha256:<hex>" of s, or "" for an empty s (which says "not
// set"), so an audit can tell whether two instances share a secret without
// seeing it.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// URL masks the password of a URL: in the user info, and in the query
// parameters that libpq and pgx read a password from. A URL that does not
// parse is hashed whole (where its password is cannot be told); one with no
// password is returned as written, since re-rendering could change it
// ("sqlite://" would become "sqlite:").
func URL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return Secret(s)
	}
	masked := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Mask)
		masked = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			switch strings.ToLower(k) {
			case "password", "sslpassword", "pass", "pwd":
				q[k] = []string{Mask}
				u.RawQuery = q.Encode()
				masked = true
			}
		}
	}
	if !masked {
		return s
	}
	return u.String()
}
