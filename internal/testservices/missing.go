package testservices

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Missing skips the test, or fails it under CI=true, because a service it
// needs is not there; format and args say which and why.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: a missing service is a failure)", msg)
	}
	tb.Skip(msg)
}

// probe runs check once per process and remembers its error.
type probe struct {
	once sync.Once
	err  error
}

func (p *probe) do(check func() error) error {
	p.once.Do(func() { p.err = check() })
	return p.err
}
