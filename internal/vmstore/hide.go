package vmstore

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metricsql"

	"github.com/scadaotel/scadaotel/tenants"
)

// The tenant label is how the storage keeps tenants apart (the enforced
// filter {scada_tenant="<tenant>"} selects a tenant's series), but it is
// not a label the user wrote: Prometheus would not have it. The query API
// removes it from every series before the expression above the series
// selector sees it, so matching, grouping and the answer are Prometheus'.
//
// VictoriaMetrics v1.151 has no hook between the storage search and the
// engine (app/vmselect/promql reads netstorage.Results itself, and
// storage.Search is a concrete type), so the removal is done inside the
// expression the engine evaluates: every leaf that produces series from
// storage (a selector, a rollup function over a selector, an aggregation
// over those) is wrapped in label_del(<leaf>, "scada_tenant"). The leaves
// keep their form, so the engine's own optimisations (incremental
// aggregation of sum(rate(x[5m])), label filter push-down through
// label_del, the rollup result cache) still apply. The enforced filter is
// unchanged: this never widens what a query can read. The only case left
// as it is is a bare range selector at the top of an instant query
// (x[5m], answered with raw samples): nothing is evaluated above it, so
// its answer is cleaned afterwards (see serveRawRange).

// hiddenQuery is a query prepared for evaluation.
type hiddenQuery struct {
	text     string        // what the engine evaluates
	rawRange bool          // a bare range selector: strip the label from the answer
	invalid  *invalidQuery // PromQL rejects it (see checkPromQL)
}

// hideTenant returns the query the engine evaluates for q. A query that
// does not parse is returned unchanged, so the engine reports its own
// parse error about the caller's text.
func hideTenant(q string) hiddenQuery {
	if hq, ok := preparedCache.get(q); ok {
		return hq
	}
	hq := prepare(q)
	preparedCache.put(q, hq)
	return hq
}

func prepare(q string) hiddenQuery {
	e, err := metricsql.Parse(q)
	if err != nil {
		return hiddenQuery{text: q}
	}
	invalid := checkPromQL(e)
	e, changed := mapSelectors(e, userTenantFilters)
	if isRawRange(e) {
		text := q
		if changed {
			text = string(e.AppendString(nil))
		}
		return hiddenQuery{text: text, rawRange: true, invalid: invalid}
	}
	e = metricsql.Optimize(e)
	e = stripExpr(e)
	return hiddenQuery{text: string(e.AppendString(nil)), invalid: invalid}
}

// preparedCache keeps prepared queries by text: dashboards repeat the same
// queries, and preparing one costs a parse (tens of microseconds).
var preparedCache = &queryCache{m: map[string]hiddenQuery{}}

type queryCache struct {
	mu sync.Mutex
	m  map[string]hiddenQuery
}

// maxPreparedQueries bounds the cache; past it, it starts over.
const maxPreparedQueries = 10000

func (c *queryCache) get(q string) (hiddenQuery, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hq, ok := c.m[q]
	return hq, ok
}

func (c *queryCache) put(q string, hq hiddenQuery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxPreparedQueries {
		c.m = map[string]hiddenQuery{}
	}
	c.m[q] = hq
}

// isRawRange reports whether e is a range selector with nothing above it
// (x[5m], x[5m] offset 1h): VictoriaMetrics answers it with raw samples.
func isRawRange(e metricsql.Expr) bool {
	re, ok := e.(*metricsql.RollupExpr)
	if !ok || re.Window == nil || re.Step != nil || re.InheritStep {
		return false
	}
	_, ok = re.Expr.(*metricsql.MetricExpr)
	return ok
}

// labelDel wraps e in label_del(e, labels...).
func labelDel(e metricsql.Expr, labels ...string) metricsql.Expr {
	args := []metricsql.Expr{e}
	for _, l := range labels {
		args = append(args, &metricsql.StringExpr{S: l})
	}
	return &metricsql.FuncExpr{Name: "label_del", Args: args}
}

