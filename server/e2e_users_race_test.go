package server_test

import (
	"net/http"
	"sync"
	"testing"
)

// Concurrent requests that must have one winner: the same registration,
// the same refresh token.
func TestUsersConcurrentRequestsHaveOneWinner(t *testing.T) {
	ts := startServer(t, nil)
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "race", "email": "race@example.com", "password": "race-pass-1234"})
			statuses[i] = res.Status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations of one username succeeded: %v", created, statuses)
	}

	_, refresh := ts.jwtPair("race", "race-pass-1234")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes with one token succeeded: %v", ok, statuses)
	}
}
