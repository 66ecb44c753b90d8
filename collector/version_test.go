package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsModules(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "GOAMD64", Value: "v1"}},
		Deps: []*debug.Module{
			{Path: "github.com/VictoriaMetrics/VictoriaMetrics", Version: "v1.151.0"},
			{Path: "github.com/IBM/sarama", Version: "v1.0.0", Replace: &debug.Module{Path: "github.com/IBM/sarama", Version: "v1.61.1"}},
			{Path: "example.com/other", Version: "v0.1.0"},
		}}
	var b bytes.Buffer
	printVersion(&b, info, false)
	out := b.String()
	for _, want := range []string{"scadaotel " + version, "commit " + commit, "go1.26.8", "vcs.revision=abc123",
		"github.com/VictoriaMetrics/VictoriaMetrics v1.151.0", "github.com/IBM/sarama v1.61.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "example.com/other") || strings.Contains(out, "GOAMD64") {
		t.Errorf("version prints more than the named modules without --modules:\n%s", out)
	}
	b.Reset()
	printVersion(&b, info, true)
	if !strings.Contains(b.String(), "example.com/other v0.1.0") {
		t.Errorf("--modules lacks a module:\n%s", b.String())
	}
}
