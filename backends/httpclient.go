package backends

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// TLSConfig is the TLS of a backend's outgoing HTTPS calls (a webhook, an
// upstream introspection endpoint), as written in its `config:` block.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs the server's certificate must chain
	// to; empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are latchkey's client certificate and key, for
	// servers that require mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Validate checks the block without reading any file.
func (c TLSConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	switch c.MinVersion {
	case "", "1.2", "1.3":
	default:
		errs = append(errs, fmt.Errorf("tls.min_version: must be \"1.2\" or \"1.3\", got %q", c.MinVersion))
	}
	return errors.Join(errs...)
}

// Config returns the *tls.Config the block describes, reading its files.
func (c TLSConfig) Config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// NewHTTPClient is the client of a backend's outgoing calls: the TLS of
// the block, the whole call (connect, TLS, headers, body) bounded by
// timeout, no redirects followed (a redirect is the server's answer, and
// a credential is never replayed to another URL), no proxy from the
// environment unless asked.
func NewHTTPClient(c TLSConfig, timeout time.Duration, useEnvProxy bool) (*http.Client, error) {
	tc, err := c.Config()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
	}
	if useEnvProxy {
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// CheckServiceURL checks the URL of a service a backend calls (a webhook,
// an introspection endpoint): absolute, without userinfo or fragment, and
// https — http only on a loopback host. field names it in the error.
func CheckServiceURL(field, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("%s: is required", field)
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "":
		return fmt.Errorf("%s: must be an absolute http(s) URL without userinfo or fragment", field)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%s: must be https (http only on a loopback host)", field)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// SecretFrom is a secret written in the YAML, or read from a file (a
// mounted secret; surrounding white space dropped). field names the file
// key in the error.
func SecretFrom(value, file, field string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.TrimSpace(string(b)), nil
}
