// Package v1alpha1 contains the PerformanceProfile API of the tuning.navius.io group.
// +kubebuilder:object:generate=true
// +groupName=tuning.navius.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the PerformanceProfile API.
	GroupVersion = schema.GroupVersion{Group: "tuning.navius.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
