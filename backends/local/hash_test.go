package local

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordFormat(t *testing.T) {
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	a := mustHash(t, "hunter2", Params{})
	if !phc.MatchString(a) {
		t.Errorf("HashPassword = %q, want a PHC argon2id string with a 16-byte salt and a 32-byte key", a)
	}
	if b := mustHash(t, "hunter2", Params{}); a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if ok, again, err := VerifyPassword(a, "hunter2", DefaultParams()); !ok || again || err != nil {
		t.Errorf("VerifyPassword(right) = %v, %v, %v; want true, false, nil", ok, again, err)
	}
	if ok, again, err := VerifyPassword(a, "hunter3", DefaultParams()); ok || again || err != nil {
		t.Errorf("VerifyPassword(wrong) = %v, %v, %v; want false, false, nil", ok, again, err)
	}
}

func TestHashPasswordRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		password string
		params   Params
		want     error
	}{
		"an empty password":    {"", testParams, ErrEmptyPassword},
		"a too long password":  {strings.Repeat("x", MaxPasswordLength+1), testParams, ErrPasswordTooLong},
		"memory below 8/lane":  {"pw", Params{MemoryKiB: 8, Parallelism: 2}, nil},
		"a short salt":         {"pw", Params{MemoryKiB: 64, SaltLength: 4}, nil},
		"an oversized key":     {"pw", Params{MemoryKiB: 64, KeyLength: 65}, nil},
		"too much memory":      {"pw", Params{MemoryKiB: maxArgon2MemoryKiB + 1}, nil},
		"too many iterations ": {"pw", Params{MemoryKiB: 64, Iterations: maxArgon2Iterations + 1}, nil},
	} {
		_, err := HashPassword(tc.password, tc.params)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("HashPassword with %s: err %v, want %v", name, err, tc.want)
		}
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLength), testParams); err != nil {
		t.Errorf("HashPassword of exactly MaxPasswordLength bytes: %v", err)
	}
}

// argon2RefParams are the parameters of the reference vectors below.
var argon2RefParams = Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1, SaltLength: 8, KeyLength: 32}

func TestVerifyPasswordKnownVectors(t *testing.T) {
	// The argon2 reference implementation's test vectors (src/test.c).
	for _, tc := range []struct {
		encoded     string
		needsRehash bool // against argon2RefParams
	}{
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", false},
		{"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc", true},
		{"$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8", true}, // not argon2id
	} {
		ok, again, err := VerifyPassword(tc.encoded, "password", argon2RefParams)
		if !ok || again != tc.needsRehash || err != nil {
			t.Errorf("VerifyPassword(%s) = %v, %v, %v; want true, %v, nil", tc.encoded, ok, again, err, tc.needsRehash)
		}
		if ok, _, err := VerifyPassword(tc.encoded, "differentpassword", argon2RefParams); ok || err != nil {
			t.Errorf("VerifyPassword(%s, wrong) = %v, %v; want false, nil", tc.encoded, ok, err)
		}
	}

	for _, tc := range importedHashes(t) {
		ok, again, err := VerifyPassword(tc.encoded, tc.password, testParams)
		if !ok || !again || err != nil {
			t.Errorf("%s: VerifyPassword = %v, %v, %v; want true, true (Django formats are always upgraded), nil", tc.name, ok, again, err)
		}
		if ok, again, err := VerifyPassword(tc.encoded, tc.password+"!", testParams); ok || again || err != nil {
			t.Errorf("%s: VerifyPassword(wrong) = %v, %v, %v; want false, false, nil", tc.name, ok, again, err)
		}
	}
}

func TestVerifyPasswordNeedsRehashWhenAnyParamDiffers(t *testing.T) {
	base := Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	encoded := mustHash(t, "pw", base)
	for name, p := range map[string]Params{
		"memory":      {MemoryKiB: 128, Iterations: 1, Parallelism: 1},
		"iterations":  {MemoryKiB: 64, Iterations: 2, Parallelism: 1},
		"parallelism": {MemoryKiB: 64, Iterations: 1, Parallelism: 2},
		"salt length": {MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 32},
		"key length":  {MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLength: 64},
		"everything":  {}, // the defaults
	} {
		if ok, again, err := VerifyPassword(encoded, "pw", p); !ok || !again || err != nil {
			t.Errorf("%s differs: VerifyPassword = %v, %v, %v; want true, true, nil", name, ok, again, err)
		}
	}
	// Zero fields are the defaults, so these name the same parameters.
	if ok, again, err := VerifyPassword(encoded, "pw", Params{MemoryKiB: 64, Iterations: 1}); !ok || again || err != nil {
		t.Errorf("same params: VerifyPassword = %v, %v, %v; want true, false, nil", ok, again, err)
	}
}

