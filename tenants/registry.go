package tenants

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Registry holds the declared tenants and their token hashes: inline ones
// from the config plus those of a tenants file, which it re-reads (polling
// its content) so that added tenants and revoked tokens take effect without
// a restart. One Registry serves the whole process: the tenantauth extension
// owns it, and other components reach it through Provider.
type Registry struct {
	inline   []Spec
	defaults Limits
	file     string
	interval time.Duration
	logger   *zap.Logger
	limiter  *Limiter

	snap atomic.Pointer[snapshot]

	mu          sync.Mutex // guards fileData, fileMissing, stop and done
	fileData    []byte
	fileMissing bool
	stop        chan struct{}
	done        chan struct{}
	reloads     atomic.Int64
	failures    atomic.Int64
	onReload    atomic.Pointer[func(tenants []string, err error)]
	roleRefused atomic.Pointer[func(RoleRefusal)]
}

// OnRoleRefused calls f for every request CheckRole refuses (a valid
// token without the role): tenantauth writes them to the audit trail.
func (r *Registry) OnRoleRefused(f func(RoleRefusal)) { r.roleRefused.Store(&f) }

// OnReload calls f after every applied (err nil) or rejected reload of the
// tenants file: the audit trail records both.
func (r *Registry) OnReload(f func(tenants []string, err error)) { r.onReload.Store(&f) }

func (r *Registry) notifyReload(err error) {
	if f := r.onReload.Load(); f != nil {
		var ids []string
		if err == nil {
			for _, t := range r.Tenants() {
				ids = append(ids, t.ID)
			}
		}
		(*f)(ids, err)
	}
}

type tokenEntry struct {
	hash [sha256.Size]byte
	info TokenInfo
}

type snapshot struct {
	tenants map[string]Tenant
	tokens  []tokenEntry
	admins  []adminEntry
}

type adminEntry struct {
	hash  [sha256.Size]byte
	admin Administrator
}

// NewRegistry builds a registry from inline specs and an optional tenants
// file (read now; an unreadable or invalid file is an error at startup).
// interval is how often the file is checked for changes (<= 0: 1 s).
func NewRegistry(inline []Spec, file string, interval time.Duration, logger *zap.Logger) (*Registry, error) {
	return NewRegistryWithDefaults(inline, file, interval, logger, Limits{})
}

// NewRegistryWithDefaults is NewRegistry where each limit a tenant leaves
// at 0 is the one in defaults (0 there too: unlimited).
func NewRegistryWithDefaults(inline []Spec, file string, interval time.Duration, logger *zap.Logger, defaults Limits) (*Registry, error) {
	if err := defaults.Validate("default_limits"); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if interval <= 0 {
		interval = time.Second
	}
	if err := ValidateSpecs("tenants", inline); err != nil {
		return nil, err
	}
	r := &Registry{inline: inline, defaults: defaults, file: file, interval: interval, logger: logger}
	r.limiter = newLimiter(r)
	var fileSpecs fileShape
	if file != "" {
		data, err := os.ReadFile(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Fail closed but start: no tenants from the file until it
			// appears (picked up by the next poll).
			logger.Warn("Tenants file does not exist (yet): no tenants from it until it appears", zap.String("file", file))
			r.fileMissing = true
		case err != nil:
			return nil, fmt.Errorf("tenants_file: %w", err)
		default:
			if fileSpecs, err = parseFile(file, data); err != nil {
				return nil, fmt.Errorf("tenants_file: %w", err)
			}
			r.fileData = data
		}
	}
	snap, err := buildSnapshot(inline, fileSpecs, defaults)
	if err != nil {
		return nil, err
	}
	r.snap.Store(snap)
	processRegistry.Store(r) // TokenActor's names
	return r, nil
}

func buildSnapshot(inline []Spec, fromFile fileShape, defaults Limits) (*snapshot, error) {
	all := append(append([]Spec(nil), inline...), fromFile.Tenants...)
	if err := ValidateSpecs("tenants (inline and file together)", all); err != nil {
		return nil, err
	}
	s := &snapshot{tenants: make(map[string]Tenant, len(all))}
	for _, spec := range all {
		s.tenants[spec.ID] = Tenant{ID: spec.ID, Limits: spec.Limits.orDefaults(defaults), KafkaTopic: spec.KafkaTopic}
		for _, h := range spec.TokenSHA256 {
			sum, _ := parseHash(h) // validated above
			s.tokens = append(s.tokens, tokenEntry{hash: sum, info: TokenInfo{Tenant: spec.ID, Roles: LegacyRoles}})
		}
		for _, t := range spec.Tokens {
			sum, _ := parseHash(t.SHA256)
			roles, _ := ParseRoles(t.Roles)
			s.tokens = append(s.tokens, tokenEntry{hash: sum, info: TokenInfo{Tenant: spec.ID, Name: t.Name, Roles: roles}})
		}
	}
	if err := validateAdmins("administrators", fromFile.Administrators, all); err != nil {
		return nil, err
	}
	for _, a := range fromFile.Administrators {
		role := a.Role
		if role == "" {
			role = RoleSystem
		}
		for _, h := range a.TokenSHA256 {
			sum, _ := parseHash(h)
			s.admins = append(s.admins, adminEntry{hash: sum, admin: Administrator{Name: a.Name, Role: role}})
		}
	}
	return s, nil
}

