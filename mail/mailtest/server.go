// Package mailtest runs an SMTP server inside a test process, so tests can
// send real mail and read what arrived: the envelope, the decoded subject
// and the text and HTML bodies of the MIME message.
package mailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message as the server got it.
type Received struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Header is the parsed message header.
	Header mail.Header
	// Subject is the decoded Subject header (RFC 2047 words decoded).
	Subject string
	// Text and HTML are the decoded text/plain and text/html bodies
	// (quoted-printable and base64 undone), found at the top level or in
	// multipart/alternative and multipart/mixed parts, with line ends
	// turned into "\n" and trailing line ends removed.
	Text string
	HTML string
	// Raw is the message exactly as sent in DATA.
	Raw []byte
}

// Option configures a Server.
type Option func(*options)

type options struct {
	startTLS    bool
	implicitTLS bool
	user, pass  string
}

// WithStartTLS offers STARTTLS with a self-signed certificate for 127.0.0.1
// and localhost; ClientTLSConfig trusts it.
func WithStartTLS() Option { return func(o *options) { o.startTLS = true } }

// WithImplicitTLS speaks TLS from the first byte ("SMTPS", port 465 style).
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// WithAuth requires AUTH PLAIN with this user name and password before MAIL.
func WithAuth(user, pass string) Option {
	return func(o *options) { o.user, o.pass = user, pass }
}

// Server is an SMTP server on 127.0.0.1 that keeps every message.
type Server struct {
	srv       *smtp.Server
	ln        net.Listener
	opts      options
	clientTLS *tls.Config

	mu       sync.Mutex
	messages []Received
	taken    map[int]bool  // indexes returned by WaitFor
	changed  chan struct{} // closed and replaced on every message
	reject   *smtp.SMTPError
}

// NewServer starts a server on 127.0.0.1:0; tb.Cleanup stops it.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{taken: map[int]bool{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(&s.opts)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{server: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 50
	logger := &tbLogger{tb: tb}
	s.srv.ErrorLog = logger

	var ln net.Listener
	var err error
	if s.opts.startTLS || s.opts.implicitTLS {
		serverTLS, clientTLS, err := selfSigned()
		if err != nil {
			tb.Fatalf("mailtest: certificate: %v", err)
		}
		s.clientTLS = clientTLS
		if s.opts.startTLS {
			s.srv.TLSConfig = serverTLS
		}
		if s.opts.implicitTLS {
			ln, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
			if err != nil {
				tb.Fatalf("mailtest: listen: %v", err)
			}
		}
	}
	if ln == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("mailtest: listen: %v", err)
		}
	}
	// Without any TLS, AUTH must be offered in the clear for WithAuth.
	s.srv.AllowInsecureAuth = !s.opts.startTLS && !s.opts.implicitTLS
	s.ln = ln
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			tb.Logf("mailtest: serve: %v", err)
		}
	}()
	tb.Cleanup(func() {
		logger.closed.Store(true)
		_ = s.srv.Close()
		_ = ln.Close() // Close misses a listener that Serve has not registered yet
		<-done
	})
	return s
}

// Addr is the host and port the server listens on.
func (s *Server) Addr() (host string, port int) {
	a := s.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// ClientTLSConfig trusts the server's certificate (nil without TLS).
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns every message received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.messages...)
}

// Reject makes the server refuse every further message with an SMTP error
// (code 451 is temporary, 550 permanent); code 0 accepts again.
func (s *Server) Reject(code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		s.reject = nil
		return
	}
	s.reject = &smtp.SMTPError{Code: code, Message: message}
}

// WaitFor returns the oldest message to the envelope recipient to
// (case-insensitive) that WaitFor has not returned before, waiting for it
// until ctx ends. So a test can follow mail after mail to one address.
func (s *Server) WaitFor(ctx context.Context, to string) (Received, error) {
	for {
		s.mu.Lock()
		for i, m := range s.messages {
			if s.taken[i] || !hasRecipient(m.To, to) {
				continue
			}
			s.taken[i] = true
			s.mu.Unlock()
			return m, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Received{}, fmt.Errorf("mailtest: no message to %s: %w", to, ctx.Err())
		}
	}
}

func hasRecipient(list []string, to string) bool {
	for _, r := range list {
		if strings.EqualFold(r, to) {
			return true
		}
	}
	return false
}

func (s *Server) add(m Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) rejection() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject == nil {
		return nil
	}
	return s.reject
}

type session struct {
	server *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (c *session) AuthMechanisms() []string {
	if c.server.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (c *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || c.server.opts.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		okUser := subtle.ConstantTimeCompare([]byte(user), []byte(c.server.opts.user)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(c.server.opts.pass)) == 1
		if identity != "" && identity != user || !okUser || !okPass {
			return smtp.ErrAuthFailed
		}
		c.authed = true
		return nil
	}), nil
}

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	if c.server.opts.user != "" && !c.authed {
		return smtp.ErrAuthRequired
	}
	if err := c.server.rejection(); err != nil {
		return err
	}
	c.from = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = append(c.to, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "mailtest: cannot parse the message: " + err.Error()}
	}
	m.From, m.To = c.from, append([]string(nil), c.to...)
	c.server.add(m)
	return nil
}

func (c *session) Reset() { c.from, c.to = "", nil }

func (c *session) Logout() error { return nil }

// Parse decodes a raw RFC 5322 message: header, subject, and the text and
// HTML bodies. The envelope fields of the result are empty.
func Parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("read message: %w", err)
	}
	out := Received{Header: msg.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if out.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Received{}, fmt.Errorf("decode subject: %w", err)
	}
	err = walkPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &out, 0)
	return out, err
}

// walkPart stores the first text/plain and text/html bodies it finds.
func walkPart(contentType, encoding string, body io.Reader, out *Received, depth int) error {
	if depth > 10 {
		return errors.New("multipart nested too deeply")
	}
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walkPart(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, out, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	default:
		r = body
	}
	decoded, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s body (%s): %w", mediaType, encoding, err)
	}
	text := strings.TrimRight(strings.ReplaceAll(string(decoded), "\r\n", "\n"), "\n")
	switch {
	case mediaType == "text/plain" && out.Text == "":
		out.Text = text
	case mediaType == "text/html" && out.HTML == "":
		out.HTML = text
	}
	return nil
}

// newlineStripper drops CR and LF, which base64 bodies carry every 76 bytes.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, b := range p[:k] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and a client
// configuration that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

// tbLogger sends the server's error log to the test log until the test
// ends (testing panics on a log call after that).
type tbLogger struct {
	tb     testing.TB
	closed atomic.Bool
}

func (l *tbLogger) Printf(format string, v ...any) {
	if !l.closed.Load() {
		l.tb.Logf("mailtest: "+format, v...)
	}
}

func (l *tbLogger) Println(v ...any) {
	if !l.closed.Load() {
		l.tb.Log(append([]any{"mailtest:"}, v...)...)
	}
}
