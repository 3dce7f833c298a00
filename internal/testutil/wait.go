// Package testutil holds helpers shared by chatnode's tests.
package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond every few milliseconds until it returns nil or timeout
// passes, then fails the test with cond's last error.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
