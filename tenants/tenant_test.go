package tenants

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestValidID(t *testing.T) {
	for _, id := range []string{"west-pipeline-01", "a", "0", "east.pipeline_2", strings.Repeat("a", 63)} {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false, want true", id)
		}
	}
	for _, id := range []string{"", "West", "-a", ".a", "a b", "a/b", strings.Repeat("a", 64), "a\n", "<script>"} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true, want false", id)
		}
		if CheckID(id) == nil {
			t.Errorf("CheckID(%q) = nil, want error", id)
		}
	}
}

func TestResourceRoundTrip(t *testing.T) {
	res := pcommon.NewResource()
	if got := FromResource(res); got != "" {
		t.Fatalf("empty resource: got %q", got)
	}
	res.Attributes().PutInt(ResourceAttribute, 7) // wrong type is not a tenant
	if got := FromResource(res); got != "" {
		t.Fatalf("int attribute: got %q", got)
	}
	res.Attributes().PutStr(ResourceAttribute, "spoofed")
	SetOnResource(res, "west-pipeline-01")
	if got := FromResource(res); got != "west-pipeline-01" {
		t.Fatalf("got %q", got)
	}
}

func TestContextIgnoresClientMetadata(t *testing.T) {
	// A receiver with include_metadata copies headers verbatim: never trust them.
	ctx := client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{MetadataKey: {"east-pipeline-02"}}),
	})
	if got := FromContext(ctx); got != "" {
		t.Fatalf("FromContext trusted client metadata: %q", got)
	}
	ctx = NewContext(ctx, "west-pipeline-01")
	if got := FromContext(ctx); got != "west-pipeline-01" {
		t.Fatalf("FromContext = %q", got)
	}
	if md := client.FromContext(ctx).Metadata.Get(MetadataKey); len(md) != 1 || md[0] != "west-pipeline-01" {
		t.Fatalf("metadata = %v", md)
	}
}

func TestNewContextMetadata(t *testing.T) {
	// Without client metadata: the shared per-tenant metadata; changing a
	// copy of it cannot leak into another request.
	a := NewContext(context.Background(), "west-pipeline-01")
	md := client.FromContext(a).Metadata.Get(MetadataKey)
	if len(md) != 1 || md[0] != "west-pipeline-01" {
		t.Fatalf("metadata = %v", md)
	}
	md[0] = "east-pipeline-02"
	b := NewContext(context.Background(), "west-pipeline-01")
	if got := client.FromContext(b).Metadata.Get(MetadataKey); got[0] != "west-pipeline-01" || FromContext(b) != "west-pipeline-01" {
		t.Fatalf("shared metadata changed: %v", got)
	}
	// With client metadata (include_metadata): kept, tenant key overwritten.
	c := client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{"x-site": {"compressor-7"}, MetadataKey: {"east-pipeline-02"}}),
	})
	c = NewContext(c, "west-pipeline-01")
	info := client.FromContext(c)
	if got := info.Metadata.Get("x-site"); len(got) != 1 || got[0] != "compressor-7" {
		t.Errorf("client metadata lost: %v", got)
	}
	if got := info.Metadata.Get(MetadataKey); len(got) != 1 || got[0] != "west-pipeline-01" {
		t.Errorf("tenant metadata = %v", got)
	}
}

// TestFromResourceRequiresAgreement: a resource with scada.tenant more than
// once (OTLP allows it) has a tenant only when every copy agrees.
func TestFromResourceRequiresAgreement(t *testing.T) {
	for attrs, want := range map[string]string{
		`{"key":"scada.tenant","value":{"stringValue":"a"}},{"key":"scada.tenant","value":{"stringValue":"a"}}`: "a",
		`{"key":"scada.tenant","value":{"stringValue":"b"}},{"key":"scada.tenant","value":{"stringValue":"a"}}`: "",
		`{"key":"scada.tenant","value":{"stringValue":"a"}},{"key":"scada.tenant","value":{"intValue":"1"}}`:    "",
	} {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(`{"resourceSpans":[{"resource":{"attributes":[` + attrs + `]}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := FromResource(td.ResourceSpans().At(0).Resource()); got != want {
			t.Errorf("%s: %q, want %q", attrs, got, want)
		}
	}
}
