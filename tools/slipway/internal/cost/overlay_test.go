package cost

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestRenderTheRealOverlays(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	tests := []struct {
		overlay          string
		cpuReq, memReq   float64 // per pod: cores, GiB
		cpuLim, memLim   float64
		minRepl, maxRepl int
	}{
		{"dev", 0.05, 64.0 / 1024, 0.5, 0.25, 1, 2},
		{"prod", 0.25, 0.25, 2, 0.5, 3, 10},
	}
	for _, tt := range tests {
		t.Run(tt.overlay, func(t *testing.T) {
			o, err := RenderOverlay(filepath.Join(root, overlaysDir, tt.overlay))
			require.NoError(t, err)
			assert.Empty(t, o.Notes)
			require.Len(t, o.Workloads, len(workspace.Known), "a workload per service")
			for i, svc := range workspace.Known {
				w := o.Workloads[i]
				assert.Equal(t, svc.Name, w.Service)
				assert.InDelta(t, tt.cpuReq, w.CPURequest, 1e-9, svc.Name)
				assert.InDelta(t, tt.memReq, w.MemRequest, 1e-9, svc.Name)
				assert.InDelta(t, tt.cpuLim, w.CPULimit, 1e-9, svc.Name)
				assert.InDelta(t, tt.memLim, w.MemLimit, 1e-9, svc.Name)
				assert.Equal(t, tt.minRepl, w.MinReplicas, svc.Name)
				assert.Equal(t, tt.maxRepl, w.MaxReplicas, svc.Name)
				assert.True(t, w.Autoscaled, svc.Name)
			}
		})
	}
	t.Run("prod's order pods are the Rollout's, its Deployment scaled to zero", func(t *testing.T) {
		o, err := RenderOverlay(filepath.Join(root, overlaysDir, "prod"))
		require.NoError(t, err)
		for _, w := range o.Workloads {
			if w.Service == "order" {
				assert.Equal(t, "Deployment (0 replicas), Rollout", w.Kinds)
				return
			}
		}
		t.Fatal("no order workload")
	})
}

func TestRenderAFixtureOverlay(t *testing.T) {
	o, err := RenderOverlay(filepath.Join("testdata", "overlays", "fixture"))
	require.NoError(t, err)
	assert.Equal(t, "fixture", o.Name)
	assert.Equal(t, []Workload{
		// main 500m/1Gi (limits 1/2Gi) + a sidecar with limits only, 100m/128Mi, which are its requests.
		{Service: "api", Kinds: "Deployment", CPURequest: 0.6, MemRequest: 1.125, CPULimit: 1.1, MemLimit: 2.125, MinReplicas: 2, MaxReplicas: 2},
		// The overlay's patch raised the CPU request to 1; the HPA scales it 1 to 4.
		{Service: "worker", Kinds: "Deployment", CPURequest: 1, MemRequest: 0.5, MinReplicas: 1, MaxReplicas: 4, Autoscaled: true},
		{Service: "batch", Kinds: "Deployment", CPURequest: 4, MemRequest: 8},
	}, o.Workloads)
}

func TestRenderOverlayErrors(t *testing.T) {
	tests := []struct {
		name, dir, want string
	}{
		{"no such overlay", filepath.Join("testdata", "overlays", "nope"), "kustomize testdata/overlays/nope"},
		{"a quantity Kubernetes refuses", filepath.Join("testdata", "overlays", "badquantity"), `Deployment api: container main: cpu "lots"`},
		{"no workloads", "testdata", "kustomize testdata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderOverlay(tt.dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadFindsHPAAndRolloutMistakes(t *testing.T) {
	pod := func(cpu string) podTemplate {
		var p podTemplate
		p.Spec.Containers = []container{{Name: "c"}}
		p.Spec.Containers[0].Resources.Requests = map[string]string{"cpu": cpu, "memory": "1Gi"}
		return p
	}
	ctrl := func(kind, name string) podController {
		var c podController
		c.Kind, c.Metadata.Name = kind, name
		c.Spec.Template = pod("1")
		return c
	}
	t.Run("minReplicas above maxReplicas", func(t *testing.T) {
		var h hpa
		h.Metadata.Name = "x"
		h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name = "Deployment", "x"
		five := 5
		h.Spec.MinReplicas, h.Spec.MaxReplicas = &five, 2
		err := (&Overlay{}).read([]podController{ctrl("Deployment", "x")}, []hpa{h})
		require.ErrorContains(t, err, "HorizontalPodAutoscaler x: minReplicas 5 above maxReplicas 2")
	})
	t.Run("a Rollout whose workloadRef is missing", func(t *testing.T) {
		r := ctrl("Rollout", "order")
		r.Spec.WorkloadRef = &struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		}{"Deployment", "gone"}
		err := (&Overlay{}).read([]podController{r}, nil)
		require.ErrorContains(t, err, "Rollout order: workloadRef Deployment gone is not in the overlay")
	})
	t.Run("a container that asks for nothing is noted", func(t *testing.T) {
		c := ctrl("Deployment", "x")
		c.Spec.Template.Spec.Containers[0].Resources.Requests = nil
		o := &Overlay{}
		require.NoError(t, o.read([]podController{c}, nil))
		require.Len(t, o.Notes, 1)
		assert.Contains(t, o.Notes[0], "Deployment x: container c requests no CPU or no memory")
		assert.Zero(t, o.Workloads[0].CPURequest)
	})
	t.Run("two controllers with pods add up", func(t *testing.T) {
		a, b := ctrl("Deployment", "a"), ctrl("StatefulSet", "b")
		b.Spec.Template = pod("3")
		one, three := 1, 3
		a.Spec.Replicas, b.Spec.Replicas = &one, &three
		a.Spec.Template.Metadata.Labels = map[string]string{"app.kubernetes.io/name": "svc"}
		b.Spec.Template.Metadata.Labels = map[string]string{"app.kubernetes.io/name": "svc"}
		o := &Overlay{}
		require.NoError(t, o.read([]podController{a, b}, nil))
		require.Len(t, o.Workloads, 1)
		w := o.Workloads[0]
		assert.Equal(t, 4, w.MaxReplicas)
		// 1 pod of 1 core and 3 of 3: 10 cores over 4 pods.
		assert.InDelta(t, 10.0, w.CPURequest*float64(w.MaxReplicas), 1e-9)
	})
}
