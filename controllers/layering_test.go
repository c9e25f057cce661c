package controllers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shippedFiles parses the package's own (non-test) files.
func shippedFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return fset, out
}

// The reconciler does IO and orchestration: the bookkeeping of the period
// (the ledger, its repair, the write order, the status summary) is the
// period package's, and where a knob lives is actuate's table. No
// declaration doing that work may come back here, and the reconciler calls
// the period only through its entry points, never the ledger's parts.
func TestTheReconcilerOnlyDoesIO(t *testing.T) {
	fset, files := shippedFiles(t)
	banned := []string{"recoverUnrecorded", "unrecordedDecisions", "detectConflicts", "hpaFields", "hpaSlot",
		"knownValues", "failedRolloutPlan", "restoreChanges", "dropUnapplied", "unapplied", "summarize", "facts",
		"recommendation", "wroteAfter", "appliedSince"}
	entryPoints := []string{"Repair", "Conflicts", "RolloutFailure", "EngineInput", "Apply", "Gate", "Summarize",
		"Summary", "Read", "World", "ChangesString", "DeliveryNote", "NextCheck"}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if slices.Contains(banned, n.Name.Name) {
					t.Errorf("%s: %s does the period's work in the reconciler", fset.Position(n.Pos()), n.Name.Name)
				}
			case *ast.ValueSpec:
				for _, id := range n.Names {
					if slices.Contains(banned, id.Name) {
						t.Errorf("%s: %s does the period's work in the reconciler", fset.Position(id.Pos()), id.Name)
					}
				}
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "period" && !slices.Contains(entryPoints, n.Sel.Name) {
					t.Errorf("%s: the reconciler calls period.%s, a part of the ledger, not an entry point", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
			return true
		})
	}
}

// decide assembles the engine's input and calls the engine, and nothing else.
func TestDecideOnlyAsksTheEngine(t *testing.T) {
	_, files := shippedFiles(t)
	var calls []string
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "decide" || fn.Recv == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					calls = append(calls, written(c.Fun))
				}
				return true
			})
		}
	}
	want := []string{"r.opts.Decide", "period.EngineInput"}
	if !slices.Equal(calls, want) {
		t.Errorf("decide calls %v, want only %v", calls, want)
	}
}

// written prints a called expression as written: r.opts.Decide.
func written(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return written(e.X) + "." + e.Sel.Name
	}
	return "?"
}
