// Package leaktest holds the goleak options for goroutines that third-party
// libraries start and that no API of theirs stops, so that a package's
// TestMain (goleak.VerifyTestMain) still fails on any goroutine of ours.
package leaktest

import "go.uber.org/goleak"

// VictoriaMetrics ignores the package-level workers of the embedded
// VictoriaMetrics (github.com/VictoriaMetrics/VictoriaMetrics and
// github.com/VictoriaMetrics/metrics): cache cleaners and watchers, log
// throttlers and cron loops started at init or on first use, for the life of
// the process. A store's own goroutines end with vmstore's Close and are not
// in this list by name, except the workingsetcache watchers, which the
// package-level caches (e.g. promql's rollup result cache) share.
func VictoriaMetrics() []goleak.Option {
	const vm = "github.com/VictoriaMetrics/VictoriaMetrics/"
	return []goleak.Option{
		goleak.IgnoreTopFunction(vm + "lib/logger.newLogThrottler.func1"),
		goleak.IgnoreTopFunction(vm + "lib/lrucache.(*Cache).cleaner"),
		goleak.IgnoreTopFunction(vm + "lib/blockcache.(*Cache).cleaner"),
		goleak.IgnoreTopFunction(vm + "lib/workingsetcache.(*Cache).expirationWatcher"),
		goleak.IgnoreTopFunction(vm + "lib/workingsetcache.(*Cache).prevCacheWatcher"),
		goleak.IgnoreTopFunction(vm + "lib/workingsetcache.(*Cache).cacheSizeWatcher"),
		goleak.IgnoreTopFunction(vm + "lib/bytesutil.newInternStringMap.func1"),
		goleak.IgnoreTopFunction(vm + "lib/fasttime.init.0.func1"),
		goleak.IgnoreTopFunction(vm + "lib/timeutil.init.0.func1"),
		goleak.IgnoreAnyFunction(vm + "app/vmselect/promql.checkRollupResultCacheReset"),
		goleak.IgnoreAnyFunction("github.com/VictoriaMetrics/metrics.summariesSwapCron"),
	}
}

// GoMetrics ignores the meter arbiter of github.com/rcrowley/go-metrics (the
// metrics registry of the sarama Kafka client): one global ticker goroutine
// started by the first meter and never stopped.
func GoMetrics() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	}
}
