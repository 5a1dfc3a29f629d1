package cost

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Workload is one service's pods in an overlay, as kustomize renders it:
// what each pod asks for and may use, and how many pods there are.
type Workload struct {
	Service string `json:"service"`
	Kinds   string `json:"kinds"` // e.g. "Deployment", "Rollout"
	// Per pod, summed over its containers; cores and GiB.
	CPURequest float64 `json:"cpu_request_cores"`
	MemRequest float64 `json:"memory_request_gib"`
	CPULimit   float64 `json:"cpu_limit_cores"` // 0: no limit
	MemLimit   float64 `json:"memory_limit_gib"`
	// MinReplicas and MaxReplicas are the HPA's bounds, or spec.replicas
	// for both when no HPA scales the workload.
	MinReplicas int  `json:"min_replicas"`
	MaxReplicas int  `json:"max_replicas"`
	Autoscaled  bool `json:"autoscaled"`
}

// Overlay is one rendered overlay's workloads, by service.
type Overlay struct {
	Name      string     `json:"name"`
	Dir       string     `json:"dir"`
	Workloads []Workload `json:"workloads"`
	Notes     []string   `json:"notes,omitempty"`
}

// The parts of the rendered objects cost reads.
type (
	object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	podController struct {
		object
		Spec struct {
			Replicas    *int        `json:"replicas"`
			Template    podTemplate `json:"template"`
			WorkloadRef *struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"workloadRef"` // Argo Rollouts: the pod template is the Deployment's
		} `json:"spec"`
	}
	podTemplate struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Containers []container `json:"containers"`
		} `json:"spec"`
	}
	container struct {
		Name      string `json:"name"`
		Resources struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
	}
	hpa struct {
		object
		Spec struct {
			ScaleTargetRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicas *int `json:"minReplicas"`
			MaxReplicas int  `json:"maxReplicas"`
		} `json:"spec"`
	}
)

// RenderOverlay renders dir as `kubectl apply -k dir` would (kustomize's
// default options: files only from inside each kustomization's own
// directory, no plugins) and reads every Deployment's and Rollout's pods.
func RenderOverlay(dir string) (*Overlay, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var controllers []podController
	var hpas []hpa
	for _, res := range m.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", dir, res.GetKind(), res.GetName(), err)
		}
		switch res.GetKind() {
		case "Deployment", "Rollout", "StatefulSet":
			var c podController
			if err := json.Unmarshal(data, &c); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", dir, res.GetKind(), res.GetName(), err)
			}
			controllers = append(controllers, c)
		case "HorizontalPodAutoscaler":
			var h hpa
			if err := json.Unmarshal(data, &h); err != nil {
				return nil, fmt.Errorf("%s: HorizontalPodAutoscaler %s: %w", dir, res.GetName(), err)
			}
			hpas = append(hpas, h)
		}
	}
	o := &Overlay{Name: filepath.Base(dir), Dir: dir}
	if err := o.read(controllers, hpas); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if len(o.Workloads) == 0 {
		return nil, fmt.Errorf("%s: no Deployment, StatefulSet or Rollout", dir)
	}
	return o, nil
}

// read turns the controllers and HPAs into one Workload per service.
func (o *Overlay) read(controllers []podController, hpas []hpa) error {
	var errs []error
	byService := map[string]int{}
	for _, c := range controllers {
		tmpl := c.Spec.Template
		if ref := c.Spec.WorkloadRef; ref != nil {
			i := slices.IndexFunc(controllers, func(d podController) bool { return d.Kind == ref.Kind && d.Metadata.Name == ref.Name })
			if i < 0 {
				errs = append(errs, fmt.Errorf("%s %s: workloadRef %s %s is not in the overlay", c.Kind, c.Metadata.Name, ref.Kind, ref.Name))
				continue
			}
			tmpl = controllers[i].Spec.Template
		}
		pod, err := podResources(tmpl)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", c.Kind, c.Metadata.Name, err))
			continue
		}
		for _, n := range pod.notes {
			o.Notes = append(o.Notes, fmt.Sprintf("%s %s: %s", c.Kind, c.Metadata.Name, n))
		}
		pod.MinReplicas, pod.MaxReplicas = 1, 1
		if c.Spec.Replicas != nil {
			pod.MinReplicas, pod.MaxReplicas = *c.Spec.Replicas, *c.Spec.Replicas
		}
		if i := slices.IndexFunc(hpas, func(h hpa) bool {
			return h.Spec.ScaleTargetRef.Kind == c.Kind && h.Spec.ScaleTargetRef.Name == c.Metadata.Name
		}); i >= 0 {
			h := hpas[i].Spec
			pod.MinReplicas, pod.MaxReplicas, pod.Autoscaled = 1, h.MaxReplicas, true
			if h.MinReplicas != nil {
				pod.MinReplicas = *h.MinReplicas
			}
			if pod.MinReplicas > pod.MaxReplicas {
				errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: minReplicas %d above maxReplicas %d", hpas[i].Metadata.Name, pod.MinReplicas, pod.MaxReplicas))
				continue
			}
		}
		pod.Service = serviceOf(c)
		pod.Kinds = c.Kind
		k, seen := byService[pod.Service]
		if !seen {
			byService[pod.Service] = len(o.Workloads)
			o.Workloads = append(o.Workloads, pod.Workload)
			continue
		}
		o.Workloads[k] = merge(o.Workloads[k], pod.Workload)
	}
	return errors.Join(errs...)
}

// merge adds b's pods to a's: a Deployment scaled to zero and the Rollout
// that runs its pods are one service. A controller with no pods adds nothing.
func merge(a, b Workload) Workload {
	switch {
	case b.MaxReplicas == 0:
		a.Kinds += ", " + b.Kinds + " (0 replicas)"
		return a
	case a.MaxReplicas == 0:
		b.Kinds = a.Kinds + " (0 replicas), " + b.Kinds
		return b
	}
	// Two controllers with pods: replicas add, per-pod figures are the
	// replica-weighted mean at maximum scale, so max-scale totals stay exact.
	out := Workload{Service: a.Service, Kinds: a.Kinds + ", " + b.Kinds, Autoscaled: a.Autoscaled || b.Autoscaled,
		MinReplicas: a.MinReplicas + b.MinReplicas, MaxReplicas: a.MaxReplicas + b.MaxReplicas}
	wa, wb := float64(a.MaxReplicas), float64(b.MaxReplicas)
	mean := func(x, y float64) float64 { return (x*wa + y*wb) / (wa + wb) }
	out.CPURequest, out.MemRequest = mean(a.CPURequest, b.CPURequest), mean(a.MemRequest, b.MemRequest)
	out.CPULimit, out.MemLimit = mean(a.CPULimit, b.CPULimit), mean(a.MemLimit, b.MemLimit)
	return out
}

// serviceOf is the service a controller runs: its pods'
// app.kubernetes.io/name, else its own name.
func serviceOf(c podController) string {
	if n := c.Spec.Template.Metadata.Labels["app.kubernetes.io/name"]; n != "" {
		return n
	}
	if n := c.Metadata.Labels["app.kubernetes.io/name"]; n != "" {
		return n
	}
	return c.Metadata.Name
}

type podFigures struct {
	Workload
	notes []string
}

// podResources sums the containers' requests and limits. A container
// without a request but with a limit is given the limit, as Kubernetes
// does; one with neither asks nothing, which costs nothing here and is noted.
func podResources(t podTemplate) (podFigures, error) {
	var p podFigures
	if len(t.Spec.Containers) == 0 {
		return p, errors.New("no containers")
	}
	var errs []error
	for _, c := range t.Spec.Containers {
		get := func(m map[string]string, key string) (float64, bool) {
			s, ok := m[key]
			if !ok {
				return 0, false
			}
			q, err := resource.ParseQuantity(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s: %s %q: %w", c.Name, key, s, err))
				return 0, false
			}
			return q.AsApproximateFloat64(), true
		}
		cpuLim, hasCPULim := get(c.Resources.Limits, "cpu")
		memLim, hasMemLim := get(c.Resources.Limits, "memory")
		cpuReq, hasCPUReq := get(c.Resources.Requests, "cpu")
		memReq, hasMemReq := get(c.Resources.Requests, "memory")
		if !hasCPUReq {
			cpuReq = cpuLim
		}
		if !hasMemReq {
			memReq = memLim
		}
		if !hasCPUReq && !hasCPULim || !hasMemReq && !hasMemLim {
			p.notes = append(p.notes, fmt.Sprintf("container %s requests no CPU or no memory: that part costs nothing at its requests", c.Name))
		}
		p.CPURequest += cpuReq
		p.MemRequest += memReq / gib
		p.CPULimit += cpuLim
		p.MemLimit += memLim / gib
	}
	return p, errors.Join(errs...)
}

// gib is the bytes in a GiB.
const gib = 1 << 30
