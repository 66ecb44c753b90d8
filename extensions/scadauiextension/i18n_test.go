package scadauiextension

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func catalogue(t *testing.T, name string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "ui", "web", "src", "i18n", name))
	require.NoError(t, err)
	var m map[string]string
	require.NoError(t, json.Unmarshal(raw, &m), name)
	return m
}

// TestCataloguesHaveTheSameKeys fails when a message exists in one language
// only, or when the code uses a literal key that no catalogue has.
func TestCataloguesHaveTheSameKeys(t *testing.T) {
	en, zh := catalogue(t, "en.json"), catalogue(t, "zh-CN.json")
	for k, v := range en {
		_, ok := zh[k]
		assert.True(t, ok, "key %q is in en.json but not in zh-CN.json", k)
		assert.NotEmpty(t, v, "en.json %q is empty", k)
	}
	for k, v := range zh {
		_, ok := en[k]
		assert.True(t, ok, "key %q is in zh-CN.json but not in en.json", k)
		assert.NotEmpty(t, v, "zh-CN.json %q is empty", k)
	}
	// Every literal t('key') in the sources is in the catalogue, and every
	// placeholder of a message exists in both languages.
	used := regexp.MustCompile(`\bt\('([A-Za-z0-9_.-]+)'\s*[,)]`)
	var files []string
	require.NoError(t, filepath.WalkDir(filepath.Join("..", "..", "ui", "web", "src"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".js") {
			files = append(files, p)
		}
		return err
	}))
	require.NotEmpty(t, files)
	n := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range used.FindAllStringSubmatch(string(src), -1) {
			n++
			_, ok := en[m[1]]
			assert.True(t, ok, "%s uses key %q, missing from the catalogues", f, m[1])
		}
	}
	assert.Greater(t, n, 30, "too few t('...') calls found: is the pattern still right?")
	ph := regexp.MustCompile(`\{\w+\}`)
	for k, v := range en {
		a, b := ph.FindAllString(v, -1), ph.FindAllString(zh[k], -1)
		slices.Sort(a)
		slices.Sort(b)
		assert.Equal(t, a, b, "placeholders of %q differ between en and zh-CN", k)
	}
}
