package tenants

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/internal/audit"
)

// Named-token lifecycle (issue 22): add, rotate, remove and list one
// tenant's named tokens (`tokens:` in the tenants file). The `scadaotel
// tokens` command and the UI's token API (scada_ui, /ui/api/tokens) both
// go through ChangeToken and ListTokens, so the file is edited in one
// place: the YAML node tree of File (comments and key order kept), saved
// atomically, under a lock on the file's directory so that the command
// and the appliance never interleave a read-modify-write.

// Token operations.
const (
	TokenAdd    = "add"
	TokenRotate = "rotate"
	TokenRemove = "remove"
)

// Audit actions of the token operations.
const (
	ActionTokenCreated = "token_created"
	ActionTokenRotated = "token_rotated"
	ActionTokenRemoved = "token_removed"
)

var (
	// ErrTokenNotFound: no such token (or tenant) in the tenants file. A
	// tenant-scoped caller gets it for another tenant's token name too.
	ErrTokenNotFound = errors.New("not found")
	// ErrTokenExists: the tenant already has a token of that name.
	ErrTokenExists = errors.New("already exists")
)

// TokenChange is one change to a tenant's named tokens.
type TokenChange struct {
	Op     string   // TokenAdd, TokenRotate or TokenRemove
	Tenant string   // the tenant whose token it is
	Name   string   // the token's name
	Roles  []string // TokenAdd: its roles
}

// TokenListing is what a list shows of a token: never its hash.
type TokenListing struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// AuditRecord is the audit trail's record of a change made by actor.
func (ch TokenChange) AuditRecord(actor, source string) audit.Record {
	action := map[string]string{TokenAdd: ActionTokenCreated, TokenRotate: ActionTokenRotated, TokenRemove: ActionTokenRemoved}[ch.Op]
	r := audit.Record{Actor: actor, Tenant: ch.Tenant, Source: source, Action: action, Object: ch.Name, Outcome: audit.Success}
	if ch.Op == TokenAdd {
		r.Detail = "roles " + strings.Join(ch.Roles, ",")
	}
	return r
}

// ChangeToken applies ch to the tenants file at path and returns the new
// bearer token for TokenAdd and TokenRotate (256 random bits; only its
// SHA-256 is written). Errors wrap ErrTokenNotFound or ErrTokenExists, or
// say what is wrong with the name or roles.
func ChangeToken(path string, ch TokenChange) (string, error) {
	if err := CheckID(ch.Tenant); err != nil {
		return "", fmt.Errorf("tenant: %w", err)
	}
	if err := CheckTokenName(ch.Name); err != nil {
		return "", err
	}
	unlock, err := lockDir(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	defer unlock()
	f, err := LoadFile(path, false)
	if err != nil {
		return "", err
	}
	var token string
	switch ch.Op {
	case TokenAdd, TokenRotate:
		if token, err = NewToken(); err != nil {
			return "", err
		}
		if ch.Op == TokenAdd {
			err = f.AddToken(ch.Tenant, ch.Name, HashToken(token), ch.Roles)
		} else {
			err = f.RotateToken(ch.Tenant, ch.Name, HashToken(token))
		}
	case TokenRemove:
		err = f.RemoveToken(ch.Tenant, ch.Name)
	default:
		err = fmt.Errorf("unknown token operation %q (want add, rotate or remove)", ch.Op)
	}
	if err != nil {
		return "", err
	}
	if err := f.Save(); err != nil {
		return "", err
	}
	return token, nil
}

// ListTokens lists tenant's named tokens in the tenants file at path
// (names and roles, never hashes).
func ListTokens(path, tenant string) ([]TokenListing, error) {
	f, err := LoadFile(path, false)
	if err != nil {
		return nil, err
	}
	return f.Tokens(tenant)
}

// lockDir holds an exclusive lock on dir (flock on the directory itself,
// so no lock file is left beside the tenants file).
func lockDir(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot lock the tenants file's directory: %w", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("cannot lock the tenants file's directory: %w", err)
	}
	return func() { _ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN); d.Close() }, nil
}

