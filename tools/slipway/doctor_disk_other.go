//go:build !(linux || darwin || freebsd)

package main

import "errors"

// doctorFreeSpace cannot measure on this system; the disk check then WARNs.
func doctorFreeSpace(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}
