package testservices

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// RandomHex returns n random bytes in hex, for names no other test run
// uses.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// SyncBuffer is a bytes.Buffer safe for concurrent use, such as a node's
// log written by its goroutines while the test reads it. The zero value is
// an empty buffer.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
