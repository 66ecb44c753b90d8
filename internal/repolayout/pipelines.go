package repolayout

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pipeline is one service pipeline: its component ids in config order.
type Pipeline struct {
	Receivers, Processors, Exporters []string
}

// ConfigPipelines returns the service.pipelines and service.extensions of a
// collector config.
func ConfigPipelines(config []byte) (map[string]Pipeline, []string, error) {
	var c struct {
		Service struct {
			Extensions []string            `yaml:"extensions"`
			Pipelines  map[string]Pipeline `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		return nil, nil, fmt.Errorf("cannot parse config: %w", err)
	}
	return c.Service.Pipelines, c.Service.Extensions, nil
}

// PipelinesHeader starts the table of pipelines in docs/architecture.md.
const PipelinesHeader = "| pipeline | receivers | processors | exporters |"

// DocPipelines returns the pipelines of the table that starts with
// PipelinesHeader: each cell a comma-separated list of code spans.
func DocPipelines(doc io.Reader) (map[string]Pipeline, error) {
	sc := bufio.NewScanner(doc)
	out := map[string]Pipeline{}
	in, row := false, 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !in {
			in = line == PipelinesHeader
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		if row++; row == 1 { // |---|
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("pipeline row %q: want 4 cells, got %d", line, len(cells))
		}
		names := codeSpans(cells[0])
		if len(names) != 1 {
			return nil, fmt.Errorf("pipeline row %q: want one pipeline name", line)
		}
		out[names[0]] = Pipeline{Receivers: codeSpans(cells[1]), Processors: codeSpans(cells[2]), Exporters: codeSpans(cells[3])}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !in {
		return nil, fmt.Errorf("no table starting with %q", PipelinesHeader)
	}
	return out, nil
}

var mermaidBlock = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

// Mermaid returns the first mermaid block of a Markdown document.
func Mermaid(doc []byte) (string, error) {
	m := mermaidBlock.FindSubmatch(doc)
	if m == nil {
		return "", fmt.Errorf("no mermaid block")
	}
	return string(m[1]), nil
}

func codeSpans(s string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
