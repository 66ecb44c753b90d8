package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// NewCommand returns `audit verify`: the auditor's check of the trail.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Check the appliance's audit trail"}
	var dir, keyFile string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit trail's hash chain; names the first record that was changed, removed or reordered",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				data := os.Getenv("SCADAOTEL_DATA_DIR")
				if fl := c.Flag("data-dir"); fl != nil && fl.Value.String() != "" {
					data = fl.Value.String()
				}
				if data == "" {
					data = "data"
				}
				dir = filepath.Join(data, "audit")
			}
			var key []byte
			var err error
			if keyFile != "" {
				key, err = os.ReadFile(keyFile)
			} else {
				key, err = LoadKey(dir, false)
			}
			if err != nil {
				return err
			}
			s, err := Verify(dir, key)
			var broken *BrokenError
			if errors.As(err, &broken) {
				c.SilenceUsage = true
				return fmt.Errorf("%w (%d records before it verified)", err, s.Records)
			}
			if err != nil {
				return err
			}
			if s.Records == 0 {
				_, err = fmt.Fprintf(c.OutOrStdout(), "%s: no records\n", dir)
				return err
			}
			note := ""
			if s.StartsMidChain {
				note = "; older files were removed by retention, so the first record's link is taken on trust"
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s: %d records in %d files verified (records %d to %d)%s\n",
				dir, s.Records, s.Files, s.FirstSeq, s.Last, note)
			return err
		},
	}
	verify.Flags().StringVar(&dir, "dir", "", "audit directory (default <data dir>/audit)")
	verify.Flags().StringVar(&keyFile, "key", "", "chain key (default audit.key beside the directory)")
	cmd.AddCommand(verify)
	return cmd
}
