package telemetrytest

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/metric"
)

// fakeTB records the errors a check reports.
type fakeTB struct {
	testing.TB
	errs []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func TestCheckDeclared(t *testing.T) {
	r := NewRecorder()
	m := r.Meter("github.com/scadaotel/scadaotel/x")
	if _, err := m.Int64Counter("scadaotel_x_good", metric.WithUnit("{item}")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Int64Counter("scadaotel_x_no_unit"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Int64Counter("scadaotel_x_undeclared", metric.WithUnit("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Meter("go.opentelemetry.io/collector/exporter/exporterhelper").Int64Counter("otelcol_exporter_sent_spans"); err != nil {
		t.Fatal(err)
	}
	f := &fakeTB{TB: t}
	CheckDeclared(f, "x", []string{"scadaotel_x_good", "scadaotel_x_no_unit", "scadaotel_x_never_created", "x.dotted_total"}, r)
	want := []string{
		`"scadaotel_x_no_unit" has no unit`,
		`"scadaotel_x_never_created" is declared but no instrument of that name was created`,
		`"x.dotted_total" does not follow scadaotel_x_<noun> (snake_case, no _total)`,
		`"x.dotted_total" is declared but no instrument of that name was created`,
		`instrument "scadaotel_x_undeclared" is created but not declared in MetricNames()`,
	}
	if fmt.Sprint(f.errs) != fmt.Sprint(want) {
		t.Errorf("got\n%q\nwant\n%q", f.errs, want)
	}
}
