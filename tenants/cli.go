package tenants

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// NewCommand returns `tenants`, whose `hash-token` subcommand prints the
// SHA-256 hash to put in token_sha256 for a bearer token read from stdin
// (one token per line; never from argv, which other users can read in ps).
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Tenant administration helpers",
	}
	hash := &cobra.Command{
		Use:   "hash-token",
		Short: "Print the token_sha256 value of each bearer token read from stdin (one per line)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return hashTokens(c.InOrStdin(), c.OutOrStdout())
		},
	}
	cmd.AddCommand(hash)
	return cmd
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
