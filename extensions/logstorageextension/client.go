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
	adds := false
	for _, o := range ops {
		switch o.Type {
		case storage.Set:
			writes = append(writes, op{typ: opSet, key: o.Key, value: o.Value})
			adds = true
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
		if adds {
			// Only data that adds a key can be refused for space: cursor
			// moves and deletes must always go through, they free space.
			if err := c.checkSpace(writes); err != nil {
				return err
			}
		}
		return c.log.appendOps(writes, true)
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
		if err := c.checkSpace(run); err != nil {
			return err
		}
		err := c.log.appendOps(run, true)
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

// checkSpace refuses writes that add keys while the volume is inside its
// reserve, with storage.ErrStorageFull (a retryable error for senders).
func (c *client) checkSpace(writes []op) error {
	if !c.log.addsKey(writes) {
		return nil
	}
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
