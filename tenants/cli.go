package tenants

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scadaotel/scadaotel/internal/audit"
)

// cliActor names who ran a `tenants` command in the audit trail.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return fmt.Sprintf("cli:uid %d", os.Getuid())
}

// Environment variables that locate the tenants file (as the appliance
// itself does): SCADAOTEL_TENANTS_FILE, else <data dir>/tenants.yaml with
// the data dir from --data-dir, SCADAOTEL_DATA_DIR or ./data.
const (
	tenantsFileEnv = "SCADAOTEL_TENANTS_FILE"
	dataDirEnv     = "SCADAOTEL_DATA_DIR"
)

// NewCommand returns `tenants`: add, list, rotate-token and remove edit the
// tenants file the running appliance re-reads; hash-token prints the
// SHA-256 hash to put in token_sha256 for a bearer token read from stdin
// (one token per line; never from argv, which other users can read in ps).
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Manage tenants and their bearer tokens (the tenants file the appliance re-reads while running)",
	}
	var file, auditDir string
	cmd.PersistentFlags().StringVar(&file, "file", "",
		"tenants file (default $"+tenantsFileEnv+", else <data dir>/tenants.yaml)")
	cmd.PersistentFlags().StringVar(&auditDir, "audit-dir", "",
		"audit trail the changes are recorded in (default <data dir>/audit, the data dir as for the file: $"+dataDirEnv+" or the file's directory)")
	resolve := func(c *cobra.Command) string { return tenantsFilePath(c, file) }
	// audited records a change made to the file at path.
	audited := func(_ *cobra.Command, path, action, tenant string) error {
		return appendCLIAudit(auditDir, path, audit.Record{Actor: cliActor(), Tenant: tenant, Action: action, Object: path, Outcome: audit.Success})
	}

	hash := &cobra.Command{
		Use:   "hash-token",
		Short: "Print the token_sha256 value of each bearer token read from stdin (one per line)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return hashTokens(c.InOrStdin(), c.OutOrStdout())
		},
	}

	var kafkaTopic string
	var sharedTopic bool
	add := &cobra.Command{
		Use:   "add <id>",
		Short: "Add a tenant with a new bearer token; prints the token once (only its SHA-256 is stored)",
		Args:  exactlyOneID,
		RunE: func(c *cobra.Command, args []string) error {
			topic := kafkaTopic
			switch {
			case sharedTopic && topic != "":
				return fmt.Errorf("--kafka-topic and --shared-kafka-topic exclude each other")
			case topic == "" && !sharedTopic:
				// Every consumer of a shared topic reads every tenant's
				// alerts: a tenant gets its own unless told otherwise.
				topic = DefaultKafkaTopicPrefix + args[0]
			}
			path := resolve(c)
			if err := withNewToken(c, path, true, fmt.Sprintf("tenant %s added to %%s", args[0]), func(f *File, hash string) error {
				return f.Add(args[0], hash, topic)
			}); err != nil {
				return err
			}
			return audited(c, path, "tenant_add", args[0])
		},
	}
	add.Flags().StringVar(&kafkaTopic, "kafka-topic", "", "alert topic of this tenant (default: "+DefaultKafkaTopicPrefix+"<id>; its raw error spans go to <topic>"+SpansTopicSuffix+")")
	add.Flags().BoolVar(&sharedTopic, "shared-kafka-topic", false, "no topic of its own: the exporter's topic, shared with other tenants")

	rotate := &cobra.Command{
		Use:   "rotate-token <id>",
		Short: "Give a tenant a new bearer token and revoke its old ones; prints the new token once",
		Args:  exactlyOneID,
		RunE: func(c *cobra.Command, args []string) error {
			path := resolve(c)
			if err := withNewToken(c, path, false, fmt.Sprintf("new token for tenant %s in %%s; its old tokens are revoked", args[0]), func(f *File, hash string) error {
				return f.SetTokens(args[0], hash)
			}); err != nil {
				return err
			}
			return audited(c, path, "token_rotate", args[0])
		},
	}

	remove := &cobra.Command{
		Use:   "remove <id>",
		Short: "Remove a tenant (its tokens stop working within seconds; its stored data stays)",
		Args:  exactlyOneID,
		RunE: func(c *cobra.Command, args []string) error {
			path := resolve(c)
			f, err := LoadFile(path, false)
			if err != nil {
				return err
			}
			if err := f.Remove(args[0]); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if _, err := fmt.Fprintf(c.ErrOrStderr(), "tenant %s removed from %s; a running appliance refuses its tokens within seconds\n", args[0], path); err != nil {
				return err
			}
			return audited(c, path, "tenant_remove", args[0])
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tenants of the tenants file (ids, number of tokens, topic, limits; never hashes)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, err := LoadFile(resolve(c), false)
			if err != nil {
				return err
			}
			specs, err := f.Specs()
			if err != nil {
				return err
			}
			return listSpecs(c.OutOrStdout(), specs)
		},
	}

	cmd.AddCommand(hash, add, list, rotate, remove)
	return cmd
}