// promDropsName are the PromQL range functions whose answer has no metric
// name in Prometheus while MetricsQL keeps it (VictoriaMetrics has no
// setting for this). Since the leaves are wrapped anyway, their metric
// name is removed in the same label_del, unless the query asks for
// keep_metric_names.
var promDropsName = map[string]bool{
	"avg_over_time":      true,
	"min_over_time":      true,
	"max_over_time":      true,
	"quantile_over_time": true,
	"holt_winters":       true,
	"predict_linear":     true,
}

// dropsName reports whether e is a call Prometheus answers without the
// metric name but MetricsQL with it.
func dropsName(e metricsql.Expr) bool {
	fe, ok := e.(*metricsql.FuncExpr)
	return ok && promDropsName[strings.ToLower(fe.Name)] && !fe.KeepMetricNames
}

// isSelectorArg reports whether e is a series selector as a function's
// series argument: x, x[5m], x offset 5m, x[5m] @ t (not a subquery).
func isSelectorArg(e metricsql.Expr) bool {
	switch t := e.(type) {
	case *metricsql.MetricExpr:
		return true
	case *metricsql.RollupExpr:
		if t.Step != nil || t.InheritStep {
			return false
		}
		_, ok := t.Expr.(*metricsql.MetricExpr)
		return ok
	}
	return false
}

// isLeaf reports whether e reads series from storage directly: a selector
// or a rollup function whose series argument is a selector. Its series
// carry the tenant label.
func isLeaf(e metricsql.Expr) bool {
	if isSelectorArg(e) {
		return true
	}
	fe, ok := e.(*metricsql.FuncExpr)
	if !ok || !metricsql.IsRollupFunc(fe.Name) {
		return false
	}
	for _, a := range fe.Args {
		if isSelectorArg(a) {
			return true
		}
	}
	return false
}

// stripExpr returns e rewritten so that none of its series carries the
// tenant label: leaves are wrapped in label_del, subqueries and the
// arguments of every function, aggregation and binary operation are
// rewritten the same way.
func stripExpr(e metricsql.Expr) metricsql.Expr {
	switch t := e.(type) {
	case *metricsql.MetricExpr:
		return labelDel(t, tenants.MetricLabel)
	case *metricsql.RollupExpr:
		if isSelectorArg(t) {
			return labelDel(t, tenants.MetricLabel)
		}
		// A subquery: its inner expression is evaluated on its own.
		c := *t
		c.Expr = stripExpr(t.Expr)
		return &c
	case *metricsql.FuncExpr:
		name := strings.ToLower(t.Name)
		c := *t
		c.Args = make([]metricsql.Expr, len(t.Args))
		leaf := false
		for i, a := range t.Args {
			switch {
			case (name == "absent" || metricsql.IsRollupFunc(name)) && isSelectorArg(a):
				// Kept as a selector: rollup functions need their range
				// argument, and absent() takes its answer's labels from
				// the selector's own filters (never the enforced one).
				c.Args[i] = a
				leaf = name != "absent"
			case metricsql.IsRollupFunc(name):
				if re, ok := a.(*metricsql.RollupExpr); ok {
					// rate(expr[10m:1m]): a subquery.
					rc := *re
					rc.Expr = stripExpr(re.Expr)
					c.Args[i] = &rc
					continue
				}
				c.Args[i] = stripExpr(a)
			default:
				c.Args[i] = stripExpr(a)
			}
		}
		switch {
		case leaf && dropsName(t):
			return labelDel(&c, tenants.MetricLabel, "__name__")
		case leaf:
			return labelDel(&c, tenants.MetricLabel)
		case dropsName(t):
			return labelDel(&c, "__name__")
		}
		return &c
	case *metricsql.AggrFuncExpr:
		c := *t
		c.Args = make([]metricsql.Expr, len(t.Args))
		leaf, name := false, false
		for i, a := range t.Args {
			if isLeaf(a) {
				name = name || dropsName(a)
				// Kept as is, so that the engine aggregates the leaf
				// incrementally; the aggregate is cleaned instead (the
				// label has one value in every series of a query, so
				// grouping by it never splits a group).
				c.Args[i] = a
				leaf = true
				continue
			}
			c.Args[i] = stripExpr(a)
		}
		if leaf {
			// Also when the grouping drops the label: topk, limitk,
			// outliersk and the like return their input series whatever
			// the grouping, and one label_del over an aggregate is cheap.
			if name {
				return labelDel(&c, tenants.MetricLabel, "__name__")
			}
			return labelDel(&c, tenants.MetricLabel)
		}
		return &c
	case *metricsql.BinaryOpExpr:
		c := *t
		c.Left = stripExpr(t.Left)
		c.Right = stripExpr(t.Right)
		return &c
	}
	return e
}

