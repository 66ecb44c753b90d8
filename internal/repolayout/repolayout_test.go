package repolayout

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeLayoutMatchesTree holds the root README's "Repository layout"
// table to the tree: every path in its first column exists, and every
// top-level directory with tracked files (dot directories left out, except
// .ci) is listed, on its own or as the first component of a listed path.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	root := filepath.Join("..", "..")
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	paths, err := LayoutPaths(f)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}

	listed := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Errorf("README.md's layout table lists %q, which does not exist: %v", p, err)
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(p, "./"), "/")
		listed[first] = true
	}

	cmd := exec.Command("git", "ls-files")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files (the test needs a git checkout): %v", err)
	}
	files := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, dir := range TopLevelDirs(files, ".ci") {
		if !listed[dir] {
			t.Errorf("top-level directory %s/ is missing from README.md's layout table", dir)
		}
	}
}

func TestLayoutPaths(t *testing.T) {
	readme := "# x\n\n## Repository layout\n\n| path | what |\n|---|---|\n" +
		"| `a/` | the a |\n| `b/`, `c/d/` | more, with `code` in the second cell |\n\n" +
		"| `not/` | another table |\n## Next\n"
	got, err := LayoutPaths(strings.NewReader(readme))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "a/ b/ c/d/" {
		t.Errorf("got %q", got)
	}
	if _, err := LayoutPaths(strings.NewReader("# no layout\n")); err == nil {
		t.Error("a README without the section was accepted")
	}
}

func TestTopLevelDirs(t *testing.T) {
	got := TopLevelDirs([]string{"go.mod", ".gitignore", ".ci/run", ".github/x.yml", "a/1", "a/2", "b/c/3"}, ".ci")
	if strings.Join(got, " ") != ".ci a b" {
		t.Errorf("got %q", got)
	}
}
