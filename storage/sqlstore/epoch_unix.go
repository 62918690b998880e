//go:build unix

package sqlstore

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// epochFileSize is the size of the shared counter file: one uint64.
const epochFileSize = 8

// openRevocationEpoch maps "<database>.revocation-epoch", creating it. The
// mapping is never unmapped: a Store closed while a caller still holds it
// must not turn a late call into a segmentation fault, and it is one page.
func openRevocationEpoch(dbPath string) (*revocationEpoch, error) {
	f, err := os.OpenFile(dbPath+".revocation-epoch", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("revocation epoch: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("revocation epoch: %w", err)
	}
	if fi.Size() < epochFileSize {
		// Never shrinks: two processes growing it at once both write zeros
		// over nothing.
		if err := f.Truncate(epochFileSize); err != nil {
			return nil, fmt.Errorf("revocation epoch: %w", err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, epochFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("revocation epoch: map: %w", err)
	}
	// A mapping starts on a page boundary: the counter is 8-byte aligned,
	// as atomic operations need.
	return &revocationEpoch{n: (*atomic.Uint64)(unsafe.Pointer(&mem[0]))}, nil
}
