package tenants

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// NewTokensCommand returns `tokens`: add, rotate, remove and list one
// tenant's named tokens in the tenants file the running appliance
// re-reads (ChangeToken, the code the UI's token API uses too). A new
// token is printed once on stdout; the file keeps only its SHA-256. Each
// change is appended to the audit trail (token_created, token_rotated,
// token_removed; actor cli:<user>).
func NewTokensCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage a tenant's named tokens and their roles (the tenants file the appliance re-reads while running)",
		Long: "Manage a tenant's named tokens (tokens: in the tenants file), each with a name and roles:\n" +
			"ingest (write), viewer (read), operator (viewer + acting on alarms), tenant-admin (operator + the tenant's tokens).\n" +
			"add and rotate print the new token once on stdout (only its SHA-256 is stored); a running appliance\n" +
			"picks the change up at its next tenants-file reload. Every change is recorded in the audit trail.",
	}
	var file, auditDir, tenant, name string
	var roles []string
	cmd.PersistentFlags().StringVar(&file, "tenants-file", "",
		"tenants file (default $"+tenantsFileEnv+", else <data dir>/tenants.yaml)")
	cmd.PersistentFlags().StringVar(&auditDir, "audit-dir", "",
		"audit trail the changes are recorded in (default <data dir>/audit, the data dir as for the file: $"+dataDirEnv+" or the file's directory)")
	cmd.PersistentFlags().StringVar(&tenant, "tenant", "", "the tenant whose tokens these are (required)")
	needTenant := func() error {
		if tenant == "" {
			return errors.New("--tenant is required")
		}
		return CheckID(tenant)
	}
	change := func(c *cobra.Command, op string) error {
		if err := needTenant(); err != nil {
			return err
		}
		if name == "" {
			return errors.New("--name is required")
		}
		path := tenantsFilePath(c, file)
		ch := TokenChange{Op: op, Tenant: tenant, Name: name, Roles: roles}
		token, err := ChangeToken(path, ch)
		if err != nil {
			return err
		}
		switch op {
		case TokenAdd:
			err = printToken(c, fmt.Sprintf("token %q of tenant %s (roles %s) added to %s", name, tenant, strings.Join(roles, ","), path), token)
		case TokenRotate:
			err = printToken(c, fmt.Sprintf("new token for %q of tenant %s in %s; the old one is revoked", name, tenant, path), token)
		default:
			_, err = fmt.Fprintf(c.ErrOrStderr(), "token %q of tenant %s removed from %s; a running appliance refuses it within seconds\n", name, tenant, path)
		}
		if err != nil {
			return err
		}
		return appendCLIAudit(auditDir, path, ch.AuditRecord(cliActor(), ""))
	}
	nameFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&name, "name", "", "the token's name: who or what holds it, the actor of the audit trail (required)")
	}

	add := &cobra.Command{
		Use:   "add",
		Short: "Add a named token with roles to a tenant; prints the token once",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(roles) == 0 {
				return errors.New("--roles is required: one or more of ingest, viewer, operator, tenant-admin")
			}
			return change(c, TokenAdd)
		},
	}
	nameFlag(add)
	add.Flags().StringSliceVar(&roles, "roles", nil, "comma-separated roles: ingest, viewer, operator, tenant-admin (required)")

	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Give a named token a new value (same name and roles); prints it once, the old one is revoked",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return change(c, TokenRotate) },
	}
	nameFlag(rotate)

	remove := &cobra.Command{
		Use:   "remove",
		Short: "Remove a named token (it stops working within seconds)",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return change(c, TokenRemove) },
	}
	nameFlag(remove)

	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's named tokens and their roles (never hashes)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needTenant(); err != nil {
				return err
			}
			toks, err := ListTokens(tenantsFilePath(c, file), tenant)
			if err != nil {
				return err
			}
			if len(toks) == 0 {
				_, err := fmt.Fprintf(c.OutOrStdout(), "tenant %s has no named tokens: add one with `scadaotel tokens add --tenant %s --name <name> --roles <roles>`\n", tenant, tenant)
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLES")
			for _, t := range toks {
				fmt.Fprintf(tw, "%s\t%s\n", t.Name, strings.Join(t.Roles, ","))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(add, rotate, remove, list)
	return cmd
}