// LookupAdministrator returns the administrator a bearer token names, in
// constant time like Lookup. Administrators read appliance-wide figures
// only: no component that serves tenant data accepts their tokens.
func (r *Registry) LookupAdministrator(token string) (Administrator, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Administrator
	for _, e := range r.snap.Load().admins {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			found = e.admin
		}
	}
	return found, found.Name != ""
}

// Lookup returns the tenant a bearer token selects. It hashes the token and
// compares the hash with every configured hash in constant time, so neither
// the result nor the position of a match shows in the timing.
func (r *Registry) Lookup(token string) (string, bool) {
	ti, ok := r.LookupToken(token)
	return ti.Tenant, ok
}

// LookupToken is Lookup with the token's name and roles.
func (r *Registry) LookupToken(token string) (TokenInfo, bool) {
	sum := sha256.Sum256([]byte(token))
	var found TokenInfo
	for _, e := range r.snap.Load().tokens {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			found = e.info
		}
	}
	return found, found.Tenant != ""
}

// Tenant returns a declared tenant.
func (r *Registry) Tenant(id string) (Tenant, bool) {
	t, ok := r.snap.Load().tenants[id]
	return t, ok
}

// Tenants returns all declared tenants sorted by id.
func (r *Registry) Tenants() []Tenant {
	s := r.snap.Load()
	out := make([]Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// File is the tenants file the registry reads ("" when it has none): the
// file the UI's token API edits.
func (r *Registry) File() string { return r.file }

// Limiter returns the process-wide per-tenant limiter of this registry.
func (r *Registry) Limiter() *Limiter { return r.limiter }

// Reloads and ReloadFailures count applied and rejected tenants file versions.
func (r *Registry) Reloads() int64        { return r.reloads.Load() }
func (r *Registry) ReloadFailures() int64 { return r.failures.Load() }

// Reload re-reads the tenants file now. An unchanged file is a no-op; an
// invalid one keeps the previous tenants and returns the error.
func (r *Registry) Reload() error {
	if r.file == "" {
		return nil
	}
	data, err := os.ReadFile(r.file)
	if errors.Is(err, fs.ErrNotExist) {
		// A removed file revokes its tenants (fail closed).
		r.mu.Lock()
		wasMissing := r.fileMissing
		r.fileMissing, r.fileData = true, nil
		r.mu.Unlock()
		if wasMissing {
			return nil
		}
		snap, err := buildSnapshot(r.inline, fileShape{}, r.defaults)
		if err != nil {
			return r.reloadFailed(err)
		}
		r.snap.Store(snap)
		r.reloads.Add(1)
		r.logger.Warn("Tenants file removed: its tenants are revoked", zap.String("file", r.file))
		r.notifyReload(nil)
		return nil
	}
	if err != nil {
		return r.reloadFailed(fmt.Errorf("cannot read tenants file: %w", err))
	}
	r.mu.Lock()
	same := bytes.Equal(data, r.fileData) && !r.fileMissing
	r.mu.Unlock()
	if same {
		return nil
	}
	specs, err := parseFile(r.file, data)
	if err != nil {
		return r.reloadFailed(err)
	}
	snap, err := buildSnapshot(r.inline, specs, r.defaults)
	if err != nil {
		return r.reloadFailed(err)
	}
	r.mu.Lock()
	r.fileData, r.fileMissing = data, false
	r.mu.Unlock()
	r.snap.Store(snap)
	r.reloads.Add(1)
	ids := make([]string, 0, len(snap.tenants))
	for id := range snap.tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	r.logger.Info("Tenants file reloaded", zap.String("file", r.file),
		zap.String("tenants", strings.Join(ids, ",")), zap.Int("tokens", len(snap.tokens)))
	r.notifyReload(nil)
	return nil
}

func (r *Registry) reloadFailed(err error) error {
	r.failures.Add(1)
	r.mu.Lock()
	r.fileData = nil // retry on the next tick even if the bad content stays
	r.mu.Unlock()
	r.logger.Error("Tenants file rejected; keeping the previous tenants", zap.String("file", r.file), zap.Error(err))
	r.notifyReload(err)
	return err
}

// StartWatching polls the tenants file every interval until StopWatching.
// Polling (rather than inotify) also sees files replaced by rename, as
// editors, config management and Kubernetes ConfigMaps do.
func (r *Registry) StartWatching() {
	if r.file == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil {
		return
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.watch(r.stop, r.done)
}

func (r *Registry) watch(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_ = r.Reload() // logged and counted inside
		}
	}
}

// StopWatching stops the polling goroutine and waits for it.
func (r *Registry) StopWatching() {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.stop, r.done = nil, nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}
