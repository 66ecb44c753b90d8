// Package sharedcomponent lets the instances the collector creates for one
// connector id share one core. The collector creates a connector instance
// per pair of pipeline signals (metrics→logs, metrics→metrics, ...), but a
// connector's state (windows, alarm states, its API listener) must exist
// once: the core is created with the first instance, started by the first
// Start, stopped by the last Shutdown and forgotten with it.
package sharedcomponent

import (
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the cores of one connector type by component id.
type Map[T any] struct {
	mu    sync.Mutex
	cores map[component.ID]*core[T]
}

type core[T any] struct {
	value T
	id    component.ID
	refs  int // instances not yet shut down; guarded by Map.mu

	lifeMu  sync.Mutex
	started int // instances started and not yet shut down
}

// Instance is one collector instance's handle on its id's core.
type Instance[T any] struct {
	owner *Map[T]
	core  *core[T]

	mu      sync.Mutex
	started bool
	done    bool
}

// Acquire returns a new instance of id's core, creating the core with
// create for the first instance.
func (m *Map[T]) Acquire(id component.ID, create func() T) *Instance[T] {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cores == nil {
		m.cores = map[component.ID]*core[T]{}
	}
	c, ok := m.cores[id]
	if !ok {
		c = &core[T]{value: create(), id: id}
		m.cores[id] = c
	}
	c.refs++
	return &Instance[T]{owner: m, core: c}
}

// Value is the shared core.
func (i *Instance[T]) Value() T { return i.core.value }

// Start runs start for the first instance started; later Starts only
// count. An instance counts as started only when start succeeded.
func (i *Instance[T]) Start(start func() error) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.started || i.done {
		return nil
	}
	c := i.core
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.started == 0 {
		if err := start(); err != nil {
			return err
		}
	}
	c.started++
	i.started = true
	return nil
}

// Shutdown runs stop when the last started instance shuts down, and
// forgets the core when its last instance does (started or not), so a new
// pipeline graph (a config reload) gets a fresh core. A second Shutdown of
// an instance does nothing.
func (i *Instance[T]) Shutdown(stop func() error) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.done {
		return nil
	}
	i.done = true
	c := i.core
	var err error
	if i.started {
		c.lifeMu.Lock()
		c.started--
		if c.started == 0 {
			err = stop()
		}
		c.lifeMu.Unlock()
	}
	m := i.owner
	m.mu.Lock()
	defer m.mu.Unlock()
	c.refs--
	if c.refs == 0 && m.cores[c.id] == c {
		delete(m.cores, c.id)
	}
	return err
}
