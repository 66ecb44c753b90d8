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

// It also splits comma-separated entries of a `brokers` list: the default
// config can only write ${env:SCADAOTEL_KAFKA_BROKERS} as one list element,
// and "k1:9092,k2:9092" there means two bootstrap brokers.
func (endpointCheck) Convert(_ context.Context, conf *confmap.Conf) error {
	var errs []error
	keys := conf.AllKeys()
	sort.Strings(keys)
	for _, key := range keys {
		if key != "endpoint" && !strings.HasSuffix(key, confmap.KeyDelimiter+"endpoint") {
			continue
		}
		var s string
		switch v := conf.Get(key).(type) {
		case nil:
			continue
		case string:
			s = v
		default:
			// A bare port (SCADAOTEL_QUERY_ENDPOINT=31428) expands to a
			// number: the collector would only refuse it when binding.
			errs = append(errs, fmt.Errorf("%s: %v: want host:port (e.g. 127.0.0.1:%v), got a %T", key, v, v, v))
			continue
		}
		if s == "" {
			continue
		}
		if err := checkEndpoint(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", key, s, err))
		}
	}
	if err := splitBrokers(conf); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// splitBrokers rewrites every `brokers` list so that an element "a,b" is
// two elements, and checks each broker is host:port.
func splitBrokers(conf *confmap.Conf) error {
	var errs []error
	update := map[string]any{}
	for _, key := range conf.AllKeys() {
		if key != "brokers" && !strings.HasSuffix(key, confmap.KeyDelimiter+"brokers") {
			continue
		}
		list, ok := conf.Get(key).([]any)
		if !ok {
			continue
		}
		var out []any
		changed := false
		for _, el := range list {
			s, ok := el.(string)
			if !ok {
				out = append(out, el)
				continue
			}
			parts := strings.Split(s, ",")
			if len(parts) > 1 {
				changed = true
			}
			for _, p := range parts {
				p = strings.TrimSpace(p)
				if p == "" {
					continue
				}
				if _, port, err := net.SplitHostPort(p); err != nil {
					errs = append(errs, fmt.Errorf("%s: broker %q: want host:port: %w", key, p, err))
				} else if err := checkPort(port); err != nil {
					errs = append(errs, fmt.Errorf("%s: broker %q: %w", key, p, err))
				}
				out = append(out, p)
			}
		}
		if changed {
			update[key] = out
		}
	}
	for key := range update {
		conf.Delete(key) // a merge could append to the old list
	}
	if len(update) > 0 {
		if err := conf.Merge(confmap.NewFromStringMap(update)); err != nil {
			errs = append(errs, err)
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
