//go:build linux || darwin || freebsd

package doctor

import "syscall"

// freeSpace is the number of bytes an unprivileged user can still write
// on the filesystem holding path.
func freeSpace(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	// The field types differ between systems (uint32 Bsize on darwin).
	return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert // see above
}
