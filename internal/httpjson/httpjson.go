// Package httpjson holds what the appliance's JSON HTTP APIs share: writing
// a JSON answer and recording the status a handler wrote (for self-metrics
// by status class).
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers with status code and v encoded as JSON (UTF-8, as JSON
// always is), with nosniff so that no browser reads it as anything else.
func Write(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// StatusRecorder is an http.ResponseWriter that keeps the status written
// through it (200 when the handler wrote none).
type StatusRecorder struct {
	http.ResponseWriter
	Code int
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w, Code: http.StatusOK}
}

// WriteHeader records code and writes it.
func (s *StatusRecorder) WriteHeader(code int) {
	s.Code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Class is the recorded status's class: 200, 300, 400 or 500.
func (s *StatusRecorder) Class() int { return s.Code / 100 * 100 }
