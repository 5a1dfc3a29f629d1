//go:build !(linux || darwin || freebsd)

package doctor

import "errors"

// freeSpace cannot measure on this system; the disk check then WARNs.
func freeSpace(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}
