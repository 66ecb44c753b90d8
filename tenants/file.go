package tenants

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// NewTenantsFileHeader is the comment at the top of a tenants file that
// `scadaotel tenants add` creates.
const NewTenantsFileHeader = `# scadaotel tenants, re-read while the appliance runs (changes apply within
# seconds). Only the SHA-256 of each bearer token is stored. Manage with:
#   scadaotel tenants add|list|rotate-token|remove
`

// NewToken returns a fresh random bearer token (256 bits, URL-safe base64:
// no spaces, no characters that need quoting in a header or a shell).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot read random bytes for a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// File is a tenants file being edited: its YAML node tree, so that comments
// and the order of keys survive a change (yaml.v3 keeps head, line and foot
// comments of the nodes it did not replace).
type File struct {
	Path   string
	exists bool
	mode   fs.FileMode
	doc    *yaml.Node // DocumentNode
}

// LoadFile reads and validates a tenants file for editing. A missing file
// is an empty one when allowMissing (it is created on Save), else an error
// that says how to create it.
func LoadFile(path string, allowMissing bool) (*File, error) {
	f := &File{Path: path, mode: 0o600}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !allowMissing {
			return nil, fmt.Errorf("tenants file %s does not exist: create it with `scadaotel tenants add <id> --file %s`", path, path)
		}
		data = []byte(NewTenantsFileHeader + "tenants: []\n")
	case err != nil:
		return nil, fmt.Errorf("cannot read tenants file: %w", err)
	default:
		f.exists = true
		if st, err := os.Stat(path); err == nil {
			f.mode = st.Mode().Perm()
		}
	}
	if _, err := ParseFile(path, data); err != nil {
		return nil, fmt.Errorf("%w (fix the file first; nothing was changed)", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse tenants file %s: %w", path, err)
	}
	if doc.Kind == 0 { // empty file or only comments
		doc = yaml.Node{Kind: yaml.DocumentNode, HeadComment: strings.TrimSpace(string(data))}
	}
	if len(doc.Content) == 0 {
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode}}
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("tenants file %s: want a mapping with a `tenants:` list at the top", path)
	}
	f.doc = &doc
	return f, nil
}

// tenantsSeq returns the `tenants:` sequence node, creating it if absent.
func (f *File) tenantsSeq() *yaml.Node {
	root := f.doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tenants" {
			v := root.Content[i+1]
			if v.Kind != yaml.SequenceNode { // `tenants:` (null)
				*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: v.HeadComment, LineComment: v.LineComment}
			}
			return v
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "tenants"}
	v := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	root.Content = append(root.Content, k, v)
	return v
}

// Specs returns the tenants the file declares now.
func (f *File) Specs() ([]Spec, error) {
	data, err := f.encode()
	if err != nil {
		return nil, err
	}
	return ParseFile(f.Path, data)
}

func (f *File) find(id string) (int, *yaml.Node) {
	seq := f.tenantsSeq()
	for i, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "id" && item.Content[j+1].Value == id {
				return i, item
			}
		}
	}
	return -1, nil
}

func hashSeq(hashes ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, h := range hashes {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: h})
	}
	return n
}

// Add declares a new tenant with one token hash (and an alert topic when
// kafkaTopic is not empty).
func (f *File) Add(id, tokenHash, kafkaTopic string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if i, _ := f.find(id); i >= 0 {
		return fmt.Errorf("tenant %q already exists in %s: use `scadaotel tenants rotate-token %s` for a new token", id, f.Path, id)
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	item := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		str("id"), str(id),
		str("token_sha256"), hashSeq(tokenHash),
	}}
	if kafkaTopic != "" {
		item.Content = append(item.Content, str("kafka_topic"), str(kafkaTopic))
	}
	seq := f.tenantsSeq()
	seq.Style = 0 // `tenants: []` becomes a block list
	seq.Content = append(seq.Content, item)
	return f.check()
}

// SetTokens replaces every token hash of tenant id (a rotation: the old
// tokens stop working once the appliance re-reads the file).
func (f *File) SetTokens(id string, hashes ...string) error {
	_, item := f.find(id)
	if item == nil {
		return f.unknown(id)
	}
	replaced := false
	for j := 0; j+1 < len(item.Content); j += 2 {
		if item.Content[j].Value == "token_sha256" {
			old := item.Content[j+1]
			n := hashSeq(hashes...)
			n.LineComment, n.FootComment = old.LineComment, old.FootComment
			item.Content[j+1] = n
			replaced = true
		}
	}
	if !replaced {
		item.Content = append(item.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "token_sha256"}, hashSeq(hashes...))
	}
	return f.check()
}

// Remove deletes tenant id.
func (f *File) Remove(id string) error {
	i, item := f.find(id)
	if item == nil {
		return f.unknown(id)
	}
	seq := f.tenantsSeq()
	seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle // `tenants: []`
	}
	return f.check()
}

func (f *File) unknown(id string) error {
	specs, _ := f.Specs()
	ids := make([]string, 0, len(specs))
	for _, s := range specs {
		ids = append(ids, s.ID)
	}
	known := "none"
	if len(ids) > 0 {
		known = strings.Join(ids, ", ")
	}
	return fmt.Errorf("no tenant %q in %s (tenants there: %s)", id, f.Path, known)
}

// check validates the edited file as the appliance will read it.
func (f *File) check() error {
	data, err := f.encode()
	if err != nil {
		return err
	}
	_, err = ParseFile(f.Path, data)
	return err
}

func (f *File) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f.doc); err != nil {
		return nil, fmt.Errorf("cannot encode tenants file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save writes the file atomically: a temporary file in the same directory,
// fsync'ed, renamed over the old one, then the directory fsync'ed. A reader
// (the appliance polling the file) sees the old or the new content, never
// a part; a crash leaves one of the two.
func (f *File) Save() error {
	data, err := f.encode()
	if err != nil {
		return err
	}
	if _, err := ParseFile(f.Path, data); err != nil {
		return err
	}
	return WriteFileAtomic(f.Path, data, f.mode)
}

// WriteFileAtomic replaces path with data (temp file + fsync + rename +
// directory fsync), with permissions perm.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create directory of %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("cannot write %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot replace %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename itself is durable once the directory is
		_ = d.Close()
	}
	return nil
}