// cleanError removes the rewritten query and the enforced filter from an
// engine error about q, so that an error names only what the caller wrote.
func cleanError(msg, q string, hq hiddenQuery) string {
	if !strings.Contains(msg, tenants.MetricLabel) {
		return msg
	}
	pairs := [][2]string{{hq.text, q}}
	if e, err := metricsql.Parse(q); err == nil && !hq.rawRange {
		metricsql.VisitAll(metricsql.Optimize(e), func(n metricsql.Expr) {
			orig := string(n.AppendString(nil))
			pairs = append(pairs, [2]string{string(stripExpr(n).AppendString(nil)), orig})
		})
	}
	for _, p := range pairs {
		if p[0] == p[1] {
			continue
		}
		msg = strings.ReplaceAll(msg, p[0], p[1])
		// The same text inside a %q-quoted part of the message.
		msg = strings.ReplaceAll(msg, quoteInner(p[0]), quoteInner(p[1]))
	}
	msg = enforcedFilterRE.ReplaceAllString(msg, "")
	return msg
}

func quoteInner(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// enforcedFilterRE matches the enforced filter as VictoriaMetrics prints a
// search query's filters (plain or inside a %q-quoted message), and the
// wrapping of a leaf left over in a message.
var enforcedFilterRE = regexp.MustCompile(`,?\s*` + tenants.MetricLabel + `=~?(?:"[^"]*"|\\"(?:[^"\\]|\\[^"])*\\")|label_del\(|, \\?"` + tenants.MetricLabel + `\\?"\)`)

// invalidQuery is a query MetricsQL accepts but PromQL rejects; code and
// errType are Prometheus' (a parse error is 400 bad_data, a function's
// refusal 422 execution).
type invalidQuery struct {
	code    int
	errType string
	msg     string
}

func (e *invalidQuery) Error() string { return e.msg }

var promLabelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkPromQL returns the error Prometheus gives for q when q is one of
// the queries MetricsQL accepts but PromQL does not: a selector whose
// every matcher matches the empty string ({__name__=~".*"}), or an invalid
// label name in label_replace / label_join. It is nil otherwise.
func checkPromQL(e metricsql.Expr) *invalidQuery {
	var bad *invalidQuery
	metricsql.VisitAll(e, func(n metricsql.Expr) {
		if bad != nil {
			return
		}
		switch t := n.(type) {
		case *metricsql.MetricExpr:
			for _, lfs := range t.LabelFilterss {
				if allMatchEmpty(lfs) {
					bad = &invalidQuery{400, "bad_data", "vector selector must contain at least one non-empty matcher"}
					return
				}
			}
		case *metricsql.FuncExpr:
			name := strings.ToLower(t.Name)
			check := func(i int, what string) {
				if bad != nil || i >= len(t.Args) {
					return
				}
				if s, ok := t.Args[i].(*metricsql.StringExpr); ok && !promLabelNameRE.MatchString(s.S) {
					bad = &invalidQuery{422, "execution", "invalid " + what + " label name in " + name + "(): " + s.S}
				}
			}
			switch name {
			case "label_replace":
				check(1, "destination")
			case "label_join":
				check(1, "destination")
				for i := 3; i < len(t.Args); i++ {
					check(i, "source")
				}
			}
		}
	})
	return bad
}

// allMatchEmpty reports whether every filter of lfs matches a series
// without that label (the empty value), as Prometheus decides it.
func allMatchEmpty(lfs []metricsql.LabelFilter) bool {
	for _, f := range lfs {
		var m bool
		if f.IsRegexp {
			re, err := regexp.Compile("^(?:" + f.Value + ")$")
			if err != nil {
				return false // the engine reports the regexp
			}
			m = re.MatchString("")
		} else {
			m = f.Value == ""
		}
		if m == f.IsNegative {
			return false
		}
	}
	return true
}

// userTenantFilters gives the caller's own filters on the tenant label
// PromQL's meaning for a label no series has: one that matches the empty
// value ({scada_tenant=""}, {scada_tenant!="x"}) is always true and is
// dropped; one that does not ({scada_tenant="x"}, {scada_tenant=~"x.*"})
// is never true, so its group selects nothing. The enforced filter is not
// one of these (it is applied by the engine, outside the query): this can
// only narrow a read or leave it at the tenant's own series.
func userTenantFilters(me *metricsql.MetricExpr) (*metricsql.MetricExpr, bool) {
	has := false
	for _, lfs := range me.LabelFilterss {
		for _, f := range lfs {
			has = has || f.Label == tenants.MetricLabel
		}
	}
	if !has {
		return me, false
	}
	var out [][]metricsql.LabelFilter
	var first []metricsql.LabelFilter // the first group's other filters
	for i, lfs := range me.LabelFilterss {
		var g []metricsql.LabelFilter
		never := false
		for _, f := range lfs {
			if f.Label != tenants.MetricLabel {
				g = append(g, f)
			} else if !allMatchEmpty([]metricsql.LabelFilter{f}) {
				never = true
			}
		}
		if i == 0 {
			first = g
		}
		if never {
			continue
		}
		if len(g) == 0 {
			// Only always-true filters: every series (the Go API; the
			// HTTP API refuses such a selector, as Prometheus does).
			g = []metricsql.LabelFilter{{Label: "__name__", Value: ".+", IsRegexp: true}}
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		// Selects nothing: no value, not even the empty one, fails ".*".
		g := append(first, metricsql.LabelFilter{Label: tenants.MetricLabel, Value: ".*", IsRegexp: true, IsNegative: true})
		out = [][]metricsql.LabelFilter{g}
	}
	return &metricsql.MetricExpr{LabelFilterss: out}, true
}

// mapSelectors returns e with every selector replaced by f's answer, and
// whether anything changed (unchanged subtrees are shared).
func mapSelectors(e metricsql.Expr, f func(*metricsql.MetricExpr) (*metricsql.MetricExpr, bool)) (metricsql.Expr, bool) {
	mapArgs := func(args []metricsql.Expr) ([]metricsql.Expr, bool) {
		out := make([]metricsql.Expr, len(args))
		any := false
		for i, a := range args {
			var ch bool
			out[i], ch = mapSelectors(a, f)
			any = any || ch
		}
		return out, any
	}
	switch t := e.(type) {
	case *metricsql.MetricExpr:
		return f(t)
	case *metricsql.RollupExpr:
		inner, ch := mapSelectors(t.Expr, f)
		var at metricsql.Expr
		atCh := false
		if t.At != nil {
			at, atCh = mapSelectors(t.At, f)
		}
		if !ch && !atCh {
			return e, false
		}
		c := *t
		c.Expr = inner
		if atCh {
			c.At = at
		}
		return &c, true
	case *metricsql.FuncExpr:
		args, ch := mapArgs(t.Args)
		if !ch {
			return e, false
		}
		c := *t
		c.Args = args
		return &c, true
	case *metricsql.AggrFuncExpr:
		args, ch := mapArgs(t.Args)
		if !ch {
			return e, false
		}
		c := *t
		c.Args = args
		return &c, true
	case *metricsql.BinaryOpExpr:
		l, lch := mapSelectors(t.Left, f)
		r, rch := mapSelectors(t.Right, f)
		if !lch && !rch {
			return e, false
		}
		c := *t
		c.Left, c.Right = l, r
		return &c, true
	}
	return e, false
}
