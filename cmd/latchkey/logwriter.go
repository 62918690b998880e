package main

import (
	"io"
	"sync"
	"time"
)

// logWriter buffers the log in memory and writes it out in the background,
// every flushInterval and as soon as flushSize bytes are waiting. The access
// log writes one line per request; written straight to stderr, each line
// is a write system call made while slog's handler holds its mutex, so
// under load every request queued behind the others' writes (the
// client_credentials p99 tail of issue 13). Here a log line costs a copy
// under a short lock, and the system call is made by one goroutine for many
// lines. A line is handed over whole (slog writes one record per call), so
// lines are never interleaved. Close writes what is left; a crash loses at
// most flushInterval of log.
//
// Write never makes the system call itself unless maxPending bytes are
// waiting (the output cannot keep up: then writers wait for it, and no line
// is dropped). It is called with slog's handler mutex held, so a write
// system call there would stall every other request's log line: with the
// flush at 64 KiB made inline, that happened some hundred times a second
// under load.
type logWriter struct {
	out io.Writer

	mu      sync.Mutex // guards buf
	buf     []byte
	flushMu sync.Mutex // one flush at a time; a writer past flushSize waits for it
	spare   []byte     // the buffer being written, reused (under flushMu)

	kick chan struct{} // flushSize bytes are waiting
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// The background flush: often enough that `tail -f` looks live, rarely
// enough that a busy server makes few system calls.
const (
	flushInterval = 100 * time.Millisecond
	flushSize     = 64 << 10
	maxPending    = 4 << 20
)

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *logWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.Flush()
		case <-w.kick:
			_ = w.Flush()
		}
	}
}

// Write keeps p for the next flush; it never fails.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n >= maxPending:
		_ = w.Flush()
	case n >= flushSize:
		select {
		case w.kick <- struct{}{}:
		default: // a flush is already asked for
		}
	}
	return len(p), nil
}

// Flush writes out everything written so far.
func (w *logWriter) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	w.spare = b
	if len(b) == 0 {
		return nil
	}
	_, err := w.out.Write(b)
	return err
}

// Close stops the background flush and writes what is left.
func (w *logWriter) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
	})
	return w.Flush()
}
