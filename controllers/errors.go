package controllers

import (
	"errors"
	"fmt"
)

// stallError is a problem only a person can fix (a bad spec): the profile is
// Stalled and is not retried until it or a watched object changes.
type stallError struct {
	reason, message string
}

func (e *stallError) Error() string { return e.reason + ": " + e.message }

func stall(reason, message string) error { return &stallError{reason: reason, message: message} }

// waitError is a missing dependency (the target, the HPA, the Redis workload):
// the reconcile stops without writing and is retried after a while, or as
// soon as a watch sees the dependency appear.
type waitError struct {
	reason, message string
}

func (e *waitError) Error() string { return e.reason + ": " + e.message }

func waitFor(reason, message string) error { return &waitError{reason: reason, message: message} }

// asStall and asWait unwrap a phase error.
func asStall(err error) (*stallError, bool) {
	var e *stallError
	return e, errors.As(err, &e)
}

func asWait(err error) (*waitError, bool) {
	var e *waitError
	return e, errors.As(err, &e)
}

// staleError says the reconcile read a copy of the profile or of its
// workload that is older than the API server's: it writes nothing and runs
// again with fresh copies soon after.
type staleError struct{ what string }

func (e *staleError) Error() string { return "stale read: " + e.what }

func stale(format string, args ...any) error { return &staleError{what: fmt.Sprintf(format, args...)} }

func asStale(err error) (*staleError, bool) {
	var e *staleError
	return e, errors.As(err, &e)
}
