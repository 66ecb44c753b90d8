package errorfanoutconnector

import (
	"errors"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// noteHistoryWrite counts a failed history write and reports the change
// between "written" and "not written" once each way (not per write): as a
// recoverable component status (StatusOK again once a write succeeds) and
// one log line. While writes fail the history lives in memory and the
// evaluation loop writes it again every interval; nothing is refused to the
// pipelines for it (a history write error is never a permanent error).
func (c *core) noteHistoryWrite(err error) {
	c.histMu.Lock()
	defer c.histMu.Unlock()
	if err != nil {
		reason := "io"
		if errors.Is(err, diskreserve.ErrFull) {
			reason = "disk_reserve"
		}
		if c.tel != nil {
			c.tel.historyWriteFailed(reason)
		}
		if !c.histFailing {
			c.histFailing = true
			c.logger.Error("alert history not written; kept in memory and written again every evaluation interval",
				zap.String("reason", reason), zap.Error(err))
			if c.host != nil {
				componentstatus.ReportStatus(c.host, componentstatus.NewRecoverableErrorEvent(err))
			}
		}
		return
	}
	if c.histFailing {
		c.histFailing = false
		c.logger.Info("alert history written again")
		if c.host != nil {
			componentstatus.ReportStatus(c.host, componentstatus.NewEvent(componentstatus.StatusOK))
		}
	}
}
