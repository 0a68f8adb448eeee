//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on the log file: two
// processes appending to one file would each extend their own chain and
// break the other's. The lock is released when the file is closed.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
