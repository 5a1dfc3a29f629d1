package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/platform/redact"
)

// EnvVar is one environment variable a config struct reads, as -help lists
// it: generated from the struct's tags, so the list cannot drift from what
// Load reads.
type EnvVar struct {
	Name    string // the env tag
	Default string // the value before the environment applies; "" is unset
	Key     string // the YAML key, dotted for nested mappings; "" when not in the file
	Doc     string // the field's help tag
	Secret  bool   // the default is never shown
}

// EnvVars lists the environment variables of cfg, a pointer to a config
// struct whose defaults are set, in the order of its fields. Secret
// defaults show as "(set)", and passwords in URLs are masked.
func EnvVars(cfg any) ([]EnvVar, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: EnvVars needs a non-nil pointer to a struct, got %T", cfg)
	}
	fields, err := fieldsOf(rv.Elem().Type(), false)
	if err != nil {
		return nil, err
	}
	var out []EnvVar
	envVarsOf(rv.Elem(), fields, "", &out)
	return out, nil
}

func envVarsOf(v reflect.Value, fields []field, prefix string, out *[]EnvVar) {
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		key := f.key
		if key != "" && prefix != "" {
			key = prefix + "." + key
		}
		if f.nested != nil {
			envVarsOf(fv, f.nested, key, out)
			continue
		}
		if f.env == "" {
			continue
		}
		e := EnvVar{Name: f.env, Key: key, Doc: v.Type().FieldByIndex(f.index).Tag.Get("help"), Secret: f.secret}
		e.Default = defaultText(plain(fv))
		switch {
		case f.secret && e.Default != "":
			e.Default = "(set)"
		case f.url:
			e.Default = redact.URL(e.Default)
		}
		*out = append(*out, e)
	}
}

func defaultText(x any) string {
	if list, ok := x.([]string); ok {
		return strings.Join(list, ",")
	}
	return fmt.Sprint(x)
}

// WriteEnvTable writes vars as a table of NAME, DEFAULT, YAML KEY and
// DESCRIPTION, the environment section of a service's -help. An unset
// default, or a variable with no key in the file, shows as "-".
func WriteEnvTable(w io.Writer, vars []EnvVar) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tDEFAULT\tYAML KEY\tDESCRIPTION")
	for _, v := range vars {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", v.Name, orDash(v.Default), orDash(v.Key), v.Doc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows without a description would otherwise end in padding.
	for line := range strings.Lines(b.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
