package v1alpha1

import "unicode/utf8"

// The status' size limits, each the value of a marker beside its field
// (TestLimitsMatchTheCRDSchema reads them back from the generated CRD).
const (
	// MaxReasonLength bounds a decision's and the recommendation's reason.
	MaxReasonLength = 1024
	// MaxNoteLength bounds a decision's predicted effect and observed
	// verdict, and each entry of status.slis.missing.
	MaxNoteLength = 256
	// MaxMissingItems bounds status.slis.missing.
	MaxMissingItems = 32
	// MaxHistoryItems bounds status.history.
	MaxHistoryItems = 10
	// MaxEventNoteLength bounds an Event's note (events.k8s.io/v1: 1 kB).
	MaxEventNoteLength = 1024
)

// Truncate shortens s to at most n bytes (and so at most n characters),
// ending a shortened text with an ellipsis and never cutting a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
