package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/tenants"
)

// Issue 22: with audit.topic set, every record of the authenticator's audit
// trail reaches Kafka once, in chain order, as the JSON line the trail
// holds (seq, prev and hash included, so a consumer holding the key can
// verify the chain), whoever appended it; after a restart the export goes
// on from where it stopped, sending nothing twice.
func TestAuditTrailExportedInOrderOnceAcrossRestart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.audit"))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	data := t.TempDir()
	auditDir := filepath.Join(data, "audit")

	f := tenantauthextension.NewFactory()
	acfg := f.CreateDefaultConfig().(*tenantauthextension.Config)
	acfg.Tenants = []tenants.Spec{{ID: "west-pipeline-01", TokenSHA256: []string{tenants.HashToken("west")}}}
	acfg.Audit.Directory = auditDir
	auth, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), acfg)
	require.NoError(t, err)
	require.NoError(t, auth.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, auth.Shutdown(ctx)) }()
	trail := auth.(tenants.AuditProvider).AuditLog()
	require.NotNil(t, trail)

	// Another process (the tenants command) appends to the same directory.
	cli, err := audit.OpenDir(auditDir, 1<<20, 0)
	require.NoError(t, err)
	appendOne := func(l *audit.Log, action string) {
		_, err := l.Append(audit.Record{Actor: "cli:ops", Action: action, Object: "west-pipeline-01", Outcome: audit.Success})
		require.NoError(t, err)
	}
	appendOne(cli, "tenant_add")
	appendOne(trail, "login")
	appendOne(cli, "token_rotate")

	qdir := t.TempDir()
	run := func(total int, more ...string) []audit.Record {
		storageID, st := startStorage(t, qdir)
		cfg := crashConfig(c.ListenAddrs()[0], storageID)
		cfg.Authenticator = component.MustNewID("tenantauth")
		cfg.Audit.Topic = "scada.audit"
		cfg.Audit.PollInterval = 100 * time.Millisecond
		require.NoError(t, cfg.Validate())
		exp := newExporter(t, cfg, host{ext: map[component.ID]component.Component{storageID: st, cfg.Authenticator: auth}})
		for _, a := range more {
			appendOne(trail, a)
		}
		msgs := consumeAll(t, c.ListenAddrs(), "scada.audit", total+1, 3*time.Second) // one more than expected: none may come
		require.NoError(t, exp.Shutdown(ctx))
		require.NoError(t, st.Shutdown(ctx))
		var got []audit.Record
		for _, m := range msgs {
			var r audit.Record
			require.NoError(t, json.Unmarshal(m.Value, &r))
			assert.Equal(t, auditKey, string(m.Key))
			got = append(got, r)
		}
		return got
	}
	got := run(3)
	require.Len(t, got, 3)
	got = run(5, "logout", "tenants_reload")
	require.Len(t, got, 5, "after a restart only the new records were sent")

	want, err := audit.Read(auditDir, 0, 100)
	require.NoError(t, err)
	require.Len(t, want, 5)
	for i := range want {
		assert.Equal(t, want[i].Seq, got[i].Seq, "chain order")
		assert.Equal(t, want[i].Hash, got[i].Hash)
		assert.Equal(t, want[i].Prev, got[i].Prev)
		assert.Equal(t, want[i].Action, got[i].Action)
		assert.True(t, want[i].Time.Equal(got[i].Time))
	}
	assert.Equal(t, []string{"tenant_add", "login", "token_rotate", "logout", "tenants_reload"},
		[]string{got[0].Action, got[1].Action, got[2].Action, got[3].Action, got[4].Action})
}

// audit.topic without its prerequisites fails validation, naming the key.
func TestAuditExportConfigErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Audit.Topic = "scada.audit"
	cfg.SendingQueue.Get().StorageID = nil
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "audit.topic: needs authenticator")
	assert.Contains(t, err.Error(), "audit.topic: needs sending_queue.storage")
	cfg.Audit.PollInterval = time.Hour
	assert.Contains(t, cfg.Validate().Error(), "audit.poll_interval: must be in 100ms..1m")
}
