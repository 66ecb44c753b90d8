package tenants

import (
	"bytes"
	"strings"
	"testing"
)

func TestHashTokenCommand(t *testing.T) {
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetIn(strings.NewReader("west-token\neast-token\r\n"))
	cmd.SetArgs([]string{"hash-token"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := HashToken("west-token") + "\n" + HashToken("east-token") + "\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if HashToken("secret") != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Error("HashToken is not hex SHA-256")
	}
	// The printed hash is accepted by the registry and selects the tenant.
	reg, err := NewRegistry([]Spec{{ID: "w", TokenSHA256: []string{strings.TrimSpace(strings.Split(out.String(), "\n")[0])}}}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := reg.Lookup("west-token"); !ok || got != "w" {
		t.Errorf("Lookup = %q %v", got, ok)
	}

	for _, in := range []string{"", "a token with spaces\n"} {
		cmd := NewCommand()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetIn(strings.NewReader(in))
		cmd.SetArgs([]string{"hash-token"})
		if err := cmd.Execute(); err == nil {
			t.Errorf("input %q: want an error", in)
		}
	}
	cmd = NewCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"hash-token", "token-in-argv"})
	if err := cmd.Execute(); err == nil {
		t.Error("a token in argv must be refused (visible in ps)")
	}
}
