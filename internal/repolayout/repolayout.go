// Package repolayout holds the repository's documents to the tree: the
// "Repository layout" table of the root README (every path it lists exists,
// every top-level directory is listed) and the pipelines that
// docs/architecture.md describes (exactly those of the embedded default
// config).
package repolayout

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Heading is the README section that holds the layout table.
const Heading = "## Repository layout"

var codeSpan = regexp.MustCompile("`([^`]+)`")

// LayoutPaths returns the paths named in the first column of the table under
// Heading, in order: every code span (`path`) of a row's first cell. The
// header row and the separator row are skipped; the table ends at the first
// line that is not a table row once it has started.
func LayoutPaths(readme io.Reader) ([]string, error) {
	sc := bufio.NewScanner(readme)
	inSection, inTable, row := false, false, 0
	var paths []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !inSection {
			inSection = line == Heading
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable || strings.HasPrefix(line, "#") {
				break
			}
			continue
		}
		inTable = true
		row++
		if row <= 2 { // header and |---|---|
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for _, m := range codeSpan.FindAllStringSubmatch(cells[0], -1) {
			paths = append(paths, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !inSection {
		return nil, fmt.Errorf("no %q section", Heading)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no paths in the first column of the table under %q", Heading)
	}
	return paths, nil
}

// TopLevelDirs returns the distinct first path components of files (as
// `git ls-files` prints them) that are directories, leaving out names that
// start with a dot except the ones in keepDot.
func TopLevelDirs(files []string, keepDot ...string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, f := range files {
		dir, _, isDir := strings.Cut(f, "/")
		if !isDir || seen[dir] {
			continue
		}
		seen[dir] = true
		if strings.HasPrefix(dir, ".") && !contains(keepDot, dir) {
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
