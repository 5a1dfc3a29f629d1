package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var identities = []Identity{{"order", ServerAndClient}, {"inventory", ServerAndClient}, {"cli", ClientOnly}}

func ensureAt(t *testing.T, dir string, now time.Time) *Bundle {
	t.Helper()
	b, err := Ensure(Options{Dir: dir, Identities: identities, Now: func() time.Time { return now }})
	require.NoError(t, err)
	return b
}

func readCert(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		certs = append(certs, c)
	}
	require.NotEmpty(t, certs, path)
	return certs
}

func TestEnsureIssuesAChainThatVerifies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	b := ensureAt(t, dir, now)
	assert.Len(t, b.Issued, 1+len(identities), "authority and every identity issued: %v", b.Issued)

	ca := readCert(t, b.CAFile)[0]
	assert.True(t, ca.IsCA)
	assert.Equal(t, "ECDSA", ca.PublicKeyAlgorithm.String())
	assert.Equal(t, elliptic.P256(), ca.PublicKey.(*ecdsa.PublicKey).Curve)
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), b.CASPKIHash)

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, id := range identities {
		t.Run(id.Name, func(t *testing.T) {
			chain := readCert(t, b.Certs[id.Name].CertFile)
			require.Len(t, chain, 2, "certificate then authority")
			leaf := chain[0]
			assert.Equal(t, ca.Raw, chain[1].Raw)
			assert.Equal(t, []string{"localhost"}, leaf.DNSNames)
			require.Len(t, leaf.IPAddresses, 2)
			assert.True(t, leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
			assert.True(t, leaf.IPAddresses[1].Equal(net.ParseIP("::1")))
			require.Len(t, leaf.URIs, 1)
			assert.Equal(t, "spiffe://slipway.local/"+id.Name, leaf.URIs[0].String())
			assert.Equal(t, "spiffe://slipway.local/"+id.Name, b.SPIFFEID(id.Name))

			usages := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			if id.Usage == ServerAndClient {
				usages = append(usages, x509.ExtKeyUsageServerAuth)
			}
			for _, usage := range usages {
				for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
					_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
					assert.NoError(t, err, "%s for %s", name, usage)
				}
			}
			if id.Usage == ClientOnly {
				_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				assert.Error(t, err, "a client certificate cannot serve")
			}
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots})
			assert.Error(t, err, "no other host name")

			st, err := os.Stat(b.Certs[id.Name].KeyFile)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "key readable by the owner only")
		})
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "authority key readable by the owner only")
	st, err = os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}

// The authority is name-constrained: even signed with its key, a
// certificate for another host does not verify.
func TestAuthorityVouchesForLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	b := ensureAt(t, dir, time.Now())
	pair, err := tls.LoadX509KeyPair(b.CAFile, filepath.Join(dir, CAKeyFile))
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for _, tmpl := range []*x509.Certificate{
		{DNSNames: []string{"bank.example"}},
		{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
	} {
		tmpl.SerialNumber = big.NewInt(7)
		tmpl.Subject = pkix.Name{CommonName: "forged"}
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, pair.Leaf, &key.PublicKey, pair.PrivateKey)
		require.NoError(t, err)
		forged, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		roots := x509.NewCertPool()
		roots.AddCert(b.CA)
		_, err = forged.Verify(x509.VerifyOptions{Roots: roots})
		var invalid x509.CertificateInvalidError
		require.ErrorAs(t, err, &invalid, "%v %v", tmpl.DNSNames, tmpl.IPAddresses)
		assert.Equal(t, x509.CANotAuthorizedForThisName, invalid.Reason)
	}
}

func TestEnsureReusesAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first := ensureAt(t, dir, now)
	before := map[string][]byte{}
	for _, name := range []string{CAFile, CAKeyFile, "order.pem", "order-key.pem", "cli.pem"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		before[name] = data
	}
	second := ensureAt(t, dir, now.Add(24*time.Hour))
	assert.Empty(t, second.Issued, "nothing issued on the next run")
	assert.Equal(t, first.CASPKIHash, second.CASPKIHash)
	for name, data := range before {
		after, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, data, after, name)
	}
}

