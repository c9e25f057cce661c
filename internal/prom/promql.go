package prom

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// partLabel is the label every branch of a batched query carries, so that one
// query can return several kinds of series (buckets, sums, counts, freshness)
// and the client can tell them apart.
const partLabel = "navius_part"

// labelNameRE is the classic Prometheus label name syntax. Profiles may only
// scope queries by such names: a key is pasted into PromQL, so it is checked,
// never escaped.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// quote renders s as a PromQL double-quoted string literal. PromQL string
// literals use Go's escape rules, so strconv.Quote is exact: no quote,
// backslash or newline in s can end the literal.
func quote(s string) string { return strconv.Quote(s) }

// matcher is one label matcher of a selector.
type matcher struct {
	name, op, value string
}

func (m matcher) String() string { return m.name + m.op + quote(m.value) }

// anyOf returns a matcher that selects exactly the given values of a label,
// each matched literally (regexp.QuoteMeta, then quoted as a string). When
// there are more than maxValues values the matcher only requires the label to
// be set, which keeps the query short; the series are then split client-side.
func anyOf(name string, values []string, maxValues int) matcher {
	vs := uniqueSorted(values)
	if maxValues > 0 && len(vs) > maxValues {
		return matcher{name: name, op: "!=", value: ""}
	}
	if len(vs) == 1 {
		return matcher{name: name, op: "=", value: vs[0]}
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = regexp.QuoteMeta(v)
	}
	return matcher{name: name, op: "=~", value: strings.Join(q, "|")}
}

// selector renders a series selector such as metric{a="x",b=~"y|z"}.
func selector(metric string, ms ...matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return metric + "{" + strings.Join(parts, ",") + "}"
}

// promDuration renders a window as a PromQL duration such as 5m or 1m30s.
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// tagged marks every series of expr with partLabel=part.
func tagged(part, expr string) string {
	return fmt.Sprintf("label_replace(%s, %q, %q, %q, %q)", expr, partLabel, part, partLabel, ".*")
}

// union joins tagged branches with `or`. The branches differ in partLabel, so
// `or` keeps every series of every branch.
func union(branches ...string) string { return strings.Join(branches, "\n  or ") }

// byClause renders the grouping labels of an aggregation.
func byClause(labels ...string) string { return "by (" + strings.Join(labels, ", ") + ")" }

func uniqueSorted(values []string) []string {
	seen := make(map[string]struct{}, len(values))
	out := make([]string, 0, len(values))
	for _, v := range values {
		if _, ok := seen[v]; ok {
			continue
		}
		seen[v] = struct{}{}
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