// malformedHashes are broken or unsupported hashes; seeds of the fuzzer too.
var malformedHashes = []string{
	"",
	"$",
	"plain text password",
	"!",
	"!unusable-django-password",
	"md5$seasalt$d3c5a4c3e6f4e1b0b0f6b0e7f0a0b0c", // a digest one digit short
	"sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dcX",
	"scrypt$salt$16384$8$1$aGFzaA==",
	"$argon2id$",
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g$extra",
	"x$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g", // no version: argon2 1.0
	"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2d$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2ds$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=0,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1,p=256$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=7,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1,p=9$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=4294967296,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=4294967295,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1,p=1,keyid=x$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=+64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=-64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$aGFzaGhhc2g",  // padding
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHR$aGFzaGhhc2g",   // non-canonical last character
	"$argon2id$v=19$m=64,t=1,p=1$c29t$aGFzaGhhc2g",          // 3-byte salt
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$",              // no key
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGE",           // 2-byte key
	"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$!!!!!!!!!!!!!", // not base64
	"argon2$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
	"argon2$$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"argon2$argon2d$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g",
	"pbkdf2_sha256$",
	"pbkdf2_sha256$$$",
	"pbkdf2_sha256$10000$seasalt",
	"pbkdf2_sha256$0$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha256$+10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha256$-1$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha256$99999999999$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha256$10000$$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha256$10000$seasalt$",
	"pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY",   // no padding
	"pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=x", // bad base64
	"pbkdf2_sha256$10000$seasalt$bU7Uu8sLuQSVAyiwOF1NvP5Z6VM=",                  // a SHA-1-sized key
	"pbkdf2_sha256$10000$sea$salt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=",
	"pbkdf2_sha1$20000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", // a SHA-256-sized key
	"bcrypt$",
	"bcrypt$$2b$",
	"bcrypt$$2b$04$short",
	"bcrypt_sha256$",
	"bcrypt$$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"bcrypt$$3a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"bcrypt$$2a$+5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"bcrypt$$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  // cost below 4
	"bcrypt$$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  // cost above 31
	"bcrypt$$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",   // one short
	"bcrypt$$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW", // one long
	"bcrypt$$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe=",
	"bcrypt_sha256$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", // one $ missing
}

func TestVerifyPasswordMalformed(t *testing.T) {
	for _, encoded := range malformedHashes {
		ok, again, err := VerifyPassword(encoded, "password", testParams)
		if ok || again || !(errors.Is(err, ErrMalformedHash) || errors.Is(err, ErrUnsupportedHash)) {
			t.Errorf("VerifyPassword(%q) = %v, %v, %v; want false, false, ErrMalformedHash or ErrUnsupportedHash", encoded, ok, again, err)
			continue
		}
		// Errors get logged; a hash (or a password stored by mistake where
		// a hash belongs) must not be in them.
		if len(encoded) > 8 && strings.Contains(err.Error(), encoded) {
			t.Errorf("the error %q quotes the hash", err)
		}
	}
}

// fuzzCostLimit bounds the work of one fuzzed verification (see fuzzCost), so
// the fuzzer explores parsers rather than waiting on a costly hash.
const fuzzCostLimit = 1 << 16

// fuzzCost is about how many SHA-256 blocks verifying h takes.
func fuzzCost(h parsedHash) int64 {
	switch h.kind {
	case kindArgon2id, kindArgon2i:
		return int64(h.argon.MemoryKiB) * int64(h.argon.Iterations) * 16
	case kindPBKDF2SHA256, kindPBKDF2SHA1:
		return int64(h.iterations) * 2
	case kindBcrypt, kindBcryptSHA256:
		c, _ := bcrypt.Cost(h.bcrypt)
		return int64(1) << c * 1000
	}
	return 0
}

func FuzzVerifyPassword(f *testing.F) {
	for _, tc := range importedHashes(f) {
		f.Add(tc.encoded, tc.password)
		f.Add(tc.encoded, "wrong")
	}
	f.Add(mustHash(f, "pw", testParams), "pw")
	f.Add(mustHash(f, "pw", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 4, SaltLength: 64, KeyLength: 64}), "pw")
	for _, encoded := range malformedHashes {
		f.Add(encoded, "password")
	}
	f.Fuzz(func(t *testing.T, encoded, password string) {
		h, perr := parseHash(encoded)
		if perr == nil && fuzzCost(h) > fuzzCostLimit {
			t.Skip("well-formed but too costly to verify here")
		}
		ok, again, err := VerifyPassword(encoded, password, testParams)
		switch {
		case perr != nil && err == nil:
			t.Fatalf("parseHash failed (%v) but VerifyPassword did not", perr)
		case perr == nil && err != nil && h.kind != kindBcrypt && h.kind != kindBcryptSHA256:
			// Only bcrypt may fail after parsing: x/crypto decodes its salt late.
			t.Fatalf("parsed but failed to verify: %v", err)
		}
		if err != nil && (ok || again) {
			t.Fatalf("VerifyPassword = %v, %v, %v: an error must come with false, false", ok, again, err)
		}
		if again && !ok {
			t.Fatal("needsRehash without a match")
		}
		if err != nil && !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
			t.Fatalf("error %v wraps neither ErrMalformedHash nor ErrUnsupportedHash", err)
		}
	})
}
