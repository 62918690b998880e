package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-auth/latchkey/config"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latchkey test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSIsServedDirectlyWhenConfigured(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ts := startServer(t, func(c *config.Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cc := clientcredentials.Config{ClientID: demoClient, ClientSecret: demoSecret, TokenURL: ts.URL + "/oauth2/token"}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("client_credentials over TLS: %v", err)
	}
	// Plain HTTP on the TLS port is refused.
	resp, err := http.Get("http://" + ts.Addr + "/healthz")
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS listener")
		}
	}
}

func TestTheAdminAPICanHaveItsOwnListener(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Admin.Listen = "127.0.0.1:0" })
	admin := ts.srv.AdminHandler()
	if admin == nil {
		t.Fatal("admin.listen is set but there is no admin handler")
	}
	if res := ts.get("/admin/clients/", ts.adminToken()); res.Status != http.StatusNotFound {
		t.Errorf("the public listener serves the admin API: %s", res)
	}
	req := httptest.NewRequest(http.MethodGet, "/admin/clients/", nil)
	req.Header.Set("Authorization", "Bearer "+ts.adminToken())
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("the admin handler answers %d: %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	admin.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/oauth2/token", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("the admin listener serves the token endpoint: %d", rec.Code)
	}
}
