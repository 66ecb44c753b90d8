package certs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// NewCommand returns `certs init` and `certs client`.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Make a local CA and certificates for TLS on every listener"}
	var dir string
	var hosts []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Make a local CA and the appliance's server certificate in --dir, and print how to use and trust them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required (e.g. --dir /etc/scadaotel/tls)")
			}
			if len(hosts) == 0 {
				// The machine's own name: clients on the network use it.
				if h, err := os.Hostname(); err == nil && h != "" {
					hosts = []string{h}
				}
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			made, err := Init(abs, hosts, time.Now())
			if err != nil {
				c.SilenceUsage = true
				return err
			}
			return printInit(c.OutOrStdout(), made)
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory for the CA and the certificate (created 0700 when missing)")
	initCmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address clients use to reach the appliance (repeatable, or comma-separated; default: this machine's host name). localhost, 127.0.0.1 and ::1 are always added")

	var clientDir, name string
	clientCmd := &cobra.Command{
		Use:   "client",
		Short: "Make a client certificate (mTLS) signed by the CA in --dir",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if clientDir == "" || name == "" {
				return fmt.Errorf("--dir and --name are required")
			}
			abs, err := filepath.Abs(clientDir)
			if err != nil {
				return err
			}
			made, err := Client(abs, name, time.Now())
			if err != nil {
				c.SilenceUsage = true
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "Client certificate %q (valid until %s):\n  %s\n  %s (0600: give it to that client only)\n"+
				"It is accepted when the appliance has SCADAOTEL_TLS_CLIENT_CA_FILE=%s.\n"+
				"  curl --cacert %s --cert %s --key %s https://<appliance>:8428/api/v1/query?query=up\n",
				name, made.NotAfter.UTC().Format("2006-01-02"), made.Files[0], made.Files[1],
				filepath.Join(abs, CAFile), filepath.Join(abs, CAFile), made.Files[0], made.Files[1])
			return err
		},
	}
	clientCmd.Flags().StringVar(&clientDir, "dir", "", "directory where certs init made the CA")
	clientCmd.Flags().StringVar(&name, "name", "", "the client's name (its certificate's common name and file name)")
	cmd.AddCommand(initCmd, clientCmd)
	return cmd
}

func printInit(w io.Writer, m *Made) error {
	ca := filepath.Join(m.Dir, CAFile)
	host := m.Names[0]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	_, err := fmt.Fprintf(w, `Made in %[1]s:
  %[2]s         the local CA's certificate: give it to every client (0644)
  %[3]s     the CA's key (0600): keep it away from the appliance once you have made what you need
  %[4]s     the appliance's certificate for %[5]s, valid until %[6]s (0644)
  %[7]s the appliance's key (0600): the appliance's user must be able to read it
             (e.g. sudo chown scadaotel: %[8]s)

Serve TLS on every listener: set in the appliance's environment
(/etc/scadaotel/scadaotel.env, or before bin/scadaotel):
  SCADAOTEL_TLS_CERT_FILE=%[9]s
  SCADAOTEL_TLS_KEY_FILE=%[8]s
and, to accept only clients with a certificate from this CA (mTLS;
make one with: scadaotel certs client --dir %[1]s --name <client>):
  SCADAOTEL_TLS_CLIENT_CA_FILE=%[10]s
A config of your own says the same in its top-level listener_tls: block
(cert_file, key_file, client_ca_file, reload_interval). A certificate
replaced in place is served within SCADAOTEL_TLS_RELOAD_INTERVAL (1m).

Trust the CA on each client:
  Debian/Ubuntu:  sudo cp %[10]s /usr/local/share/ca-certificates/scadaotel-ca.crt && sudo update-ca-certificates
  curl:           curl --cacert %[10]s https://%[11]s:8428/api/v1/query?query=up
  OTLP SDKs:      OTEL_EXPORTER_OTLP_CERTIFICATE=%[10]s, endpoint https://%[11]s:4318 (gRPC %[11]s:4317)
  Prometheus:     remote_write: [{url: https://%[11]s:9201/api/v1/write, tls_config: {ca_file: %[10]s}}]
  Grafana:        Prometheus data source https://%[11]s:8428, "Add self-signed certificate": paste ca.pem
  Browsers:       import ca.pem as a certificate authority, then open https://%[11]s:8080
`, m.Dir, CAFile, CAKeyFile, ServerFile, strings.Join(m.Names, ", "), m.NotAfter.UTC().Format("2006-01-02"),
		ServerKeyFile, filepath.Join(m.Dir, ServerKeyFile), filepath.Join(m.Dir, ServerFile), ca, host)
	return err
}
