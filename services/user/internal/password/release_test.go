package password

import (
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countReleases swaps r's release for a counter.
func countReleases(r *idleRelease) *atomic.Int32 {
	var n atomic.Int32
	r.release = func() { n.Add(1) }
	return &n
}

// Each quiet spell after hashing ends in one release.
func TestIdleReleaseFollowsEachQuietSpell(t *testing.T) {
	h := New(cheap, WithIdleRelease(time.Millisecond))
	released := countReleases(h.idle)

	encoded, err := h.Hash(t.Context(), "correct horse")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return released.Load() == 1 }, 5*time.Second, time.Millisecond)

	ok, err := h.Verify(t.Context(), "correct horse", encoded)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Eventually(t, func() bool { return released.Load() == 2 }, 5*time.Second, time.Millisecond)
}

// While any hash runs nothing is released: its buffer is in use.
func TestIdleReleaseWaitsForTheLastRunningHash(t *testing.T) {
	r := newIdleRelease(time.Millisecond)
	released := countReleases(r)

	r.begin()
	r.begin()
	r.end()
	time.Sleep(50 * time.Millisecond) // fifty times the delay
	assert.Zero(t, released.Load(), "one hash still runs")

	r.end()
	assert.Eventually(t, func() bool { return released.Load() == 1 }, 5*time.Second, time.Millisecond)
}

// A hasher without the option leaves memory to the runtime.
func TestNoIdleReleaseByDefault(t *testing.T) {
	h := New(cheap)
	assert.Nil(t, h.idle)
	_, err := h.Hash(t.Context(), "correct horse") // begin and end on nil are no-ops
	assert.NoError(t, err)
}

// The real release hands the hash's buffer back to the OS: afterwards the
// resident heap (live and dead objects, free pages not yet returned) is
// smaller than the one buffer the hash allocated.
func TestIdleReleaseReturnsTheBufferToTheOS(t *testing.T) {
	params := cheap
	params.Memory = 16 * 1024 // KiB
	h := New(params, WithIdleRelease(time.Millisecond))
	done := make(chan struct{})
	release := h.idle.release
	h.idle.release = func() { release(); close(done) }

	_, err := h.Hash(t.Context(), "correct horse")
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no release after the hash")
	}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(samples)
	var resident uint64
	for _, s := range samples {
		resident += s.Value.Uint64()
	}
	assert.Less(t, resident, uint64(params.Memory)*1024, "the hash's buffer is still resident")
}
