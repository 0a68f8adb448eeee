//go:build !unix

package audit

import "os"

// lockFile does nothing where flock is unavailable: there, the operator
// must ensure one process per audit file.
func lockFile(*os.File) error { return nil }
