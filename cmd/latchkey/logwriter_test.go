package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that counts the writes made to it.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines written at once from many goroutines come out whole, none lost,
// in far fewer writes than lines; Close writes what is left.
func TestLogWriterKeepsLinesWholeAndBatchesWrites(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out)
	const writers, lines = 16, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "{\"writer\":%d,\"line\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", g*7))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	seen := map[string]bool{}
	for _, line := range got {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(line, "{\"writer\":%d,\"line\":%d,\"pad\":%q}", &g, &i, &pad); err != nil || len(pad) != g*7 {
			t.Fatalf("a line was cut or mixed with another: %q", line)
		}
		seen[line] = true
	}
	if len(seen) != writers*lines {
		t.Fatalf("%d distinct lines, want %d", len(seen), writers*lines)
	}
	out.mu.Lock()
	writes := out.writes
	out.mu.Unlock()
	if writes >= writers*lines/10 {
		t.Fatalf("%d writes for %d lines: not batched", writes, writers*lines)
	}
}

// A line reaches the output without Close, within the flush interval.
func TestLogWriterFlushesInTheBackground(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out)
	defer w.Close()
	fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatalf("not written after 10s: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingWriter holds every write until release is closed.
type blockingWriter struct {
	syncBuffer
	release chan struct{}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.syncBuffer.Write(p)
}

// Past flushSize, Write hands the flush to the background: a slow output
// does not hold up the writer (which holds slog's handler mutex) until
// maxPending bytes wait for it.
func TestLogWriterDoesNotWriteInlineUntilTheOutputFallsFarBehind(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	w := newLogWriter(out)
	line := strings.Repeat("x", 1023) + "\n"
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for range 4 * flushSize / len(line) { // four flushes' worth, far below maxPending
			fmt.Fprint(w, line)
		}
	}()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for a blocked output below maxPending")
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(out.String()), 4*flushSize/len(line)*len(line); got != want {
		t.Fatalf("%d bytes written, want %d", got, want)
	}
}
