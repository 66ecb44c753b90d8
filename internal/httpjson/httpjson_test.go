package httpjson

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusTeapot, map[string]int{"a": 1})
	if rec.Code != http.StatusTeapot || rec.Body.String() != "{\"a\":1}\n" {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestStatusRecorder(t *testing.T) {
	s := NewStatusRecorder(httptest.NewRecorder())
	_, _ = s.Write([]byte("x"))
	if s.Code != http.StatusOK || s.Class() != 200 {
		t.Errorf("implicit status: %d", s.Code)
	}
	s = NewStatusRecorder(httptest.NewRecorder())
	s.WriteHeader(http.StatusNotFound)
	if s.Code != http.StatusNotFound || s.Class() != 400 {
		t.Errorf("status: %d class %d", s.Code, s.Class())
	}
	if http.NewResponseController(s) == nil || s.Unwrap() == nil {
		t.Error("no unwrap")
	}
}
