package durableotlpexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/deadletter"
)

// NewCommand is `scadaotel dead-letter`: list and replay what a durable
// exporter kept in its dead-letter area.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dead-letter",
		Short: "List or replay requests a destination refused for good (kept in a dead-letter directory)",
	}
	cmd.AddCommand(newListCommand(), newReplayCommand())
	return cmd
}

func newListCommand() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "list --dir DIR",
		Short: "Count what a dead-letter directory holds, by tenant and reason",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return listDeadLetter(c.OutOrStdout(), dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "dead-letter directory (e.g. data/deadletter/jaeger)")
	_ = c.MarkFlagRequired("dir")
	return c
}

func listDeadLetter(w io.Writer, dir string) error {
	files, err := deadletter.Files(dir)
	if err != nil {
		return err
	}
	type key struct{ tenant, signal, reason string }
	counts := map[key][2]int{} // entries, items
	damaged := 0
	for _, f := range files {
		from, err := deadletter.Progress(f)
		if err != nil {
			return err
		}
		err = deadletter.ReadFile(f, from, func(_ int64, e deadletter.Entry) error {
			k := key{e.Tenant, e.Signal, e.Reason}
			c := counts[k]
			counts[k] = [2]int{c[0] + 1, c[1] + e.Items}
			return nil
		}, func(d deadletter.Damage) {
			damaged++
			fmt.Fprintf(w, "damaged: %s %s\n", d.File, d.Damage)
		})
		if err != nil {
			return err
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmpStrings(a.tenant+"\x00"+a.signal+"\x00"+a.reason, b.tenant+"\x00"+b.signal+"\x00"+b.reason)
	})
	fmt.Fprintf(w, "%-24s %-8s %-20s %8s %10s\n", "TENANT", "SIGNAL", "REASON", "ENTRIES", "ITEMS")
	for _, k := range keys {
		c := counts[k]
		fmt.Fprintf(w, "%-24s %-8s %-20s %8d %10d\n", k.tenant, k.signal, k.reason, c[0], c[1])
	}
	if len(keys) == 0 {
		fmt.Fprintf(w, "(nothing waiting in %s)\n", dir)
	}
	return nil
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type replayOptions struct {
	dir, endpoint, caFile string
	insecure              bool
	maxBytes              int
	timeout               time.Duration
	headers               []string // "key=value" gRPC metadata
}

func newReplayCommand() *cobra.Command {
	var o replayOptions
	c := &cobra.Command{
		Use:   "replay --dir DIR --endpoint HOST:PORT",
		Short: "Send the kept requests to an OTLP gRPC endpoint again, oldest first, once their cause is fixed",
		Long: `Sends every kept request (traces or metrics) to the OTLP gRPC endpoint: the
trace store itself, or the appliance's own OTLP receiver with the tenant's
token (--header "authorization=Bearer <token>"). Progress is saved after each request, so a
replay that stops (the destination still refuses, or is down) resumes where
it stopped without sending anything twice. Fully replayed files are deleted,
except the newest, which a running appliance may still append to.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return replay(c.Context(), c.OutOrStdout(), o)
		},
	}
	c.Flags().StringVar(&o.dir, "dir", "", "dead-letter directory (e.g. data/deadletter/jaeger)")
	c.Flags().StringVar(&o.endpoint, "endpoint", "", "OTLP gRPC endpoint to send to (e.g. 127.0.0.1:14317)")
	c.Flags().BoolVar(&o.insecure, "insecure", false, "plaintext gRPC (loopback only)")
	c.Flags().StringVar(&o.caFile, "ca-file", "", "CA certificate for TLS (default: system roots)")
	c.Flags().IntVar(&o.maxBytes, "max-request-bytes", DefaultMaxRequestBytes, "split requests above this protobuf size")
	c.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "per request")
	c.Flags().StringArrayVar(&o.headers, "header", nil, "gRPC metadata sent with every request, key=value (repeatable)")
	_ = c.MarkFlagRequired("dir")
	_ = c.MarkFlagRequired("endpoint")
	return c
}

func replay(ctx context.Context, w io.Writer, o replayOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	creds := insecure.NewCredentials()
	if !o.insecure {
		var err error
		if creds, err = tlsCredentials(o.caFile); err != nil {
			return err
		}
	}
	conn, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", o.endpoint, err)
	}
	defer conn.Close()
	md := metadata.MD{}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return fmt.Errorf("--header %q: want key=value", h)
		}
		md.Append(strings.ToLower(k), v)
	}
	s := newSender(ptraceotlp.NewGRPCClient(conn), md)
	metrics := pmetricotlp.NewGRPCClient(conn)
	files, err := deadletter.Files(o.dir)
	if err != nil {
		return err
	}
	sent, entries := 0, 0
	for i, f := range files {
		from, err := deadletter.Progress(f)
		if err != nil {
			return err
		}
		err = deadletter.ReadFile(f, from, func(next int64, e deadletter.Entry) error {
			if e.Signal == "metrics" {
				if err := replayMetrics(ctx, metrics, md, o.timeout, e); err != nil {
					return fmt.Errorf("stopped at %s offset %d (tenant %s, originally %s): %w; fix the cause and run replay again, it resumes here", f, next, e.Tenant, e.Reason, err)
				}
				if err := deadletter.SetProgress(f, next); err != nil {
					return err
				}
				sent += e.Items
				entries++
				return nil
			}
			if e.Signal != "traces" {
				return fmt.Errorf("%s: %s entries cannot be replayed by this command", f, e.Signal)
			}
			td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(e.Data)
			if err != nil {
				return fmt.Errorf("%s: entry before offset %d does not decode: %w", f, next, err)
			}
			for _, p := range splitTraces(td, o.maxBytes) {
				rctx, cancel := context.WithTimeout(ctx, o.timeout)
				err := s.export(rctx, p, func(_ context.Context, tenant string, n int64, msg string) {
					fmt.Fprintf(w, "warning: destination rejected %d spans of tenant %s: %s\n", n, tenant, msg)
				})
				cancel()
				if err != nil {
					return fmt.Errorf("stopped at %s offset %d (tenant %s, originally %s): %w; fix the cause and run replay again, it resumes here", f, next, e.Tenant, e.Reason, err)
				}
			}
			if err := deadletter.SetProgress(f, next); err != nil {
				return err
			}
			sent += e.Items
			entries++
			return nil
		}, func(d deadletter.Damage) {
			fmt.Fprintf(w, "skipped damaged range: %s %s\n", d.File, d.Damage)
		})
		if err != nil {
			fmt.Fprintf(w, "replayed %d entries (%d items) before stopping\n", entries, sent)
			return err
		}
		if i < len(files)-1 {
			if err := deadletter.Remove(f); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(w, "replayed %d entries (%d items) from %s\n", entries, sent, o.dir)
	return nil
}

func tlsCredentials(caFile string) (credentials.TransportCredentials, error) {
	if caFile == "" {
		return credentials.NewClientTLSFromCert(nil, ""), nil
	}
	c, err := credentials.NewClientTLSFromFile(caFile, "")
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	return c, nil
}

var errNotStarted = errors.New("durable_otlp exporter not started")

// replayMetrics sends one kept metrics request as it was.
func replayMetrics(ctx context.Context, client pmetricotlp.GRPCClient, md metadata.MD, timeout time.Duration, e deadletter.Entry) error {
	m, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(e.Data)
	if err != nil {
		return fmt.Errorf("entry does not decode: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if len(md) > 0 {
		rctx = metadata.NewOutgoingContext(rctx, md)
	}
	_, err = client.Export(rctx, pmetricotlp.NewExportRequestFromMetrics(m))
	return err
}
