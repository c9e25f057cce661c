package main

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// setupControllers registers the reconcilers with the manager.
func setupControllers(mgr ctrl.Manager, o options) error {
	_ = mgr
	_ = o
	return nil
}
