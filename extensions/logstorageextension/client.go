package logstorageextension

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// client is the storage.Client of one component: its own log.
type client struct {
	log     *segLog
	guard   *diskreserve.Guard
	onFull  func(error)
	release func()
}

var _ storage.Client = (*client)(nil)

func (c *client) Get(_ context.Context, key string) ([]byte, error) {
	return c.log.get(key)
}

func (c *client) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *client) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Batch applies the writes of ops as one record (all or nothing after a
// crash) and then answers the reads in place, in order, like bbolt's
// transaction does for file_storage: a Get after a Set of the same key in
// one batch sees the new value.
func (c *client) Batch(_ context.Context, ops ...*storage.Operation) error {
	var writes []op
	for _, o := range ops {
		switch o.Type {
		case storage.Set:
			writes = append(writes, op{typ: opSet, key: o.Key, value: o.Value})
		case storage.Delete:
			writes = append(writes, op{typ: opDelete, key: o.Key})
		case storage.Get:
		default:
			return fmt.Errorf("log storage: unknown operation type %d", o.Type)
		}
	}
	if len(writes) > 0 && len(writes) < len(ops) {
		// Mixed reads and writes: reads must see the writes before them
		// and not the ones after; apply in segments.
		return c.mixed(ops)
	}
	if len(writes) > 0 {
		return c.log.appendOps(writes, true, c.admit)
	}
	for _, o := range ops {
		v, err := c.log.get(o.Key)
		if err != nil {
			return err
		}
		o.Value = v
	}
	return nil
}

// mixed runs a batch of reads and writes in order. The queue's only mixed
// batch is "set metadata, get item", whose writes never add a key.
func (c *client) mixed(ops []*storage.Operation) error {
	var run []op
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := c.log.appendOps(run, true, c.admit)
		run = run[:0]
		return err
	}
	for _, o := range ops {
		switch o.Type {
		case storage.Set:
			run = append(run, op{typ: opSet, key: o.Key, value: o.Value})
		case storage.Delete:
			run = append(run, op{typ: opDelete, key: o.Key})
		case storage.Get:
			if err := flush(); err != nil {
				return err
			}
			v, err := c.log.get(o.Key)
			if err != nil {
				return err
			}
			o.Value = v
		}
	}
	return flush()
}

// admit refuses a record that adds keys while the volume is inside its
// reserve, with storage.ErrStorageFull (a retryable error for senders).
// Only data that adds a key is ever refused: cursor moves and deletes must
// always go through, they free space.
func (c *client) admit() error {
	err := c.guard.Check()
	c.onFull(err)
	if err != nil {
		return fmt.Errorf("%w: %w", storage.ErrStorageFull, err)
	}
	return nil
}

func (c *client) Close(context.Context) error {
	err := c.log.close()
	if c.release != nil {
		c.release()
	}
	return err
}
