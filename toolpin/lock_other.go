//go:build !unix

package toolpin

import "errors"

// lockFile fails where advisory file locks are not available: without one,
// the server and the approving CLI could overwrite each other's records, so
// the store refuses to write rather than lose an approval.
func lockFile(string) (func(), error) {
	return nil, errors.New("file locking is not supported on this platform")
}
