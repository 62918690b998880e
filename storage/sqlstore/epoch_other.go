//go:build !unix

package sqlstore

import "errors"

// openRevocationEpoch: without mmap there is no counter other processes
// see, so nothing is cached.
func openRevocationEpoch(string) (*revocationEpoch, error) {
	return nil, errors.New("revocation epoch: shared memory is not supported on this platform")
}
