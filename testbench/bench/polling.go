package bench

import "context"

// RunPolling is the RTU polling pair.
func RunPolling(ctx context.Context, o *Options, env *Env) Pair {
	return Pair{Name: "polling", Errors: []string{"not built yet"}}
}