// tenantsFilePath is the tenants file a command edits: file if given, else
// $SCADAOTEL_TENANTS_FILE, else <data dir>/tenants.yaml with the data dir
// from --data-dir, $SCADAOTEL_DATA_DIR or ./data (as the appliance finds it).
func tenantsFilePath(c *cobra.Command, file string) string {
	if file != "" {
		return file
	}
	if v := os.Getenv(tenantsFileEnv); v != "" {
		return v
	}
	dir := ""
	if fl := c.Flag("data-dir"); fl != nil {
		dir = fl.Value.String()
	}
	if dir == "" {
		dir = os.Getenv(dataDirEnv)
	}
	if dir == "" {
		dir = "data"
	}
	return filepath.Join(dir, "tenants.yaml")
}

// appendCLIAudit records r, a change a command made to the tenants file at
// path, in the audit trail the appliance keeps: dir, else
// $SCADAOTEL_DATA_DIR/audit, else audit/ beside the file (the default
// config's <data dir>/audit), with the chain's key beside it.
func appendCLIAudit(dir, path string, r audit.Record) error {
	if dir == "" {
		if d := os.Getenv(dataDirEnv); d != "" {
			dir = filepath.Join(d, "audit")
		} else {
			dir = filepath.Join(filepath.Dir(path), "audit")
		}
	}
	l, err := audit.OpenDir(dir, 16<<20, 0)
	if err == nil {
		_, err = l.Append(r)
	}
	if err != nil {
		return fmt.Errorf("the change to %s is made but could not be recorded in the audit trail %s: %w", path, dir, err)
	}
	return nil
}

func exactlyOneID(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one tenant id, got %d arguments", len(args))
	}
	return CheckID(args[0])
}

// printToken shows a new token: the explanation on stderr, the token alone
// on stdout (so that `token=$(scadaotel tenants add x)` captures just it).
func printToken(c *cobra.Command, what, token string) error {
	if _, err := fmt.Fprintf(c.ErrOrStderr(), "%s; a running appliance picks it up within seconds.\n"+
		"Bearer token, shown only now (only its SHA-256 is stored); send it as `Authorization: Bearer <token>`:\n", what); err != nil {
		return err
	}
	_, err := fmt.Fprintln(c.OutOrStdout(), token)
	return err
}

func listSpecs(out io.Writer, specs []Spec) error {
	if len(specs) == 0 {
		_, err := fmt.Fprintln(out, "no tenants: add one with `scadaotel tenants add <id>`")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOKENS\tKAFKA_TOPIC\tLIMITS")
	for _, s := range specs {
		topic := s.KafkaTopic
		if topic == "" {
			topic = "(default)"
		}
		var lim []string
		if v := s.Limits.SamplesPerSecond; v > 0 {
			lim = append(lim, fmt.Sprintf("samples_per_second=%g", v))
		}
		if v := s.Limits.SpansPerSecond; v > 0 {
			lim = append(lim, fmt.Sprintf("spans_per_second=%g", v))
		}
		if v := s.Limits.BytesPerSecond; v > 0 {
			lim = append(lim, fmt.Sprintf("bytes_per_second=%g", v))
		}
		if v := s.Limits.ActiveSeries; v > 0 {
			lim = append(lim, fmt.Sprintf("active_series=%d", v))
		}
		limits := "none"
		if len(lim) > 0 {
			limits = strings.Join(lim, ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.ID, len(s.TokenSHA256)+len(s.Tokens), topic, limits)
	}
	return tw.Flush()
}
func hashTokens(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		tok := strings.TrimRight(sc.Text(), "\r")
		if tok == "" {
			continue
		}
		if strings.TrimSpace(tok) != tok || strings.ContainsAny(tok, " \t") {
			return fmt.Errorf("line %d: a token must not contain spaces or tabs", n+1)
		}
		n++
		if _, err := fmt.Fprintln(out, HashToken(tok)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read tokens from stdin: %w", err)
	}
	if n == 0 {
		return errors.New("no token on stdin: usage `echo -n \"$TOKEN\" | scadaotel tenants hash-token`")
	}
	return nil
}

// withNewToken loads the tenants file, makes a token, lets edit store its
// hash, saves the file atomically and prints the token once; what (with
// %s for the file's path) says what was done.
func withNewToken(c *cobra.Command, path string, create bool, what string, edit func(f *File, hash string) error) error {
	f, err := LoadFile(path, create)
	if err != nil {
		return err
	}
	token, err := NewToken()
	if err != nil {
		return err
	}
	if err := edit(f, HashToken(token)); err != nil {
		return err
	}
	if err := f.Save(); err != nil {
		return err
	}
	return printToken(c, fmt.Sprintf(what, path), token)
}
