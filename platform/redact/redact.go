// Package redact turns secrets into forms fit to print: a keyed
// fingerprint that tells two values apart without showing them, and URLs
// with their passwords masked. It is the one definition that
// config.Redacted, config errors and the slipway drift audit share, and it
// depends on the standard library only.
package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Mask replaces a URL password; the same mask net/url uses.
const Mask = "xxxxx"

// Hidden is what Secret shows of a set secret.
const Hidden = "<secret>"

// FingerprintPrefix starts every fingerprint Fingerprinter.Secret makes.
const FingerprintPrefix = "hmac-sha256:"

// Secret is how a secret shows where no fingerprint key is at hand (config
// errors, before the config is loaded): Hidden, or "" for an empty s (which
// says "not set"). Nothing of the value is shown, not even an unkeyed hash:
// a hash of a weak password is cracked offline in seconds.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	return Hidden
}

// Fingerprinter makes fingerprints of secrets: HMAC-SHA256 under a key of
// the deployment. Two instances with the same key show the same fingerprint
// for the same secret, so an audit can tell whether they share it; without
// the key a fingerprint cannot be tested against guesses.
type Fingerprinter struct{ key []byte }

// NewFingerprinter returns a Fingerprinter keyed by key.
func NewFingerprinter(key []byte) Fingerprinter {
	return Fingerprinter{key: append([]byte(nil), key...)}
}

// RandomFingerprinter returns a Fingerprinter with a fresh random key: its
// fingerprints compare only with each other.
func RandomFingerprinter() Fingerprinter {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24)
	return Fingerprinter{key: key}
}

// Secret is "hmac-sha256:<hex>" of s, or "" for an empty s (which says
// "not set").
func (f Fingerprinter) Secret(s string) string {
	if s == "" {
		return ""
	}
	mac := hmac.New(sha256.New, f.key)
	mac.Write([]byte(s))
	return FingerprintPrefix + hex.EncodeToString(mac.Sum(nil))
}

// URL masks the password of a URL: in the user info, and in the query
// parameters that libpq and pgx read a password from. A URL that does not
// parse is hidden whole (where its password is cannot be told); one with no
// password is returned as written, since re-rendering could change it
// ("sqlite://" would become "sqlite:").
func URL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return Hidden
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
