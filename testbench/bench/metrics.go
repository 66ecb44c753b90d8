package bench

import "context"

// RunMetrics is the metrics pair.
func RunMetrics(ctx context.Context, o *Options, env *Env) Pair {
	return Pair{Name: "metrics", Errors: []string{"not built yet"}}
}
