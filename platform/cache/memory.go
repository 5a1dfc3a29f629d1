package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Memory is a Cache in process memory holding at most a fixed number of
// entries; when full, it drops expired entries first and then the least
// recently used one. It is safe for concurrent use.
type Memory struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *memoryEntry
	lru   *list.List               // front: most recently used
}

type memoryEntry struct {
	key     string
	value   []byte
	expires time.Time
}

// NewMemory returns an empty Memory of at most maxEntries entries (at
// least 1).
func NewMemory(maxEntries int) *Memory {
	return &Memory{max: max(maxEntries, 1), now: time.Now, items: make(map[string]*list.Element), lru: list.New()}
}

// Get implements Cache.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key)
	if e == nil {
		return nil, false, nil
	}
	m.lru.MoveToFront(e)
	return e.Value.(*memoryEntry).value, true, nil
}

// Set implements Cache.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, value, ttl)
	return nil
}

// Add implements Cache.
func (m *Memory) Add(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live(key) != nil {
		return false, nil
	}
	m.put(key, value, ttl)
	return true, nil
}

// Delete implements Cache.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[key]; ok {
		m.remove(e)
	}
	return nil
}

// Len returns the number of entries held, expired ones not yet dropped
// included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// live returns the unexpired entry of key, dropping an expired one.
func (m *Memory) live(key string) *list.Element {
	e, ok := m.items[key]
	if !ok {
		return nil
	}
	if !m.now().Before(e.Value.(*memoryEntry).expires) {
		m.remove(e)
		return nil
	}
	return e
}

func (m *Memory) put(key string, value []byte, ttl time.Duration) {
	// A copy: the caller may reuse its slice.
	entry := &memoryEntry{key: key, value: append([]byte(nil), value...), expires: m.now().Add(ttl)}
	if e, ok := m.items[key]; ok {
		e.Value = entry
		m.lru.MoveToFront(e)
		return
	}
	if len(m.items) >= m.max {
		m.evict()
	}
	m.items[key] = m.lru.PushFront(entry)
}

// evict makes room for one entry: every expired entry goes, or else the
// least recently used one.
func (m *Memory) evict() {
	now := m.now()
	for _, e := range m.items {
		if !now.Before(e.Value.(*memoryEntry).expires) {
			m.remove(e)
		}
	}
	if len(m.items) >= m.max {
		m.remove(m.lru.Back())
	}
}

func (m *Memory) remove(e *list.Element) {
	m.lru.Remove(e)
	delete(m.items, e.Value.(*memoryEntry).key)
}