func TestEnsureReissues(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name       string
		later      time.Duration
		spoil      func(t *testing.T, dir string)
		wantIssued []string
		newCA      bool
	}{
		{
			name:       "leaf in its renewal window",
			later:      LeafLifetime - LeafRenewal + time.Hour,
			wantIssued: []string{"order: expires", "inventory: expires", "cli: expires"},
		},
		{
			name:       "authority in its renewal window",
			later:      CALifetime - CARenewal + time.Hour,
			wantIssued: []string{"authority: expires", "order: signed by another authority", "inventory: signed by another authority", "cli: signed by another authority"},
			newCA:      true,
		},
		{
			name:       "a missing certificate",
			spoil:      func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "inventory.pem"))) },
			wantIssued: []string{"inventory: missing"},
		},
		{
			name: "a key that does not match",
			spoil: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "cli-key.pem"))
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "order-key.pem"), data, 0o600))
			},
			wantIssued: []string{"order: certificate and key do not match"},
		},
		{
			name: "signed by another authority",
			spoil: func(t *testing.T, dir string) {
				other := t.TempDir()
				ensureAt(t, other, now)
				for _, f := range []string{"order.pem", "order-key.pem"} {
					data, err := os.ReadFile(filepath.Join(other, f))
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
				}
			},
			wantIssued: []string{"order: signed by another authority"},
		},
		{
			name:       "a lost authority key",
			spoil:      func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, CAKeyFile))) },
			wantIssued: []string{"authority: key unreadable", "order: signed by another authority", "inventory: signed by another authority", "cli: signed by another authority"},
			newCA:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := ensureAt(t, dir, now)
			if tt.spoil != nil {
				tt.spoil(t, dir)
			}
			second := ensureAt(t, dir, now.Add(tt.later))
			require.Len(t, second.Issued, len(tt.wantIssued), "%v", second.Issued)
			for i, want := range tt.wantIssued {
				assert.Contains(t, second.Issued[i], want)
			}
			assert.Equal(t, tt.newCA, first.CASPKIHash != second.CASPKIHash, "new authority")

			roots := x509.NewCertPool()
			roots.AddCert(second.CA)
			for _, id := range identities {
				leaf := readCert(t, second.Certs[id.Name].CertFile)[0]
				_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(tt.later), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
				assert.NoError(t, err, id.Name)
				assert.True(t, now.Add(tt.later).Add(LeafRenewal).Before(leaf.NotAfter), "%s valid beyond the renewal window", id.Name)
			}
			assert.Empty(t, ensureAt(t, dir, now.Add(tt.later)).Issued, "stable afterwards")
		})
	}
}

func TestEnsureRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "ca", "Order", "../x", "a/b"} {
		_, err := Ensure(Options{Dir: t.TempDir(), Identities: []Identity{{Name: name}}})
		assert.Error(t, err, "%q", name)
	}
}

// A real handshake: the service requires a client certificate from the
// authority (mTLS); the CLI's is accepted, one from another authority is not.
func TestMutualTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	b := ensureAt(t, dir, time.Now())
	server, err := b.ServerConfig("inventory")
	require.NoError(t, err)
	server.ClientAuth = tls.RequireAndVerifyClientCert

	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if tc, ok := c.(*tls.Conn); ok && tc.Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	dial := func(conf *tls.Config) error {
		conf.ServerName = "localhost"
		c, err := tls.Dial("tcp", ln.Addr().String(), conf)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		_, err = io.ReadFull(c, buf)
		return err
	}

	client, err := b.ClientConfig("cli")
	require.NoError(t, err)
	assert.NoError(t, dial(client), "the CLI's certificate")

	anonymous, err := ClientConfigFromFiles(b.CAFile, "", "")
	require.NoError(t, err)
	assert.Error(t, dial(anonymous), "no client certificate")

	other := ensureAt(t, t.TempDir(), time.Now())
	foreign, err := ClientConfigFromFiles(b.CAFile, other.Certs["cli"].CertFile, other.Certs["cli"].KeyFile)
	require.NoError(t, err)
	assert.Error(t, dial(foreign), "a client certificate from another authority")
}
