package pages

import "testing"

// The login page's next parameter only ever leads to this server.
func TestLocalPathRefusesOtherOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"/device":                     "/device",
		"/device?user_code=BCDF-GHJK": "/device?user_code=BCDF-GHJK",
		"":                            "",
		"device":                      "",
		"//evil.example/x":            "",
		"/\\evil.example":             "",
		"https://evil.example/":       "",
		"javascript:alert(1)":         "",
		"/ok\r\nSet-Cookie: x=1":      "",
		"/\x00":                       "",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
