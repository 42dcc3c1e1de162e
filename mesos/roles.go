package mesos

import (
	"context"
	"maps"
	"sync"
	"time"
)

// RoleCache reads the roles' weights and quotas from the master at most
// once per MaxAge. The operator event stream carries no role changes, so
// a pass woken by a task's update reads them here instead of making two
// calls; a change made through the cache (UpdateWeights, UpdateQuota)
// forgets what it read, and so does a new subscription of the Watcher (a
// new leader, or a stream that dropped): the next read asks the master.
// A change somebody else makes is seen within MaxAge.
type RoleCache struct {
	Client *Client
	// Watcher, if set, ties what was read to its subscription.
	Watcher *Watcher
	// MaxAge is how long a read stays good. Default 30s.
	MaxAge time.Duration
	Now    func() time.Time

	mu sync.Mutex
	// forgotten counts forgets: a read under way when one came is not kept.
	forgotten int
	weights   roleRead[map[string]float64]
	quotas    roleRead[map[string]RoleQuota]
}

// roleRead is one read and when, under which subscription, it was made.
type roleRead[T any] struct {
	value T
	at    time.Time
	epoch int
	ok    bool
}

func (c *RoleCache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *RoleCache) epoch() int {
	if c.Watcher == nil {
		return 0
	}
	return c.Watcher.Stats().Subscriptions
}

func (c *RoleCache) maxAge() time.Duration {
	if c.MaxAge <= 0 {
		return 30 * time.Second
	}
	return c.MaxAge
}

// cached reads r through read unless r is good, and returns a copy.
func cached[T any](c *RoleCache, r *roleRead[T], read func() (T, error), clone func(T) T) (T, error) {
	c.mu.Lock()
	now, epoch := c.now(), c.epoch()
	if r.ok && r.epoch == epoch && now.Sub(r.at) < c.maxAge() {
		v := clone(r.value)
		c.mu.Unlock()
		return v, nil
	}
	forgotten := c.forgotten
	c.mu.Unlock()
	v, err := read()
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	if c.forgotten == forgotten {
		*r = roleRead[T]{value: v, at: now, epoch: epoch, ok: true}
	}
	c.mu.Unlock()
	return clone(v), nil
}

// Weights returns the roles' weights, read at most once per MaxAge.
func (c *RoleCache) Weights(ctx context.Context) (map[string]float64, error) {
	return cached(c, &c.weights, func() (map[string]float64, error) { return c.Client.Weights(ctx) }, maps.Clone)
}

// Quotas returns the roles' quotas, read at most once per MaxAge.
func (c *RoleCache) Quotas(ctx context.Context) (map[string]RoleQuota, error) {
	return cached(c, &c.quotas, func() (map[string]RoleQuota, error) { return c.Client.Quotas(ctx) }, cloneQuotas)
}

// UpdateWeights sets roles' weights; the next Weights reads them back.
func (c *RoleCache) UpdateWeights(ctx context.Context, weights map[string]float64) error {
	defer c.forget(&c.weights.ok)
	return c.Client.UpdateWeights(ctx, weights)
}

// UpdateQuota sets a role's quota; the next Quotas reads them back.
func (c *RoleCache) UpdateQuota(ctx context.Context, role string, q RoleQuota, force bool) error {
	defer c.forget(&c.quotas.ok)
	return c.Client.UpdateQuota(ctx, role, q, force)
}

// forget marks a read stale, also when the update failed (it may have
// been applied all the same).
func (c *RoleCache) forget(ok *bool) {
	c.mu.Lock()
	*ok = false
	c.forgotten++
	c.mu.Unlock()
}

func cloneQuotas(m map[string]RoleQuota) map[string]RoleQuota {
	out := make(map[string]RoleQuota, len(m))
	for k, q := range m {
		out[k] = RoleQuota{Guarantees: maps.Clone(q.Guarantees), Limits: maps.Clone(q.Limits)}
	}
	return out
}
