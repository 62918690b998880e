package server_test

import (
	"net/http"
	"testing"
)

// Concurrent requests that must have one winner: the same registration,
// the same refresh token.
func TestUsersConcurrentRequestsHaveOneWinner(t *testing.T) {
	ts := startServer(t, nil)
	const n = 8
	created, statuses := race(t, n, http.StatusCreated, http.StatusBadRequest, func(int) int {
		return ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "race", "email": "race@example.com", "password": "race-pass-1234"}).Status
	})
	if created != 1 {
		t.Fatalf("%d registrations of one username succeeded: %v", created, statuses)
	}

	_, refresh := ts.jwtPair("race", "race-pass-1234")
	ok, statuses := race(t, n, http.StatusOK, http.StatusUnauthorized, func(int) int {
		return ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}).Status
	})
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes with one token succeeded: %v", ok, statuses)
	}
}
