// Package storagetest is the conformance suite every storage implementation
// runs. Each Run function covers one interface of package storage with a
// table of named subtests; every subtest gets a fresh, empty store from open.
//
// Time never comes from the clock: tests start from a fixed base time and
// move it forward explicitly. Times the suite stores have millisecond
// precision, the least an implementation must keep, and are compared in UTC,
// which is how an implementation must return them.
package storagetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// GroupsAndUsers is what the groups suite needs: groups, and users to put in
// them.
type GroupsAndUsers interface {
	storage.Groups
	storage.Users
}

// subtest is one named case of a suite, run on a fresh store.
type subtest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

func runAll[S any](t *testing.T, open func(t *testing.T) S, tests []subtest[S]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, open(t))
		})
	}
}

// base is the fixed "now" the suites start from.
func base() time.Time {
	return time.Date(2025, time.March, 14, 15, 9, 26, 535_000_000, time.UTC)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// equal compares with reflect.DeepEqual: times must be in UTC (location
// nil), as the suite's are, so a store returning another zone fails here.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// invalidTexts are strings no store keeps (storage.ValidText): one with a
// NUL byte, which Postgres refuses and SQLite cannot take in a statement,
// and one that is not UTF-8.
var invalidTexts = []string{"nul\x00byte", "not\xffutf8"}

// wantInvalid checks that a write of text that is not valid was refused as
// the caller's mistake, not as an outage.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrInvalidInput) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s: %v, want ErrInvalidInput", what, err)
	}
}

// wantNotFound checks that a lookup by a key that is not valid text found
// nothing, and said so as a missing record, not as an outage.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s: %v, want ErrNotFound", what, err)
	}
}
