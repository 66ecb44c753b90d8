package promremotewritereceiver

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

// bomb is a valid remote-write request whose one label value is size
// bytes of 'a': snappy compresses it about 20 times.
func bomb(t *testing.T, size int) []byte {
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "boom"}, {Name: "pad", Value: strings.Repeat("a", size)}},
		Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: 1}},
	}}}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	return raw
}

func postEncoded(t *testing.T, url, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.Header.Set("Authorization", "Bearer north")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// TestDecompressionBombsAreRefusedBeforeDecoding: a body over
// max_decoded_size once decompressed is refused with 413 naming the limit,
// whether snappy is marked with Content-Encoding or not, or gzip.
func TestDecompressionBombsAreRefusedBeforeDecoding(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	raw := bomb(t, 40<<20) // over the 32 MiB default
	compressed := snappy.Encode(nil, raw)
	require.Less(t, len(compressed), 4<<20, "the bomb is small on the wire")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw)
	require.NoError(t, zw.Close())

	for _, tc := range []struct {
		name, encoding string
		body           []byte
	}{
		{"unmarked snappy", "", compressed},
		{"snappy", "snappy", compressed},
		{"gzip", "gzip", gz.Bytes()},
	} {
		code, msg := postEncoded(t, url, tc.encoding, tc.body)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code, tc.name+": "+msg)
		assert.Contains(t, msg, "bytes", tc.name)
	}
	assert.Empty(t, sink.AllMetrics())

	// Under the limit, both snappy forms still work.
	small := snappy.Encode(nil, bomb(t, 1<<20))
	for _, enc := range []string{"", "snappy"} {
		code, msg := postEncoded(t, url, enc, small)
		assert.Equal(t, http.StatusNoContent, code, enc+": "+msg)
	}
	assert.Len(t, sink.AllMetrics(), 2)
}

func TestDecodeWriteRequestChecksTheLengthHeader(t *testing.T) {
	compressed := snappy.Encode(nil, bomb(t, 2<<20))
	_, err := decodeWriteRequest(compressed, 1<<20)
	require.ErrorIs(t, err, errDecodedTooLarge)
	wr, err := decodeWriteRequest(compressed, 4<<20)
	require.NoError(t, err)
	assert.Len(t, wr.Timeseries, 1)
	// A plain protobuf body is still accepted.
	wr, err = decodeWriteRequest(bomb(t, 10), 1<<20)
	require.NoError(t, err)
	assert.Len(t, wr.Timeseries, 1)
}

func TestConfigRefusesZeroDecodeLimits(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxDecodedSize, cfg.MaxConcurrentDecodes = 0, 0
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_decoded_size")
	assert.Contains(t, err.Error(), "max_concurrent_decodes")
}

// TestNamesTheStorageWouldChangeAreRefused (issue 19 point 11): a metric
// name the storage would store under another name ("utf8_名前" as "utf8"),
// a label name it would drop the series for, and a series without a name
// are refused with 400 naming the problem; valid Prometheus names pass.
func TestNamesTheStorageWouldChangeAreRefused(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	series := func(name string, labels ...prompb.Label) []byte {
		if name != "" {
			labels = append([]prompb.Label{{Name: "__name__", Value: name}}, labels...)
		}
		wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: labels, Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: 1}}}}}
		raw, err := wr.Marshal()
		require.NoError(t, err)
		return snappy.Encode(nil, raw)
	}
	for _, tc := range []struct {
		body []byte
		want string
	}{
		{series("utf8_名前"), "would not be stored under that name"},
		{series("foo__bar"), "would not be stored under that name"},
		{series("_foo"), "would not be stored under that name"},
		{series("ok_name", prompb.Label{Name: "名", Value: "v"}), "not a Prometheus label name"},
		{series("", prompb.Label{Name: "a", Value: "v"}), "no __name__"},
	} {
		code, msg := postEncoded(t, url, "snappy", tc.body)
		assert.Equal(t, http.StatusBadRequest, code, msg)
		assert.Contains(t, msg, tc.want)
	}
	assert.Empty(t, sink.AllMetrics())
	for _, name := range []string{"up", "node_cpu_seconds_total", "job:rate5m:sum", "Foo9_bar"} {
		code, msg := postEncoded(t, url, "snappy", series(name, prompb.Label{Name: "_private", Value: "v"}))
		assert.Equal(t, http.StatusNoContent, code, name+": "+msg)
	}
}
