package alarm

import (
	"fmt"
	"sort"
	"strings"
)

// Label is one label equality of a selector.
type Label struct {
	Name, Value string
}

// Selector names a series: a metric name and label equalities, written
// like a Prometheus selector restricted to `=`:
// scada_pressure_gauge{station="ST-07", point="PT-101"}.
type Selector struct {
	Metric string
	Labels []Label // sorted by name
}

// String renders the selector in its own syntax.
func (s Selector) String() string {
	if len(s.Labels) == 0 {
		return s.Metric
	}
	var b strings.Builder
	b.WriteString(s.Metric)
	b.WriteByte('{')
	for i, l := range s.Labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Get returns the value the selector requires for name.
func (s Selector) Get(name string) (string, bool) {
	for _, l := range s.Labels {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' || c == '.' }

// ParseSelector parses `metric{name="value", ...}`. Only `=` is accepted:
// a definition watches one series, so regular expressions and negations
// have no meaning here. Label names may contain dots (resource attributes
// such as scada.station).
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	name := func() (string, error) {
		skip()
		start := i
		if i >= len(s) || !isNameStart(s[i]) {
			return "", fmt.Errorf("want a name at offset %d of %q", i, s)
		}
		for i < len(s) && isNameChar(s[i]) {
			i++
		}
		return s[start:i], nil
	}
	m, err := name()
	if err != nil {
		return sel, err
	}
	sel.Metric = m
	skip()
	if i == len(s) {
		return sel, nil
	}
	if s[i] != '{' {
		return sel, fmt.Errorf("unexpected %q at offset %d of %q", s[i], i, s)
	}
	i++
	seen := map[string]bool{}
	for {
		skip()
		if i < len(s) && s[i] == '}' {
			i++
			break
		}
		n, err := name()
		if err != nil {
			return sel, err
		}
		skip()
		if i >= len(s) || s[i] != '=' || (i+1 < len(s) && (s[i+1] == '~' || s[i+1] == '=')) {
			return sel, fmt.Errorf("label %s: only = is accepted (offset %d of %q)", n, i, s)
		}
		i++
		skip()
		if i >= len(s) || s[i] != '"' {
			return sel, fmt.Errorf("label %s: want a double-quoted value (offset %d of %q)", n, i, s)
		}
		i++
		var v strings.Builder
		closed := false
		for i < len(s) {
			c := s[i]
			i++
			if c == '\\' && i < len(s) {
				v.WriteByte(s[i])
				i++
				continue
			}
			if c == '"' {
				closed = true
				break
			}
			v.WriteByte(c)
		}
		if !closed {
			return sel, fmt.Errorf("label %s: unterminated value in %q", n, s)
		}
		if seen[n] {
			return sel, fmt.Errorf("label %s is given twice in %q", n, s)
		}
		seen[n] = true
		sel.Labels = append(sel.Labels, Label{n, v.String()})
		skip()
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		skip()
		if i < len(s) && s[i] == '}' {
			i++
			break
		}
		return sel, fmt.Errorf("want , or } at offset %d of %q", i, s)
	}
	skip()
	if i != len(s) {
		return sel, fmt.Errorf("unexpected text after } in %q", s)
	}
	sort.Slice(sel.Labels, func(a, b int) bool { return sel.Labels[a].Name < sel.Labels[b].Name })
	return sel, nil
}
