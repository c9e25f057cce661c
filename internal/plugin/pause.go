package plugin

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// setPaused sets or removes the paused annotation with a JSON merge patch
// as field manager kubectl-navius.
//
// Not server-side apply: an apply removes only what its own manager owns,
// so `resume` would leave an annotation set by `kubectl annotate` or by a
// GitOps tool in place and the profile would stay paused without a word.
// The merge patch removes it whoever set it (and tells who else owns it,
// since a GitOps tool will set it again at its next sync); pausing by hand
// is a person's override, like `kubectl annotate`, not a declaration to keep.
// The mode is left alone: resuming restores exactly what ran before.
func (o *Options) setPaused(cmd *cobra.Command, name string, on bool) error {
	p, err := o.profile(cmd.Context(), name)
	if err != nil {
		return err
	}
	was := p.Annotations[tuningv1alpha1.PausedAnnotation] == "true"
	others := annotationOwners(p)
	var value any // nil removes the annotation
	if on {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{tuningv1alpha1.PausedAnnotation: value}}})
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	if err := c.Patch(cmd.Context(), p, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("patching PerformanceProfile %s/%s: %w", p.Namespace, p.Name, err)
	}
	switch {
	case on && was:
		fprintf(o.Out, "%s/%s was already paused.\n", p.Namespace, p.Name)
	case on:
		fprintf(o.Out, "%s/%s paused: navius-tuner writes nothing to Deployment %s; status and recommendations go on (kubectl navius diff %s).\n",
			p.Namespace, p.Name, p.Spec.TargetRef.Name, p.Name)
	case !was:
		fprintf(o.Out, "%s/%s was not paused.\n", p.Namespace, p.Name)
	default:
		fprintf(o.Out, "%s/%s resumed: navius-tuner tunes Deployment %s again in mode %s.\n", p.Namespace, p.Name, p.Spec.TargetRef.Name, orDash(string(p.Spec.Mode)))
	}
	if !on && was && len(others) > 0 {
		fprintf(o.ErrOut, "Warning: %s set %s on this profile too and may set it again (a GitOps sync).\n",
			strings.Join(others, ", "), tuningv1alpha1.PausedAnnotation)
	}
	return nil
}

// annotationOwners are the field managers other than the plugin that own
// the paused annotation in the managedFields of p as it was read.
func annotationOwners(p *tuningv1alpha1.PerformanceProfile) []string {
	key := fmt.Sprintf("%q", "f:"+tuningv1alpha1.PausedAnnotation)
	var out []string
	for _, mf := range p.ManagedFields {
		if mf.Manager == FieldManager || mf.FieldsV1 == nil {
			continue
		}
		if strings.Contains(mf.FieldsV1.GetRawString(), key) {
			out = append(out, mf.Manager)
		}
	}
	return out
}
