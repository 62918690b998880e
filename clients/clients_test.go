package clients

import "testing"

func TestValidateRedirects(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example.com/cb", true},
		{"http://localhost:3000/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:8080/cb", true},
		{"com.example.app:/oauth2redirect", true},
		{"http://app.example.com/cb", false},
		{"https://app.example.com/cb#frag", false},
		{"/relative", false},
		{"https:///nohost", false},
	}
	for _, tc := range tests {
		err := validateRedirects([]string{tc.uri}, true)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
	if err := validateRedirects(nil, true); err == nil {
		t.Error("no redirect URI was accepted for the authorization_code grant")
	}
}
