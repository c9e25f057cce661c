package main

import (
	"flag"
	"strings"
	"testing"
)

func TestMetricsCertFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{nil, ""},
		{[]string{"--metrics-cert-path=/certs"}, ""},
		{[]string{"--metrics-cert-path=/certs", "--metrics-secure=false"}, "--metrics-cert-path needs --metrics-secure"},
	} {
		o := parseOptions(t, tc.args)
		// A cert-manager Secret's file names by default.
		if o.metricsCertName != "tls.crt" || o.metricsCertKey != "tls.key" {
			t.Errorf("%v: cert files %q, %q", tc.args, o.metricsCertName, o.metricsCertKey)
		}
		expectValidation(t, o, tc.args, tc.wantErr)
	}
}

// A shard's selector selects on the shard label only (its workloads carry
// that label, copied from the profile), and a shard elects its leader on a
// Lease of its own.
func TestWatchLabelSelectorFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--watch-label-selector=tuning.navius.io/shard=a"}, ""},
		{[]string{"--watch-label-selector=!tuning.navius.io/shard"}, ""},
		{[]string{"--watch-label-selector=tuning.navius.io/shard in (a,b)", "--leader-elect", "--leader-election-id=navius-tuner-ab"}, ""},
		{[]string{"--watch-label-selector=team=payments"}, "a shard may select on tuning.navius.io/shard only"},
		{[]string{"--watch-label-selector=tuning.navius.io/shard=(a"}, "--watch-label-selector"},
		{[]string{"--watch-label-selector=tuning.navius.io/shard=a", "--leader-elect"}, "needs its own --leader-election-id"},
		// The default shard takes over the single manager's Lease.
		{[]string{"--watch-label-selector=!tuning.navius.io/shard", "--leader-elect"}, ""},
	} {
		expectValidation(t, parseOptions(t, tc.args), tc.args, tc.wantErr)
	}
}

func parseOptions(t *testing.T, args []string) options {
	t.Helper()
	o := defaultOptions()
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// expectValidation: o, parsed from args, is valid, or refused with an error that says wantErr.
func expectValidation(t *testing.T, o options, args []string, wantErr string) {
	t.Helper()
	err := o.validate()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%v: %v", args, err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("%v: got %v, want %q", args, err, wantErr)
	}
}
