package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// endpointCheck rejects malformed listen/dial addresses while the config is
// resolved, so `scadaotel validate` catches them too; the collector itself
// only finds a bad receiver endpoint when it tries to bind it.
type endpointCheck struct{}

func newEndpointCheckFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return endpointCheck{} })
}

func (endpointCheck) Convert(_ context.Context, conf *confmap.Conf) error {
	var errs []error
	keys := conf.AllKeys()
	sort.Strings(keys)
	for _, key := range keys {
		if key != "endpoint" && !strings.HasSuffix(key, confmap.KeyDelimiter+"endpoint") {
			continue
		}
		s, ok := conf.Get(key).(string)
		if !ok || s == "" {
			continue
		}
		if err := checkEndpoint(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", key, s, err))
		}
	}
	return errors.Join(errs...)
}

// checkEndpoint accepts host:port, a URL with a host (http, https, grpc,
// ...) and unix sockets.
func checkEndpoint(s string) error {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("not a valid URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil // gRPC resolver targets (dns:///, unix://, passthrough:///)
		}
		if u.Host == "" {
			return errors.New("URL has no host")
		}
		if p := u.Port(); p != "" {
			return checkPort(p)
		}
		if strings.HasSuffix(u.Host, ":") {
			return errors.New("empty port")
		}
		return nil
	}
	if strings.HasPrefix(s, "unix:") {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	return checkPort(port)
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return nil
}
