package usertokens

import (
	"strings"
	"testing"
)

func TestUIDIsDjangos(t *testing.T) {
	if got := EncodeUID(1); got != "MQ" { // urlsafe_base64_encode(force_bytes(1))
		t.Errorf("EncodeUID(1) = %q", got)
	}
	if got := EncodeUID(12345); got != "MTIzNDU" {
		t.Errorf("EncodeUID(12345) = %q", got)
	}
	for _, bad := range []string{"", "!!", "MA", "LTE", strings.Repeat("M", 40), "YWJj"} {
		if id, err := DecodeUID(bad); err == nil {
			t.Errorf("DecodeUID(%q) = %d, nil", bad, id)
		}
	}
	if id, err := DecodeUID("MTIzNDU"); err != nil || id != 12345 {
		t.Errorf("DecodeUID: %d %v", id, err)
	}
}
