package main

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// access is the sentence each operation's description gains about its rule.
func access(r Rule) string {
	switch r.Kind {
	case "public":
		return "Access: public; a bearer token is optional."
	case "admin":
		return "Access: admin; a bearer token with the admin role."
	case "internal":
		who := "admins"
		if len(r.Services) > 0 {
			who += " and the " + strings.Join(r.Services, ", ") + " service"
		}
		return "Access: internal, for " + who + "; not part of the public API."
	}
	return "Access: authenticated; a customer's or an admin's bearer token."
}

// secure sets op's security as r says: public operations take a token but
// need none; every other needs one. Internal operations are marked
// x-internal, the extension documentation tools hide and a public bundle
// strips.
func secure(op *yaml.Node, r Rule) {
	bearer := mapping("bearerAuth", sequence())
	if r.Kind == "public" {
		set(op, "security", sequence(mapping(), bearer))
	} else {
		set(op, "security", sequence(bearer))
	}
	set(op, "x-slipway-access", str(r.String()))
	if r.Kind == "internal" {
		set(op, "x-internal", boolean(true))
	}
	desc := get(op, "description")
	if desc == nil {
		set(op, "description", str(access(r)))
		return
	}
	desc.Value = strings.TrimRight(desc.Value, "\n") + "\n\n" + access(r)
}

// addErrors declares op's error answers, every one a problem: 400 for
// every operation (protovalidate, malformed bodies and parameters), 401
// and 403 where a token is needed, 404 where a path names a resource, 503
// for every operation (a dependency or the token keys unreachable), and a
// default for the rest (409, 429, 500, 504, ...).
func addErrors(op *yaml.Node, r Rule, namesResource bool) {
	responses := child(op, "responses")
	add := func(status, name string) { set(responses, status, ref("#/components/responses/"+name)) }
	add("400", "BadRequest")
	if r.Kind != "public" {
		add("401", "Unauthorized")
		add("403", "Forbidden")
	}
	if namesResource {
		add("404", "NotFound")
	}
	add("503", "Unavailable")
	add("default", "Problem")
}

// addProblem adds the Problem and FieldViolation schemas and the shared
// error responses (platform/server writes them: Problem, FieldViolation).
func addProblem(components *yaml.Node) {
	schemas := child(components, "schemas")
	set(schemas, "Problem", mapping(
		"type", "object",
		"description", "An error answer: RFC 9457 problem details, served as application/problem+json on every REST error.",
		"properties", mapping(
			"type", mapping("type", "string", "description", "A URI reference naming the problem type; about:blank when the status says it all."),
			"title", mapping("type", "string", "description", "The HTTP status text."),
			"status", mapping("type", "integer", "format", "int32", "minimum", 400, "maximum", 599, "description", "The HTTP status code."),
			"detail", mapping("type", "string", "description", "What went wrong, for a person."),
			"code", mapping("type", "string", "description", "The gRPC status code name (INVALID_ARGUMENT, NOT_FOUND, ...): the same error answers it over every protocol."),
			"request_id", mapping("type", "string", "description", "The request's X-Request-Id."),
			"errors", mapping("type", "array", "description", "The request's invalid fields, one entry each (400).",
				"items", ref("#/components/schemas/FieldViolation")),
		),
		"required", sequence("type", "title", "status", "detail", "code"),
	))
	set(schemas, "FieldViolation", mapping(
		"type", "object",
		"description", "One invalid field of a request.",
		"properties", mapping(
			"field", mapping("type", "string", "description", "The field's path in the request message, e.g. items[0].quantity."),
			"description", mapping("type", "string", "description", "The constraint the field breaks."),
		),
		"required", sequence("field", "description"),
	))
	sortKeys(schemas, strings.Compare)
	problem := func(desc string, headers *yaml.Node) *yaml.Node {
		resp := mapping("description", desc)
		if headers != nil {
			set(resp, "headers", headers)
		}
		set(resp, "content", mapping("application/problem+json", mapping("schema", ref("#/components/schemas/Problem"))))
		return resp
	}
	retryAfter := mapping("Retry-After", mapping("description", "Seconds to wait before retrying, when the server knows.",
		"schema", mapping("type", "integer")))
	responses := child(components, "responses")
	set(responses, "BadRequest", problem("The request is invalid: a field breaks a constraint (errors lists each), the body or a parameter does not parse, or a precondition fails.", nil))
	set(responses, "Unauthorized", problem("No bearer token, or one that does not verify.",
		mapping("WWW-Authenticate", mapping("description", `Bearer realm="slipway"`, "schema", mapping("type", "string")))))
	set(responses, "Forbidden", problem("The token's role, or the calling service, is not allowed by the operation's access rule.", nil))
	set(responses, "NotFound", problem("No such resource, or none the caller may see.", nil))
	set(responses, "Unavailable", problem("A dependency, or the keys that verify tokens, cannot be reached; retry later.", retryAfter))
	set(responses, "Problem", problem("Any other error (409 conflict, 429 too many requests, 500, 504, ...).", retryAfter))
}
