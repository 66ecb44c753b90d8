package tenantauthextension

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/tenants"
)

// AuditConfig places the audit trail (docs/tenancy.md, "Audit trail").
type AuditConfig struct {
	// Directory holds the audit files ("" turns the trail off); the chain
	// key is audit.key in its parent directory.
	Directory string `mapstructure:"directory"`
	// MaxFileMiB rotates the active file at this size.
	MaxFileMiB int `mapstructure:"max_file_mib"`
	// RetentionDays removes files whose last record is older (0: keep all).
	RetentionDays int `mapstructure:"retention_days"`
	// FailureWindow aggregates authentication failures per source address.
	FailureWindow time.Duration `mapstructure:"failure_window"`
	// CertificateFiles are checked every second; each change is recorded
	// (certificate_reload). The binary fills it from listener_tls.
	CertificateFiles []string `mapstructure:"certificate_files"`

	_ struct{}
}

func (c AuditConfig) validate() error {
	if c.Directory == "" {
		return nil // off: the other keys do not matter
	}
	var errs []error
	if c.MaxFileMiB < 1 || c.MaxFileMiB > 1024 {
		errs = append(errs, fmt.Errorf("audit.max_file_mib: must be in 1..1024, got %d", c.MaxFileMiB))
	}
	if c.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("audit.retention_days: must be >= 0 (0: keep all), got %d", c.RetentionDays))
	}
	if c.FailureWindow < time.Second || c.FailureWindow > time.Hour {
		errs = append(errs, fmt.Errorf("audit.failure_window: must be in 1s..1h, got %s", c.FailureWindow))
	}
	return errors.Join(errs...)
}

// auditor records what tenantauth decides; nil-safe when the trail is off.
type auditor struct {
	log      *audit.Log
	failures *audit.Failures
	roles    *audit.Failures // role refusals, aggregated per source
	logger   *zap.Logger
}

func newAuditor(cfg AuditConfig, logger *zap.Logger) (*auditor, error) {
	if cfg.Directory == "" {
		return nil, nil
	}
	l, err := audit.OpenDir(cfg.Directory, int64(cfg.MaxFileMiB)<<20, time.Duration(cfg.RetentionDays)*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("audit.directory: %w", err)
	}
	return &auditor{log: l, failures: audit.NewFailures(l, cfg.FailureWindow, 1024),
		roles: audit.NewFailures(l, cfg.FailureWindow, 1024), logger: logger}, nil
}

// refused records a refused authentication of source.
func (a *auditor) refused(d decision, source string) {
	if a == nil || d.status == 200 {
		return
	}
	a.failures.Record(audit.Record{Actor: "-", Tenant: d.tenant, Source: source, Action: "auth_failure",
		Outcome: audit.Refused, Detail: d.reason})
}

// roleRefused records a valid token refused for lack of a role: the first
// of a source at once, the rest of the window counted (like refused tokens).
func (a *auditor) roleRefused(rr tenants.RoleRefusal) {
	if a == nil {
		return
	}
	actor := rr.Token
	if actor == "" {
		actor = "-"
	}
	a.roles.Record(audit.Record{Actor: actor, Tenant: rr.Tenant, Source: rr.Source, Action: "role_refused",
		Object: string(rr.Needed), Outcome: audit.Refused, Detail: rr.Reason})
}

// reloaded records a tenants-file reload.
func (a *auditor) reloaded(file string) func([]string, error) {
	return func(ids []string, err error) {
		r := audit.Record{Actor: "tenants-file", Action: "tenants_reload", Object: file, Outcome: audit.Success,
			Detail: "tenants: " + strings.Join(ids, ",")}
		if err != nil {
			r.Outcome, r.Detail = audit.Failure, err.Error()
		}
		a.write(r)
	}
}

func (a *auditor) write(r audit.Record) {
	if a == nil {
		return
	}
	if _, err := a.log.Append(r); err != nil {
		a.logger.Error("Cannot write the audit trail", zap.String("action", r.Action), zap.Error(err))
	}
}

func (a *auditor) stop() {
	if a != nil {
		a.failures.Stop()
		a.roles.Stop()
	}
}

var _ tenants.AuditProvider = (*Extension)(nil)

// AuditLog implements tenants.AuditProvider (nil when the trail is off).
func (e *Extension) AuditLog() *audit.Log {
	if e.audit == nil {
		return nil
	}
	return e.audit.log
}
