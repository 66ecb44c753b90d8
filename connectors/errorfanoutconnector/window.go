package errorfanoutconnector

import "time"

// window counts spans and error spans of one key over a sliding window made
// of fixed-width buckets. A bucket is identified by its epoch
// (now / bucket width); a bucket whose epoch has left the window counts as
// empty, so no timer has to clear it.
type window struct {
	buckets []bucket
}

type bucket struct {
	epoch  int64
	spans  uint64
	errors uint64
}

func newWindow(n int) window { return window{buckets: make([]bucket, n)} }

func epochOf(now time.Time, width time.Duration) int64 {
	return now.UnixNano() / int64(width)
}

// add counts spans and errors in the bucket of epoch.
func (w window) add(epoch int64, spans, errors uint64) {
	n := int64(len(w.buckets))
	b := &w.buckets[((epoch%n)+n)%n]
	if b.epoch != epoch {
		*b = bucket{epoch: epoch}
	}
	b.spans += spans
	b.errors += errors
}

// sum returns the spans and errors of the buckets of the window that ends
// with epoch (inclusive): epochs (epoch-n, epoch].
func (w window) sum(epoch int64) (spans, errors uint64) {
	n := int64(len(w.buckets))
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.epoch > epoch-n && b.epoch <= epoch {
			spans += b.spans
			errors += b.errors
		}
	}
	return spans, errors
}

// ratio is errors/spans, 0 when there are no spans.
func ratio(spans, errors uint64) float64 {
	if spans == 0 {
		return 0
	}
	return float64(errors) / float64(spans)
}
