package errorfanoutconnector

import (
	"go.uber.org/zap"
)

// noteHistoryWrite counts a failed history write and logs the change
// between "saving" and "not saving" once each way (not per write): while
// writes fail the history lives in memory and the evaluation loop writes it
// again every interval.
func (c *core) noteHistoryWrite(err error) {
	c.histMu.Lock()
	defer c.histMu.Unlock()
	if err != nil {
		if c.tel != nil {
			c.tel.historyWriteFailed("io")
		}
		if !c.histFailing {
			c.histFailing = true
			c.logger.Error("alert history not written; kept in memory and written again every evaluation interval", zap.Error(err))
		}
		return
	}
	if c.histFailing {
		c.histFailing = false
		c.logger.Info("alert history written again")
	}
}
