package tenantauthextension

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/tenants"
)

// ActionConfigLoad is the audit record of the configuration the appliance
// started with. The collector reads its configuration at start only, so a
// changed configuration shows as a start with another hash than the
// previous one.
const ActionConfigLoad = "config_load"

// configHashFile keeps the last start's configuration hash beside the
// audit directory (like audit.key), so the next start can say whether the
// configuration changed.
const configHashFile = "audit.config-sha256"

var _ extensioncapabilities.ConfigSnapshotWatcher = (*Extension)(nil)

// NotifyConfigSnapshot records the effective configuration's SHA-256 (its
// keys sorted, environment references expanded; the content itself is not
// written, it may hold secrets) and whether it differs from the last
// start's.
func (e *Extension) NotifyConfigSnapshot(_ context.Context, cs extensioncapabilities.ConfigSnapshot) error {
	if e.audit == nil || cs == nil {
		return nil
	}
	eff := cs.Effective()
	if eff == nil {
		return nil
	}
	b, err := json.Marshal(eff.ToStringMap())
	if err != nil {
		e.logger.Error("Cannot hash the configuration for the audit trail", zap.Error(err))
		return nil
	}
	sum := sha256.Sum256(b)
	hash := "sha256:" + hex.EncodeToString(sum[:])
	path := filepath.Join(filepath.Dir(filepath.Clean(e.audit.log.Dir())), configHashFile)
	prev, err := os.ReadFile(path)
	prev = bytes.TrimSpace(prev)
	var detail string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		detail = "first start with this audit trail"
	case err != nil:
		detail = "the previous start's configuration hash is unreadable: " + err.Error()
	case string(prev) == hash:
		detail = "unchanged since the last start"
	default:
		detail = "changed since the last start (was " + string(prev) + ")"
	}
	e.audit.write(audit.Record{Actor: "appliance", Action: ActionConfigLoad, Object: hash, Outcome: audit.Success, Detail: detail})
	if string(prev) != hash {
		if err := tenants.WriteFileAtomic(path, []byte(hash+"\n"), 0o600); err != nil {
			e.logger.Error("Cannot keep the configuration hash; the next start cannot say whether it changed", zap.String("file", path), zap.Error(err))
		}
	}
	return nil
}
