package mailtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseBase64Multipart(t *testing.T) {
	raw := strings.ReplaceAll(`From: a@example.com
To: b@example.com
Subject: =?UTF-8?q?Caf=C3=A9?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

aGVsbG8g
d29ybGQ=
--inner
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<p>caf=C3=A9 =
ok</p>
--inner--
--outer--
`, "\n", "\r\n")
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Café" || m.Text != "hello world" || m.HTML != "<p>café ok</p>" {
		t.Errorf("subject %q, text %q, html %q", m.Subject, m.Text, m.HTML)
	}
}

func TestWaitForTimesOut(t *testing.T) {
	s := NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(ctx, "nobody@example.com"); err == nil {
		t.Fatal("WaitFor returned a message that was never sent")
	}
}
