// Package v1alpha1 contains the PerformanceProfile API of the tuning.navius.io group.
// +kubebuilder:object:generate=true
// +groupName=tuning.navius.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the PerformanceProfile API.
	GroupVersion = schema.GroupVersion{Group: "tuning.navius.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version with a scheme.
	// It depends on apimachinery only, so the API package stays light to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PerformanceProfile{}, &PerformanceProfileList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
