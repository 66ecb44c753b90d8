// Package scripts_test tests the shell scripts of make run, make test and
// make test-deps by running them.
package scripts_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
