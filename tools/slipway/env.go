package main

import (
	"slices"
	"strings"
)

// envVar is one environment variable.
type envVar struct{ Key, Value string }

// lookupEnv finds key in a KEY=value list; the last entry wins, as in os/exec.
func lookupEnv(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// setEnv returns environ with every entry of key replaced by key=value.
func setEnv(environ []string, key, value string) []string {
	environ = slices.DeleteFunc(environ, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == key
	})
	return append(environ, key+"="+value)
}

// serviceEnvPrefix is the prefix of parent variables meant for one service
// only: SLIPWAY_INVENTORY_DATABASE_URL becomes DATABASE_URL for inventory.
func serviceEnvPrefix(svc string) string {
	return "SLIPWAY_" + strings.ToUpper(svc) + "_"
}

// childEnv builds a child's environment from the parent's. In increasing
// order of precedence:
//
//   - defaults, for variables the parent leaves unset or empty, so that
//     `export DATABASE_URL=postgres://...` runs the fleet on PostgreSQL;
//   - the parent's environment;
//   - SLIPWAY_<SVC>_<NAME> variables of the parent, as NAME for that service;
//   - fixed, set whatever the parent says (the listen addresses, which
//     slipway must know to probe the service).
func childEnv(parent []string, svc string, defaults, fixed []envVar) []string {
	env := slices.Clone(parent)
	for _, d := range defaults {
		if v, _ := lookupEnv(env, d.Key); v == "" {
			env = setEnv(env, d.Key, d.Value)
		}
	}
	prefix := serviceEnvPrefix(svc)
	for _, kv := range parent {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, prefix); ok && name != "" {
			env = setEnv(env, name, v)
		}
	}
	for _, f := range fixed {
		env = setEnv(env, f.Key, f.Value)
	}
	return env
}

// replaceEnvVar returns vars with the value of every key entry replaced by
// value, adding it when there is none.
func replaceEnvVar(vars []envVar, key, value string) []envVar {
	found := false
	for i := range vars {
		if vars[i].Key == key {
			vars[i].Value, found = value, true
		}
	}
	if !found {
		vars = append(vars, envVar{key, value})
	}
	return vars
}
