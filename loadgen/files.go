package loadgen

import (
	"fmt"
	"syscall"
)

// ensureFiles raises this process's open-file limit to need when the hard
// limit allows, and fails when it cannot.
func ensureFiles(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the dials tell
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	want := min(lim.Max, uint64(need))
	if want > lim.Cur {
		raised := lim
		raised.Cur = want
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim.Cur = want
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("the run needs about %d open files and this process may open %d (ulimit -n); use fewer connections or visitors", need, lim.Cur)
	}
	return nil
}