// tenantTokens returns the tenant's mapping node and its `tokens:`
// sequence (nil if it has none); a missing tenant is ErrTokenNotFound.
func (f *File) tenantTokens(tenant string) (*yaml.Node, *yaml.Node, error) {
	_, item := f.find(tenant)
	if item == nil {
		return nil, nil, fmt.Errorf("tenant %q in %s: %w", tenant, f.Path, ErrTokenNotFound)
	}
	for j := 0; j+1 < len(item.Content); j += 2 {
		if item.Content[j].Value == "tokens" {
			v := item.Content[j+1]
			if v.Kind != yaml.SequenceNode { // `tokens:` (null)
				*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: v.HeadComment, LineComment: v.LineComment}
			}
			return item, v, nil
		}
	}
	return item, nil, nil
}

// tokenField returns the value node of key in a token's mapping.
func tokenField(tok *yaml.Node, key string) *yaml.Node {
	for j := 0; j+1 < len(tok.Content); j += 2 {
		if tok.Content[j].Value == key {
			return tok.Content[j+1]
		}
	}
	return nil
}

// findToken returns the index of the token named name in seq, or -1.
func findToken(seq *yaml.Node, name string) int {
	if seq == nil {
		return -1
	}
	for i, tok := range seq.Content {
		if tok.Kind == yaml.MappingNode {
			if n := tokenField(tok, "name"); n != nil && n.Value == name {
				return i
			}
		}
	}
	return -1
}

func (f *File) missingToken(tenant, name string) error {
	return fmt.Errorf("no token named %q in tenant %s: %w", name, tenant, ErrTokenNotFound)
}

// AddToken gives tenant a named token with roles.
func (f *File) AddToken(tenant, name, tokenHash string, roles []string) error {
	if _, err := ParseRoles(roles); err != nil {
		return err
	}
	if len(roles) == 0 {
		return errors.New("roles: at least one of ingest, viewer, operator, tenant-admin")
	}
	item, seq, err := f.tenantTokens(tenant)
	if err != nil {
		return err
	}
	if findToken(seq, name) >= 0 {
		return fmt.Errorf("tenant %s already has a token named %q (rotate it, or remove it first): %w", tenant, name, ErrTokenExists)
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	rs := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, r := range roles {
		rs.Content = append(rs.Content, str(r))
	}
	tok := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, Content: []*yaml.Node{
		str("name"), str(name), str("sha256"), str(tokenHash), str("roles"), rs,
	}}
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		item.Content = append(item.Content, str("tokens"), seq)
	}
	seq.Style = 0 // `tokens: []` becomes a block list
	seq.Content = append(seq.Content, tok)
	return f.check()
}

// RotateToken replaces the hash of tenant's token name (the old token
// stops working once the appliance re-reads the file; name and roles stay).
func (f *File) RotateToken(tenant, name, tokenHash string) error {
	_, seq, err := f.tenantTokens(tenant)
	if err != nil {
		return err
	}
	i := findToken(seq, name)
	if i < 0 {
		return f.missingToken(tenant, name)
	}
	h := tokenField(seq.Content[i], "sha256")
	if h == nil {
		return fmt.Errorf("token %q of tenant %s has no sha256", name, tenant)
	}
	h.Value, h.Tag, h.Style = tokenHash, "!!str", 0
	return f.check()
}

// RemoveToken deletes tenant's token name.
func (f *File) RemoveToken(tenant, name string) error {
	_, seq, err := f.tenantTokens(tenant)
	if err != nil {
		return err
	}
	i := findToken(seq, name)
	if i < 0 {
		return f.missingToken(tenant, name)
	}
	seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle // `tokens: []`
	}
	return f.check()
}

// Tokens lists tenant's named tokens: names and roles as written.
func (f *File) Tokens(tenant string) ([]TokenListing, error) {
	specs, err := f.Specs()
	if err != nil {
		return nil, err
	}
	for _, s := range specs {
		if s.ID == tenant {
			out := make([]TokenListing, 0, len(s.Tokens))
			for _, t := range s.Tokens {
				out = append(out, TokenListing{Name: t.Name, Roles: append([]string{}, t.Roles...)})
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("tenant %q in %s: %w", tenant, f.Path, ErrTokenNotFound)
}

// CheckTokenName says what is wrong with a token name, if anything.
func CheckTokenName(name string) error {
	if !tokenNamePattern.MatchString(name) {
		return fmt.Errorf("token name %q: want letters, digits, '.', '_', '@' or '-' (at most 63)", name)
	}
	return nil
}
