//go:build e2e && bench

package tenants_test

import "time"

// With -tags bench the flood test runs its full 60 s.
func init() { floodDuration = 60 * time.Second }
