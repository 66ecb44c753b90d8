package traceidrepairprocessor

import (
	"strings"
)

// normalizeName maps the escaped forms JMS-safe bridges give header names
// back to one spelling: lower case, "_HYPHEN_", "$dash$" and "_" become "-".
//
//	X_B3_TraceId, x_HYPHEN_b3_HYPHEN_traceid, x_$dash$_b3_$dash$_traceid -> x-b3-traceid
func normalizeName(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.ReplaceAll(s, "_hyphen_", "-")
	s = strings.ReplaceAll(s, "_$dash$_", "-")
	s = strings.ReplaceAll(s, "$dash$", "-")
	s = strings.ReplaceAll(s, "_", "-")
	return s
}

// Kinds of attribute key.
const (
	keyNone  = 0
	keyTrace = 1
	keyCorr  = 2 // keyCorr+i: correlation attribute i
)

// maxKeyCache bounds the memo of attribute key -> kind, so that arbitrary
// keys sent by clients cannot grow it.
const maxKeyCache = 4096

// keyClassifier tells whether an attribute key is a configured carrier.
// Not safe for concurrent use (the processor lock guards it).
type keyClassifier struct {
	byNorm map[string]int
	cache  map[string]int
}

func newKeyClassifier(traceAttrs, corrAttrs []string) *keyClassifier {
	k := &keyClassifier{byNorm: map[string]int{}, cache: map[string]int{}}
	for _, n := range traceAttrs {
		k.byNorm[normalizeName(n)] = keyTrace
	}
	for i, n := range corrAttrs {
		k.byNorm[normalizeName(n)] = keyCorr + i
	}
	return k
}

func (k *keyClassifier) kind(key string) int {
	if v, ok := k.cache[key]; ok {
		return v
	}
	v := k.classify(key)
	if len(k.cache) < maxKeyCache {
		k.cache[strings.Clone(key)] = v
	}
	return v
}

func (k *keyClassifier) classify(key string) int {
	if len(key) > 256 {
		return keyNone
	}
	norm := normalizeName(key)
	if v, ok := k.byNorm[norm]; ok {
		return v
	}
	// messaging.header.X_B3_TraceId: match the configured name as a suffix
	// after a dot.
	for i := 0; i < len(norm); i++ {
		if norm[i] == '.' {
			if v, ok := k.byNorm[norm[i+1:]]; ok && v == keyTrace {
				return v
			}
		}
	}
	return keyNone
}

// traceClue is what a trace-id carrier value says.
type traceClue struct {
	half   uint64 // a 16-hex (or shorter) id, or the non-zero half of a zero-padded 32-hex id
	hi, lo uint64 // a full 32-hex id with both halves non-zero
	span   uint64 // the sender's span id when the value carries one (b3, traceparent, uber-trace-id)
}

// parseTraceCarrier reads a trace id from a header value: plain hex (16 or
// 32 digits, optionally 0x-prefixed, any case), b3 single
// ("{trace}-{span}-{sampled}"), W3C traceparent ("00-{trace}-{span}-{flags}")
// or uber-trace-id ("{trace}:{span}:{parent}:{flags}"). ok is false when the
// value holds no usable id.
func parseTraceCarrier(v string) (c traceClue, ok bool) {
	v = strings.TrimSpace(v)
	if len(v) > 128 {
		return c, false
	}
	var parts [4]string
	n := 0
	sep := byte('-')
	if strings.IndexByte(v, ':') >= 0 {
		sep = ':'
	}
	rest := v
	for n < 4 {
		i := strings.IndexByte(rest, sep)
		if i < 0 {
			parts[n] = rest
			n++
			break
		}
		parts[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	trace, span := parts[0], ""
	if n >= 2 {
		span = parts[1]
	}
	if sep == '-' && n == 4 && len(parts[0]) == 2 && len(parts[1]) == 32 {
		trace, span = parts[1], parts[2] // traceparent
	}
	trace = strings.TrimPrefix(strings.TrimPrefix(trace, "0x"), "0X")
	if len(trace) == 0 || len(trace) > 32 {
		return c, false
	}
	if len(trace) <= 16 {
		h, ok := parseHex64(trace)
		if !ok || h == 0 {
			return c, false
		}
		c.half = h
	} else {
		hi, ok1 := parseHex64(trace[:len(trace)-16])
		lo, ok2 := parseHex64(trace[len(trace)-16:])
		if !ok1 || !ok2 || (hi == 0 && lo == 0) {
			return c, false
		}
		switch {
		case hi == 0:
			c.half = lo
		case lo == 0:
			c.half = hi
		default:
			c.hi, c.lo = hi, lo
		}
	}
	if span != "" && len(span) <= 16 {
		if s, ok := parseHex64(span); ok {
			c.span = s
		}
	}
	return c, true
}

func parseHex64(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		ch := s[i]
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}
