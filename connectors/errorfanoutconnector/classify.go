package errorfanoutconnector

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// classifier decides which spans are errors, per ErrorsConfig.
type classifier struct {
	statusError bool
	httpMin     int64
	rpcAttr     string
}

func newClassifier(c ErrorsConfig) classifier {
	return classifier{statusError: c.StatusError, httpMin: c.HTTPStatusMin, rpcAttr: c.RPCStatusAttribute}
}

func (c classifier) isError(s ptrace.Span) bool {
	if c.statusError && s.Status().Code() == ptrace.StatusCodeError {
		return true
	}
	if c.httpMin > 0 {
		attrs := s.Attributes()
		v, ok := attrs.Get("http.response.status_code")
		if !ok {
			v, ok = attrs.Get("http.status_code")
		}
		if ok {
			if code, ok := intValue(v); ok && code >= c.httpMin {
				return true
			}
		}
	}
	if c.rpcAttr != "" {
		if v, ok := s.Attributes().Get(c.rpcAttr); ok {
			if code, ok := intValue(v); ok && code != 0 {
				return true
			}
		}
	}
	return false
}

func intValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// countResource returns the spans and error spans of one ResourceSpans and
// appends up to maxIDs distinct error trace ids to ids.
func (c classifier) countResource(rs ptrace.ResourceSpans, ids []pcommon.TraceID, maxIDs int) (spans, errs uint64, _ []pcommon.TraceID) {
	start := len(ids)
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		ss := sss.At(i).Spans()
		spans += uint64(ss.Len())
		for j := 0; j < ss.Len(); j++ {
			s := ss.At(j)
			if !c.isError(s) {
				continue
			}
			errs++
			if len(ids)-start < maxIDs {
				tid := s.TraceID()
				dup := false
				for _, x := range ids[start:] {
					if x == tid {
						dup = true
						break
					}
				}
				if !dup {
					ids = append(ids, tid)
				}
			}
		}
	}
	return spans, errs, ids
}
