package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionModules are the modules an auditor asks about first; `version
// --modules` prints every module of the build.
var versionModules = []string{
	"go.opentelemetry.io/collector/otelcol",
	"go.opentelemetry.io/collector/pdata",
	"github.com/VictoriaMetrics/VictoriaMetrics",
	"github.com/IBM/sarama",
	"github.com/simonvetter/modbus",
	"google.golang.org/grpc",
}

func newVersionCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and module versions of this build",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return fmt.Errorf("this binary carries no build information")
			}
			printVersion(c.OutOrStdout(), info, all)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "modules", false, "print every module of the build")
	return cmd
}

func printVersion(w io.Writer, info *debug.BuildInfo, all bool) {
	fmt.Fprintf(w, "scadaotel %s\ncommit %s\n%s %s/%s\n", version, commit, info.GoVersion, runtime.GOOS, runtime.GOARCH)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "CGO_ENABLED", "-trimpath":
			fmt.Fprintf(w, "%s=%s\n", s.Key, s.Value)
		}
	}
	for _, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		if all || wanted(m.Path) {
			fmt.Fprintf(w, "%s %s\n", m.Path, m.Version)
		}
	}
}

func wanted(path string) bool {
	for _, p := range versionModules {
		if path == p {
			return true
		}
	}
	return false
}
