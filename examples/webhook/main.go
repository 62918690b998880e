// Command webhook is a password-check service for latchkey's webhook
// backend: it verifies the request's signature and timestamp, then checks
// the password (here against one demo user; put your LDAP or database call
// there). Run it with WEBHOOK_SECRET set to the backend's secret.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"
)

func handler(secret []byte, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		ts, tsErr := strconv.ParseInt(r.Header.Get("X-Latchkey-Timestamp"), 10, 64)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(r.Header.Get("X-Latchkey-Timestamp") + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if err != nil || tsErr != nil || math.Abs(now().Sub(time.Unix(ts, 0)).Seconds()) > 300 ||
			!hmac.Equal([]byte(want), []byte(r.Header.Get("X-Latchkey-Signature"))) {
			http.Error(w, "bad signature", http.StatusBadRequest) // not a refusal: latchkey answers 503
			return
		}
		var in struct{ Username, Password string }
		if json.Unmarshal(body, &in) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if in.Username != "demo" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"unknown_user"}`)) // let latchkey try its next backend
			return
		}
		if subtle.ConstantTimeCompare([]byte(in.Password), []byte("demo password")) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"subject": "demo-1", "username": "demo",
			"email": "demo@example.com", "email_verified": true, "name": "Demo User", "groups": []string{"staff"}})
	}
}

func main() {
	addr := os.Getenv("WEBHOOK_LISTEN")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	log.Fatal(http.ListenAndServe(addr, handler([]byte(os.Getenv("WEBHOOK_SECRET")), time.Now)))
}
