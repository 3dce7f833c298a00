//go:build !linux

package clustertest

import "os/exec"

// setDeathSignal does nothing where the kernel cannot signal orphans; the
// tests' cleanups stop the children.
func setDeathSignal(*exec.Cmd) {}
